/**
 * D1's `messages` table, where private messages were stored before the Durable
 * Object's schema v9 (src/durable/messages.ts). D1 migration 0005 made the table
 * refuse inserts, so that no Worker still running older code can store a message
 * there after the object moved them; src/durable/messagesMove.ts reads the rows
 * through these functions once, and then empties the table.
 */
import type { ArchiveMessage } from "../schemas/archive";

/** Rows read per D1 query while moving: at most 6.4 MiB of JWEs (65,536 characters each). */
export const MOVE_PAGE_ROWS = 100;

/** Up to MOVE_PAGE_ROWS rows with id > `afterId`, in id order. */
export async function readMovedMessages(db: D1Database, afterId: number): Promise<ArchiveMessage[]> {
  // Named as an archive's messages are; `verified` stays SQLite's 0 or 1, which is all
  // the object's insert reads of it (MessageStore.importRows).
  const { results } = await db
    .prepare('SELECT id, received_at_ms AS receivedAt, sender AS "from", jwe, verified = 1 AS verified FROM messages WHERE id > ? ORDER BY id LIMIT ?')
    .bind(afterId, MOVE_PAGE_ROWS)
    .all<ArchiveMessage>();
  return results;
}

/**
 * Before a move: whether migration 0005's trigger guards the table (else older code
 * could still insert after the rows were read), and the highest id D1's
 * AUTOINCREMENT ever handed out for `messages` (a deleted newest message included),
 * so that the object never reuses one: 0 if none, or if sqlite_sequence cannot be
 * read, and then the newest moved id and the live channel's last id stand in (every
 * stored message moved that mark, unless its push was lost).
 */
export async function readMoveStart(db: D1Database): Promise<{ guarded: boolean; sequence: number }> {
  const guarded = (await db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages_moved'").first()) !== null;
  const sequence = await db
    .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
    .first<{ seq: number }>()
    .then((row) => row?.seq ?? 0, () => 0);
  return { guarded, sequence };
}

/** After the object committed every row: D1 keeps no copy. */
export async function emptyMovedMessages(db: D1Database): Promise<void> {
  await db.prepare("DELETE FROM messages").run();
}
