/**
 * Pushing stored messages to the live channel's sockets (docs/api.md §9, §10), in id
 * order and only once committed. The sockets it pushes to are ./sockets.ts's
 * openSockets; the channel that accepts them is ./liveChannel.ts.
 */
import type { Clock } from "../lib/clock";
import type { MessageStore } from "./messages";
import { openSockets, sendText } from "./sockets";
import type { ServerFrame } from "../schemas/messageResponses";

/** In ctx.storage.kv; a restore moves it past the restored messages (./restore.ts). */
export const LAST_PUSHED_KEY = "live:lastPushedMessageId";
const PUSH_PAGE = 100;

export class LivePush {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly messages: MessageStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Pushes every stored message the sockets have not been sent yet, in id order.
   *
   * The object calls this right after the transaction that stored message
   * `storedId` committed, in the same call and without an await, so two pushes never
   * interleave their sends. It never pushes what it is handed: it reads everything
   * after the last id it pushed (persisted, so it survives eviction) and pushes that,
   * in id order. The object's output gate holds the frames until the message is
   * durable, as it holds the sender's answer.
   */
  publish(storedId: number): void {
    const storage = this.ctx.storage.kv;
    const sockets = openSockets(this.ctx, this.clock.nowMs());
    let after = storage.get<number>(LAST_PUSHED_KEY) ?? 0;
    // With nobody to push to, only the mark moves: a socket that opens later finds
    // these with GET /api/messages?after=, which it reads after its hello; only later
    // messages are its to be pushed.
    while (sockets.length > 0) {
      const page = this.messages.page({ after }, PUSH_PAGE).messages;
      if (page.length === 0) break;
      for (const message of page) {
        const text = JSON.stringify({ type: "message", message } satisfies ServerFrame);
        for (const ws of sockets) sendText(ws, text);
      }
      after = page.at(-1)!.id;
      storage.put(LAST_PUSHED_KEY, after);
    }
    storage.put(LAST_PUSHED_KEY, Math.max(after, storedId));
  }
}
