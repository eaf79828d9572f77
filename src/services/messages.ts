/**
 * Accepting a private message (docs/api.md §9): check the JWE's shape and header,
 * then store it through the instance's object (InstanceDO.acceptMessage) if its kid
 * is the owner's *current* encryption key, checked in the object's transaction
 * against the isolate's labelled copy of the keys (services/ownerKeys.ts). The
 * caller answers 202 only after the object committed it, so every acknowledged
 * message is stored before anyone is told about it.
 */
import { inspectMessageJwe, JWE_REJECTION_MESSAGES } from "../domain/jwe";
import {
  findStoredMessageProblem,
  MESSAGE_QUOTA_RETRY_AFTER_S,
  STORED_MESSAGE_LIMITS,
  type MessageQuota,
} from "../schemas/messageLimits";
import type { Env } from "../env";
import { ApiError, rateLimited } from "../errors";
import { instanceStub } from "../durable/stub";
import type { MessageAccepted, MessageDelivery, MessageStored, RateLimitHit } from "../durable/instance";
import type { MessageInsert } from "../durable/messages";
import { rateLimitRefused } from "../instanceErrors";
import type { PublicKeys } from "../schemas/api";
import { listKeys } from "../storage/ownerStore";
import { withOwnerKeys } from "./ownerKeys";

/**
 * Stores a message built from the owner's current keys (`build`: a JWE checked by
 * checkMessage, or an inbox Note sealed to the current key) in one object call, made
 * again with fresh keys if they changed meanwhile. Throws the 4xx otherwise:
 * 429 (rate limit, or the mailbox is full), 400 (a retired or unknown kid), 404
 * (not claimed), 409 (the keys changed three times during the request).
 * `beforeCall` wraps the work the object does not count (reading the keys, building).
 */
export async function storeMessage(
  env: Env,
  input: {
    build: (keys: PublicKeys) => MessageInsert | Promise<MessageInsert>;
    rateLimit: RateLimitHit | null;
    inboxActivity: MessageDelivery["inboxActivity"];
    nowMs: number;
    beforeCall: <T>(work: () => Promise<T>) => Promise<T>;
  },
): Promise<MessageStored> {
  const stub = instanceStub(env);
  let insert: MessageInsert | undefined;
  const result = await withOwnerKeys(
    env,
    input.nowMs,
    input.beforeCall,
    async (keys) => {
      insert = await input.beforeCall(async () => await input.build(keys.keys));
      return await stub.acceptMessage({
        rateLimit: input.rateLimit,
        keysEpoch: keys.epoch,
        currentEncKid: keys.keys.enc.kid,
        insert,
        inboxActivity: input.inboxActivity,
      });
    },
  );
  if (result.ok) return result;
  throw await messageRefusal(env.DB, insert!, result);
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

/** Why the object stored nothing: only the retired-or-unknown kid reads D1 (failure path only). */
async function messageRefusal(db: D1Database, insert: MessageInsert, result: Exclude<MessageAccepted, { ok: true } | { error: "keys_changed" }>): Promise<ApiError> {
  if (result.error === "rate_limited") return rateLimitRefused(result);
  if (result.error === "mailbox_full") {
    // 429, not 403: the mailbox empties when the owner deletes messages, and senders
    // (fediverse servers included) retry a 429 later instead of dropping the message.
    return rateLimited(MESSAGE_QUOTA_RETRY_AFTER_S, "The owner's mailbox is full; try again later.");
  }
  const keys = await listKeys(db);
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
