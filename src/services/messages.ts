/**
 * Accepting a private message (PROTOCOL.md §9): check the JWE's shape and header,
 * then store it if its kid is the owner's *current* encryption key (one D1
 * statement does both). The caller answers 202 only after this resolves, so every
 * acknowledged message is in D1 before anyone is told about it.
 */
import { inspectMessageJwe, JWE_REJECTION_MESSAGES } from "../domain/jwe";
import {
  findStoredMessageProblem,
  fitsMessageQuota,
  MESSAGE_QUOTA_DEFAULTS,
  MESSAGE_QUOTA_RETRY_AFTER_S,
  STORED_MESSAGE_LIMITS,
  type MessageQuota,
} from "../schemas/messageLimits";
import type { Env } from "../env";
import { ApiError, notClaimed, rateLimited } from "../errors";
import { instanceStub } from "../durable/stub";
import type { Message } from "../schemas/messages";
import { insertMessageForCurrentKey, readMessageUsage } from "../storage/messageStore";
import { listKeys } from "../storage/ownerStore";

export async function acceptMessage(
  db: D1Database,
  input: { jwe: string; from: string | null; verified: boolean; nowMs: number; quota?: MessageQuota },
): Promise<Message> {
  // The limits every stored message keeps, whichever door it came in by, so that a
  // restore takes back all the server stored (src/schemas/messageLimits.ts).
  const problem = findStoredMessageProblem(input);
  if (problem === "jwe_too_long") {
    throw new ApiError("payload_too_large", `The JWE is longer than ${STORED_MESSAGE_LIMITS.jweChars} characters.`, { reason: problem });
  }
  if (problem === "from_too_long") {
    throw new ApiError("invalid_request", `from is longer than ${STORED_MESSAGE_LIMITS.fromChars} characters.`, { reason: problem });
  }
  const inspection = inspectMessageJwe(input.jwe);
  if (!inspection.ok) {
    throw new ApiError("invalid_request", JWE_REJECTION_MESSAGES[inspection.reason], { reason: inspection.reason });
  }
  const { kid } = inspection.header;
  // D1, not the KV-cached JWKS: right after a rotation the cache may still list the
  // old key as current, and a message sealed to a retired key must be refused.
  const stored = await insertMessageForCurrentKey(db, {
    kid,
    jwe: input.jwe,
    from: input.from,
    verified: input.verified,
    receivedAtMs: input.nowMs,
    quota: input.quota,
  });
  if (stored) return stored;

  // Refused: say why. Only this failure path pays for more queries.
  const [keys, usage] = await Promise.all([listKeys(db), readMessageUsage(db)]);
  if (keys.length === 0) throw notClaimed();
  const quota = input.quota ?? MESSAGE_QUOTA_DEFAULTS;
  if (!fitsMessageQuota(usage[input.verified ? "verified" : "unverified"], input.jwe.length, quota)) {
    // 429, not 403: the mailbox empties when the owner deletes messages, and senders
    // (fediverse servers included) retry a 429 later instead of dropping the message.
    throw rateLimited(
      MESSAGE_QUOTA_RETRY_AFTER_S,
      "The owner's mailbox is full; try again later.",
    );
  }
  if (keys.some((k) => k.kid === kid && k.use === "enc")) {
    throw new ApiError(
      "invalid_request",
      'The JWE is sealed to a retired key; use the JWKS key with "use": "enc" and no "status": "retired".',
      { reason: "retired kid" },
    );
  }
  throw new ApiError("invalid_request", "The JWE's kid is not the owner's encryption key; fetch the JWKS again.", {
    reason: "unknown kid",
  });
}

/**
 * After a message is stored: tell the live channel (the Durable Object reads D1
 * after its last pushed id and pushes). The push runs after the answer, and its
 * failure must not turn an accepted message into an error (the sender would retry
 * and the owner would get it twice); a socket that missed it catches up with
 * GET /api/messages?after=. Shared by POST /messages and POST /inbox.
 */
export function pushStoredMessage(env: Env, waitUntil: (p: Promise<unknown>) => void, messageId: number): void {
  waitUntil(
    instanceStub(env)
      .publishMessages(messageId)
      .catch((err: unknown) => console.error(JSON.stringify({ event: "message_push_failed", id: messageId, error: String(err) }))),
  );
}
