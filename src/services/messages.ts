/**
 * Accepting a private message (docs/api.md §9): check the JWE's shape and header,
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
import { insertMessageForCurrentKey, readMessageUsage, type MessageInsert } from "../storage/messageStore";
import { listKeys } from "../storage/ownerStore";
import type { Message } from "../schemas/messageResponses";

export async function acceptMessage(
  db: D1Database,
  input: { jwe: string; from: string | null; verified: boolean; nowMs: number; quota?: MessageQuota },
): Promise<Message> {
  const insert = checkMessage(input);
  // D1, not the KV-cached JWKS: right after a rotation the cache may still list the
  // old key as current, and a message sealed to a retired key must be refused.
  const stored = await insertMessageForCurrentKey(db, insert);
  if (stored) return stored;
  throw await messageRefusal(db, insert);
}

/**
 * The stateless half of accepting a message: the limits every stored message keeps,
 * whichever door it came in by (src/schemas/messageLimits.ts), and the JWE's shape
 * and header. Returns the insert to run; throws the 4xx otherwise.
 */
export function checkMessage(input: { jwe: string; from: string | null; verified: boolean; nowMs: number; quota?: MessageQuota }): MessageInsert {
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
  return { kid: inspection.header.kid, jwe: input.jwe, from: input.from, verified: input.verified, receivedAtMs: input.nowMs, quota: input.quota };
}

/** Why the insert stored nothing: only this failure path pays for more queries. */
export async function messageRefusal(db: D1Database, insert: MessageInsert): Promise<ApiError> {
  const [keys, usage] = await Promise.all([listKeys(db), readMessageUsage(db)]);
  if (keys.length === 0) return notClaimed();
  const quota = insert.quota ?? MESSAGE_QUOTA_DEFAULTS;
  if (!fitsMessageQuota(usage[insert.verified ? "verified" : "unverified"], insert.jwe.length, quota)) {
    // 429, not 403: the mailbox empties when the owner deletes messages, and senders
    // (fediverse servers included) retry a 429 later instead of dropping the message.
    return rateLimited(MESSAGE_QUOTA_RETRY_AFTER_S, "The owner's mailbox is full; try again later.");
  }
  if (keys.some((k) => k.kid === insert.kid && k.use === "enc")) {
    return new ApiError(
      "invalid_request",
      'The JWE is sealed to a retired key; use the JWKS key with "use": "enc" and no "status": "retired".',
      { reason: "retired kid" },
    );
  }
  return new ApiError("invalid_request", "The JWE's kid is not the owner's encryption key; fetch the JWKS again.", {
    reason: "unknown kid",
  });
}

/**
 * After a message is stored: tell the live channel (the Durable Object reads D1
 * after its last pushed id and pushes). The push runs after the answer, and its
 * failure must not turn an accepted message into an error (the sender would retry
 * and the owner would get it twice); a socket that missed it catches up with
 * GET /api/messages?after=. POST /inbox uses it; POST /messages has the object
 * push in the same call that stores (InstanceDO.acceptPublicMessage).
 */
export function pushStoredMessage(env: Env, waitUntil: (p: Promise<unknown>) => void, messageId: number): void {
  waitUntil(
    instanceStub(env)
      .publishMessages(messageId)
      .catch((err: unknown) => console.error(JSON.stringify({ event: "message_push_failed", id: messageId, error: String(err) }))),
  );
}
