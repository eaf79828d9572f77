/**
 * D1: the owner's private messages (docs/api.md §9), ciphertext only. Ids come from
 * SQLite AUTOINCREMENT: D1 runs writes one at a time, so a message's id is larger
 * than every id committed before it and is never reused after a delete. Reading
 * "everything after id N in id order" therefore never skips a committed message,
 * which is what both catch-up (`after=`) and the live push rely on.
 */
import { MESSAGE_QUOTA_DEFAULTS, type MessageQuota } from "../schemas/messageLimits";
import type { Message } from "../schemas/messageResponses";

interface MessageRow {
  id: number;
  received_at_ms: number;
  sender: string | null;
  jwe: string;
  verified: number;
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    receivedAt: row.received_at_ms,
    from: row.sender,
    jwe: row.jwe,
    verified: row.verified === 1,
  };
}

/**
 * Stores a message sealed to encryption key `kid`, if and only if that key is the
 * owner's current one at the moment of the insert and the messages of its kind
 * (verified or not) are under `quota` (MESSAGE_QUOTA_DEFAULTS when not given): the
 * checks and the write are one statement, so neither a key rotation nor a burst of
 * parallel senders can slip in between them (D1 runs statements one at a time).
 * Returns null (and stores nothing) otherwise. The write is durable when this resolves.
 * The quota's sums read the (verified, length(jwe)) index (migrations/0004).
 */
export type MessageInsert = { kid: string; jwe: string; from: string | null; verified: boolean; receivedAtMs: number; quota?: MessageQuota };

export async function insertMessageForCurrentKey(
  db: D1Database,
  input: MessageInsert,
): Promise<Message | null> {
  const quota = input.quota ?? MESSAGE_QUOTA_DEFAULTS;
  const row = await db
    .prepare(
      `INSERT INTO messages (received_at_ms, sender, jwe, verified)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (
         SELECT 1 FROM owner_keys WHERE kid = ?5 AND use = 'enc' AND status = 'current'
       ) AND (
         SELECT COUNT(*) < ?6 AND COALESCE(SUM(length(jwe)), 0) + length(?3) <= ?7 FROM messages WHERE verified = ?4
       )
       RETURNING id, received_at_ms, sender, jwe, verified`,
    )
    .bind(input.receivedAtMs, input.from, input.jwe, input.verified ? 1 : 0, input.kid, quota.count, quota.bytes)
    .first<MessageRow>();
  return row ? toMessage(row) : null;
}

/** How many messages of each kind are stored, and the sum of their JWEs' lengths. */
export async function readMessageUsage(db: D1Database): Promise<Record<"unverified" | "verified", { count: number; bytes: number }>> {
  const { results } = await db
    .prepare("SELECT verified, COUNT(*) AS count, COALESCE(SUM(length(jwe)), 0) AS bytes FROM messages GROUP BY verified")
    .all<{ verified: number; count: number; bytes: number }>();
  const usage = { unverified: { count: 0, bytes: 0 }, verified: { count: 0, bytes: 0 } };
  for (const r of results) usage[r.verified === 1 ? "verified" : "unverified"] = { count: r.count, bytes: r.bytes };
  return usage;
}

/** Messages with id > `afterId`, oldest first, at most `limit`. */
export async function listMessagesAfter(db: D1Database, afterId: number, limit: number): Promise<Message[]> {
  const { results } = await db
    .prepare(
      "SELECT id, received_at_ms, sender, jwe, verified FROM messages WHERE id > ? ORDER BY id ASC LIMIT ?",
    )
    .bind(afterId, limit)
    .all<MessageRow>();
  return results.map(toMessage);
}

/** One page for GET /api/messages: `next` is the cursor for the following page, or null at the end. */
export async function pageMessages(
  db: D1Database,
  afterId: number,
  limit: number,
): Promise<{ messages: Message[]; next: number | null }> {
  // One row more than asked tells whether another page exists without a COUNT.
  const rows = await listMessagesAfter(db, afterId, limit + 1);
  const messages = rows.slice(0, limit);
  return { messages, next: rows.length > limit ? messages.at(-1)!.id : null };
}

/** Messages with id < `beforeId`, newest first, at most `limit`. */
export async function listMessagesBefore(db: D1Database, beforeId: number, limit: number): Promise<Message[]> {
  const { results } = await db
    .prepare(
      "SELECT id, received_at_ms, sender, jwe, verified FROM messages WHERE id < ? ORDER BY id DESC LIMIT ?",
    )
    .bind(beforeId, limit)
    .all<MessageRow>();
  return results.map(toMessage);
}

/** One newest-first page for GET /api/messages?before=: `next` is the `before` of the older page, or null. */
export async function pageMessagesBefore(
  db: D1Database,
  beforeId: number,
  limit: number,
): Promise<{ messages: Message[]; next: number | null }> {
  const rows = await listMessagesBefore(db, beforeId, limit + 1);
  const messages = rows.slice(0, limit);
  return { messages, next: rows.length > limit ? messages.at(-1)!.id : null };
}

/** False if there was no such message. */
export async function deleteMessage(db: D1Database, id: number): Promise<boolean> {
  const { meta } = await db.prepare("DELETE FROM messages WHERE id = ?").bind(id).run();
  return meta.changes > 0;
}
