/**
 * Pushing stored messages to the live channel's sockets (docs/api.md §9, §10), in id
 * order and only once committed. The sockets it pushes to are ./sockets.ts's
 * openSockets; the channel that accepts them is ./liveChannel.ts.
 */
import type { Clock } from "../lib/clock";
import type { MessageStore } from "./messages";
import { openSockets, sendText } from "./sockets";
import type { Message, ServerFrame } from "../schemas/messageResponses";

/** In ctx.storage.kv; a restore moves it past the restored messages (./restore.ts). */
export const LAST_PUSHED_KEY = "live:lastPushedMessageId";
const PUSH_PAGE = 100;

export class LivePush {
  /** The push run in progress, if any: runs never interleave (see publish). */
  private pushRun: Promise<void> | null = null;
  /** Highest message id the object has been told is stored. */
  private pushWanted = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly messages: MessageStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Pushes every stored message the sockets have not been sent yet, in id order.
   *
   * The object calls this after the transaction that stored message `storedId`
   * committed. It never pushes what it is handed: it reads everything after the last
   * id it pushed (persisted, so it survives eviction) and pushes that, in id order.
   * The run starts after the storing call has answered (a timer's turn), and one
   * runs at a time: a nudge that arrives during a run only raises `pushWanted`, and
   * the run loops until it has caught up, so two runs never interleave their sends
   * and a burst of messages costs a few reads, not one each.
   */
  publish(storedId: number): Promise<void> {
    this.pushWanted = Math.max(this.pushWanted, storedId);
    this.pushRun ??= this.runPushes().finally(() => {
      this.pushRun = null;
    });
    return this.pushRun;
  }

  private async runPushes(): Promise<void> {
    // After the answer: a fan-out to many sockets must not delay the sender's 202.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const storage = this.ctx.storage.kv;
    for (;;) {
      const lastPushed = storage.get<number>(LAST_PUSHED_KEY) ?? 0;
      if (this.pushWanted <= lastPushed) return;
      const sockets = openSockets(this.ctx, this.clock.nowMs());
      if (sockets.length === 0) {
        // Nobody to push to. Every id up to pushWanted is committed, so a socket that
        // opens later finds these with GET /api/messages?after=, which it reads after
        // its hello; only later messages are its to be pushed.
        storage.put(LAST_PUSHED_KEY, this.pushWanted);
        continue;
      }
      const page = this.messages.page({ after: lastPushed }, PUSH_PAGE).messages;
      if (page.length === 0) {
        // The wanted ids were deleted before we got to them.
        storage.put(LAST_PUSHED_KEY, Math.max(lastPushed, this.pushWanted));
        continue;
      }
      this.pushPage(page, sockets);
      storage.put(LAST_PUSHED_KEY, page.at(-1)!.id);
    }
  }

  private pushPage(messages: Message[], sockets: WebSocket[]): void {
    for (const message of messages) {
      const text = JSON.stringify({ type: "message", message } satisfies ServerFrame);
      for (const ws of sockets) sendText(ws, text);
    }
  }
}
