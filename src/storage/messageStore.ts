/**
 * D1: the owner's private messages (PROTOCOL.md §9), ciphertext only. Ids come from
 * SQLite AUTOINCREMENT: D1 runs writes one at a time, so a message's id is larger
 * than every id committed before it and is never reused after a delete. Reading
 * "everything after id N in id order" therefore never skips a committed message,
 * which is what both catch-up (`after=`) and the live push rely on.
 */
import type { Message } from "../schemas/messages";

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
 * owner's current one at the moment of the insert: the check and the write are one
 * statement, so a key rotation can never slip in between them. Returns null (and
 * stores nothing) otherwise. The write is durable when this resolves.
 */
export async function insertMessageForCurrentKey(
  db: D1Database,
  input: { kid: string; jwe: string; from: string | null; verified: boolean; receivedAtMs: number },
): Promise<Message | null> {
  const row = await db
    .prepare(
      `INSERT INTO messages (received_at_ms, sender, jwe, verified)
       SELECT ?, ?, ?, ? WHERE EXISTS (
         SELECT 1 FROM owner_keys WHERE kid = ? AND use = 'enc' AND status = 'current'
       )
       RETURNING id, received_at_ms, sender, jwe, verified`,
    )
    .bind(input.receivedAtMs, input.from, input.jwe, input.verified ? 1 : 0, input.kid)
    .first<MessageRow>();
  return row ? toMessage(row) : null;
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
