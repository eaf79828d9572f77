/**
 * Receiving a verified federation delivery (docs/api.md §11). The signature was
 * checked by services/federationAuth.ts; here the activity is classified
 * (domain/inboxActivity.ts), the delivery is checked against replays
 * (domain/inboxReplay.ts, stored by the instance object), and a private message
 * is stored like docs/api.md §9, with `verified: true` and `from` = the signing
 * actor:
 *
 * - an EncryptedMessage's JWE goes through checkMessage and storeMessage, the same
 *   shape and current-key checks as POST /messages;
 * - a plaintext direct Note is sealed at once to the owner's current encryption
 *   key (jose CompactEncrypt, ECDH-ES+A256KW / A256GCM, kid) and only the
 *   ciphertext is stored. The plaintext lives in this request's memory only.
 *
 * A signed request is processed at most once: a replay of it is refused (401),
 * and a redelivery of an activity already stored, under a new signature, is
 * answered like the first delivery without storing it again.
 */
import { CompactEncrypt, importJWK } from "jose";
import { STORED_MESSAGE_LIMITS, type MessageQuota } from "../schemas/messageLimits";
import { classifyInboxActivity, type InboxAction, type SealedNote } from "../domain/inboxActivity";
import { activityReplayPreimage, signatureReplayExpiry, signatureReplayPreimage } from "../domain/inboxReplay";
import { instanceStub } from "../durable/stub";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { inboxActivityInProgress } from "../instanceErrors";
import { sha256Base64url, utf8 } from "../lib/bytes";
import { SIGNATURE_CHALLENGE, unauthorized } from "./federationAuth";
import { checkMessage, storeMessage } from "./messages";
import type { PublicKeys } from "../schemas/api";
import type { MessageStored } from "../durable/instance";

export type InboxOutcome =
  | { stored: MessageStored }
  | { ignored: string }
  /** A redelivery of an activity already stored: `messageId` is the first delivery's. */
  | { duplicate: { messageId: number | null } };

async function sealNoteToOwner(keys: PublicKeys, note: SealedNote): Promise<string> {
  const enc = keys.enc as { kid: string } & Record<string, unknown>;
  const alg = "ECDH-ES+A256KW";
  return new CompactEncrypt(utf8(JSON.stringify(note)))
    .setProtectedHeader({ alg, enc: "A256GCM", kid: enc.kid })
    .encrypt(await importJWK(enc, alg));
}

export async function receiveInboxActivity(
  env: Env,
  input: {
    activity: unknown;
    signer: string;
    /** What the verified signature covered, and when it was made (a VerifiedRequest). */
    signature: { signatureBase: string; signedAtMs: number };
    selfActor: string;
    nowMs: number;
    /** The verified-message quota (settings); MESSAGE_QUOTA_DEFAULTS when absent. */
    quota?: MessageQuota;
  },
): Promise<InboxOutcome> {
  const action = classifyInboxActivity(input.activity, input.signer, input.selfActor);
  // Refused before anything is recorded: nothing is processed, so a replay of such
  // a request is refused the same way.
  if (action.kind === "invalid") throw new ApiError("invalid_request", action.message);
  if (action.kind === "wrong_actor") {
    throw new ApiError("unauthorized", "The activity's actor is not the actor whose key signed the request.", {
      reason: "activity actor differs from the signer",
      headers: { "WWW-Authenticate": SIGNATURE_CHALLENGE },
    });
  }

  const activityHash =
    action.kind !== "ignored" && action.activityId !== null
      ? await sha256Base64url(activityReplayPreimage(input.signer, action.activityId))
      : null;
  // Replay records live in the instance object (its SQLite, one transaction per claim).
  const stub = instanceStub(env);
  const claimed = await stub.claimInboxDelivery({
    signatureHash: await sha256Base64url(signatureReplayPreimage(input.signer, input.signature.signatureBase)),
    signatureExpiresAtMs: signatureReplayExpiry(input.signature.signedAtMs),
    activityHash,
  });
  switch (claimed.kind) {
    case "replayed":
      throw unauthorized("replayed");
    case "duplicate":
      return { duplicate: { messageId: claimed.messageId } };
    case "in_progress":
      throw inboxActivityInProgress(claimed.retryAfterMs);
  }
  if (action.kind === "ignored") return { ignored: action.reason };

  const lease = activityHash !== null && claimed.claim !== null ? { hash: activityHash, claim: claimed.claim } : null;
  try {
    // The object marks the activity done in the transaction that stores the message,
    // or finds it done by a retry that took over a lapsed lease: then nothing is stored.
    const stored = await storeInboxMessage(env, action, lease?.hash ?? null, input);
    return stored.duplicate ? { duplicate: { messageId: stored.id } } : { stored };
  } catch (err) {
    // Nothing was stored (a retired kid, not claimed, the object unreachable): free
    // the activity id, so that the sender's retry is processed rather than taken for
    // a duplicate. If even this fails, the lease runs out and a retry is processed.
    if (lease) await stub.releaseInboxActivity(lease.hash, lease.claim).catch(logReleaseFailure);
    throw err;
  }
}

function logReleaseFailure(err: unknown): void {
  console.error(JSON.stringify({ event: "inbox_claim_release_failed", error: String(err) }));
}

async function storeInboxMessage(
  env: Env,
  action: Extract<InboxAction, { kind: "encrypted" | "note" }>,
  activityHash: string | null,
  input: { signer: string; nowMs: number; quota?: MessageQuota },
): Promise<MessageStored> {
  const build = async (keys: PublicKeys) => {
    const jwe = action.kind === "encrypted" ? action.jwe : await sealNoteToOwner(keys, action.note);
    // Sealing grows a Note by about a third: one near the 64 KiB body limit would be
    // stored as a JWE that no restore could take back. Refused, with a sentence that
    // names the note rather than a JWE the sender never saw.
    if (action.kind === "note" && jwe.length > STORED_MESSAGE_LIMITS.jweChars) {
      throw new ApiError(
        "payload_too_large",
        `The note is too long to store: sealed to the owner it would be ${jwe.length} characters, over ${STORED_MESSAGE_LIMITS.jweChars}.`,
        { reason: "sealed note too long" },
      );
    }
    return checkMessage({ jwe, from: input.signer, verified: true, nowMs: input.nowMs, quota: input.quota });
  };
  // The inbox counted its rate-limit hit before the signature was checked.
  return await storeMessage(env, { build, rateLimit: null, inboxActivity: activityHash, nowMs: input.nowMs, beforeCall: (work) => work() });
}
