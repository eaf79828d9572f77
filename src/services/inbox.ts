/**
 * Receiving a verified federation delivery (PROTOCOL.md §11). The signature was
 * checked by services/federationAuth.ts; here the activity is classified
 * (domain/inboxActivity.ts) and a private message is stored like PROTOCOL.md §9,
 * with `verified: true` and `from` = the signing actor:
 *
 * - an EncryptedMessage's JWE goes through acceptMessage, the same shape and
 *   current-key checks as POST /messages;
 * - a plaintext direct Note is sealed at once to the owner's current encryption
 *   key (jose CompactEncrypt, ECDH-ES+A256KW / A256GCM, kid) and only the
 *   ciphertext is stored. The plaintext lives in this request's memory only.
 */
import { CompactEncrypt, importJWK } from "jose";
import { classifyInboxActivity, type SealedNote } from "../domain/inboxActivity";
import { ApiError, notClaimed } from "../errors";
import { utf8 } from "../lib/bytes";
import type { Message } from "../schemas/messages";
import { currentKeys } from "../storage/ownerStore";
import { SIGNATURE_CHALLENGE } from "./federationAuth";
import { acceptMessage } from "./messages";

export type InboxOutcome = { stored: Message } | { ignored: string };

async function sealNoteToOwner(db: D1Database, note: SealedNote): Promise<string> {
  const keys = await currentKeys(db);
  if (!keys) throw notClaimed();
  const enc = keys.enc as { kid: string } & Record<string, unknown>;
  const alg = "ECDH-ES+A256KW";
  return new CompactEncrypt(utf8(JSON.stringify(note)))
    .setProtectedHeader({ alg, enc: "A256GCM", kid: enc.kid })
    .encrypt(await importJWK(enc, alg));
}

export async function receiveInboxActivity(
  db: D1Database,
  input: { activity: unknown; signer: string; selfActor: string; nowMs: number },
): Promise<InboxOutcome> {
  const action = classifyInboxActivity(input.activity, input.signer, input.selfActor);
  switch (action.kind) {
    case "invalid":
      throw new ApiError("invalid_request", action.message);
    case "wrong_actor":
      throw new ApiError("unauthorized", "The activity's actor is not the actor whose key signed the request.", {
        reason: "activity actor differs from the signer",
        headers: { "WWW-Authenticate": SIGNATURE_CHALLENGE },
      });
    case "ignored":
      return { ignored: action.reason };
    case "encrypted":
      return { stored: await acceptMessage(db, { jwe: action.jwe, from: input.signer, verified: true, nowMs: input.nowMs }) };
    case "note": {
      const jwe = await sealNoteToOwner(db, action.note);
      return { stored: await acceptMessage(db, { jwe, from: input.signer, verified: true, nowMs: input.nowMs }) };
    }
  }
}
