/**
 * D1's `messages` table, where private messages were stored before the Durable
 * Object's schema v9 (src/durable/messages.ts). D1 migration 0005 made the table
 * refuse inserts, so that no Worker still running older code can store a message
 * there after the object moved them; src/durable/messagesMove.ts reads the rows
 * through these functions once, and then empties the table.
 */
import type { ArchiveMessage } from "../schemas/archive";

/** Rows read per D1 query while moving. */
export const MOVE_PAGE_ROWS = 500;

/** Up to MOVE_PAGE_ROWS rows with id > `afterId`, in id order. */
export async function readMovedMessages(db: D1Database, afterId: number): Promise<ArchiveMessage[]> {
  const { results } = await db
    .prepare("SELECT id, received_at_ms, sender, jwe, verified FROM messages WHERE id > ? ORDER BY id LIMIT ?")
    .bind(afterId, MOVE_PAGE_ROWS)
    .all<{ id: number; received_at_ms: number; sender: string | null; jwe: string; verified: number }>();
  return results.map((r) => ({ id: r.id, receivedAt: r.received_at_ms, from: r.sender, jwe: r.jwe, verified: r.verified === 1 }));
}

/**
 * The highest id D1's AUTOINCREMENT ever handed out for `messages` (a deleted newest
 * message included), so that the object never reuses one; 0 if none, or if
 * sqlite_sequence cannot be read (then the newest moved id stands in).
 */
export async function movedMessageSequence(db: D1Database): Promise<number> {
  try {
    const row = await db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").first<{ seq: number }>();
    return row?.seq ?? 0;
  } catch {
    return 0;
  }
}

/** After the object committed every row: D1 keeps no copy. */
export async function emptyMovedMessages(db: D1Database): Promise<void> {
  await db.prepare("DELETE FROM messages").run();
}
