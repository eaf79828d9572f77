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
 * Before a move, in one D1 transaction: whether migration 0005's trigger guards the
 * table (else older code could still insert after the rows were read), and the
 * highest id D1's AUTOINCREMENT ever handed out for `messages` (a deleted newest
 * message included), so that the object never reuses one (0 if none).
 */
export async function readMoveStart(db: D1Database): Promise<{ guarded: boolean; sequence: number }> {
  const [trigger, sequence] = await db.batch<{ seq?: number }>([
    db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages_moved'"),
    db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"),
  ]);
  return { guarded: trigger!.results.length > 0, sequence: sequence!.results[0]?.seq ?? 0 };
}

/** After the object committed every row: D1 keeps no copy. */
export async function emptyMovedMessages(db: D1Database): Promise<void> {
  await db.prepare("DELETE FROM messages").run();
}
