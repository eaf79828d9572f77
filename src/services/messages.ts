/**
 * Accepting a private message (PROTOCOL.md §9): check the JWE's shape and header,
 * then store it if its kid is the owner's *current* encryption key (one D1
 * statement does both). The caller answers 202 only after this resolves, so every
 * acknowledged message is in D1 before anyone is told about it.
 */
import { inspectMessageJwe, JWE_REJECTION_MESSAGES } from "../domain/jwe";
import type { Env } from "../env";
import { ApiError, notClaimed } from "../errors";
import { instanceStub } from "../durable/stub";
import type { Message } from "../schemas/messages";
import { insertMessageForCurrentKey } from "../storage/messageStore";
import { listKeys } from "../storage/ownerStore";

export async function acceptMessage(
  db: D1Database,
  input: { jwe: string; from: string | null; verified: boolean; nowMs: number },
): Promise<Message> {
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
  });
  if (stored) return stored;

  // Refused: say why. Only this failure path pays for a second query.
  const keys = await listKeys(db);
  if (keys.length === 0) throw notClaimed();
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
