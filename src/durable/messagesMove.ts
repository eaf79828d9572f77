/**
 * The one-time move of an older instance's private messages from D1 into the
 * object's own table (schema v9, ./messages.ts). It runs when the object starts,
 * inside blockConcurrencyWhile, so no request sees the mailbox half moved and no
 * message is stored meanwhile (a new one would take an id that a moved one has).
 *
 *   copy   page by page, each page in one transaction with the id it reached, so a
 *          start cut short continues where it stopped; ids are kept, and
 *          AUTOINCREMENT is moved past D1's, so catch-up cursors and the live
 *          channel's last pushed id stay valid. The last page's transaction marks
 *          the copy done.
 *   empty  D1's rows are deleted, then the move is marked done. Until then every
 *          start tries again (and copies nothing twice).
 *
 * D1 migration 0005 made D1's table refuse inserts before this code could run, so
 * nothing lands there after its rows were read; the move checks that it did, and
 * fails the start otherwise (`npm run deploy` applies D1 migrations before the code
 * goes live). If D1's rows cannot be read, the start fails too (the runtime resets
 * the object and the next request tries again): serving without the old messages
 * would hand out their ids to new ones. New ids start past the largest of D1's
 * AUTOINCREMENT mark (where SQLite lets it be read), the newest moved id and the
 * live channel's last id.
 */
import { emptyMovedMessages, readMoveStart, readMovedMessages } from "../storage/movedMessages";
import { LAST_PUSHED_KEY } from "./livePush";
import type { MessageStore } from "./messages";

/** In ctx.storage.kv: how far the move got. Absent on an object that has not moved yet. */
const MOVE_KEY = "messages:movedFromD1";
type MoveState = { copiedThroughId: number } | "copied" | "done";

export async function moveMessagesFromD1(storage: DurableObjectStorage, db: D1Database, messages: MessageStore): Promise<void> {
  const kv = storage.kv;
  const state = kv.get<MoveState>(MOVE_KEY);
  if (state === "done") return;
  if (state !== "copied") {
    let afterId = state?.copiedThroughId ?? 0;
    const start = await readMoveStart(db);
    if (!start.guarded) throw new Error("D1 migration 0005 is not applied");
    // Past every id D1 handed out, and every id the live channel was told of.
    const sequence = Math.max(start.sequence, kv.get<number>(LAST_PUSHED_KEY) ?? 0);
    for (;;) {
      const rows = await readMovedMessages(db, afterId);
      const last = rows.at(-1)?.id ?? afterId;
      const finished = rows.length === 0;
      storage.transactionSync(() => {
        messages.importRows(rows, finished ? Math.max(sequence, last) : 0);
        kv.put<MoveState>(MOVE_KEY, finished ? "copied" : { copiedThroughId: last });
      });
      if (finished) break;
      afterId = last;
    }
  }
  await emptyMovedMessages(db);
  kv.put<MoveState>(MOVE_KEY, "done");
}
