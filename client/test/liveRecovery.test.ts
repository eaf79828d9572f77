// The live channel hands §13's recovery_requested frame to onRecoveryRequested, and
// ignores a malformed one, without disturbing message delivery.
import { describe, expect, it } from "vitest";
import { createLiveChannel } from "../live";
import type { Session } from "../session";

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static last: FakeSocket | null = null;
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.last = this;
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.();
    }, 0);
  }
  send() {}
  close() {
    this.readyState = 3;
  }
}

const session = {
  origin: "https://id.example.test",
  accessToken: async () => "token",
  fetch: async () => Response.json({ messages: [], next: null }),
  refresh: async () => true,
  on: () => () => {},
} as unknown as Session;

describe("live channel: recovery_requested", () => {
  it("reports readyAt, and ignores a frame without a numeric readyAt", async () => {
    const seen: number[] = [];
    const statuses: string[] = [];
    const channel = createLiveChannel({
      session,
      onMessage: () => {},
      onStatus: (s) => statuses.push(s),
      onRecoveryRequested: (readyAt) => seen.push(readyAt),
      WebSocket: FakeSocket as unknown as typeof WebSocket,
    });
    channel.start();
    await expect.poll(() => statuses.at(-1)).toBe("live");
    const ws = FakeSocket.last!;
    ws.onmessage!({ data: JSON.stringify({ type: "recovery_requested", readyAt: 1_800_000_000_000 }) });
    ws.onmessage!({ data: JSON.stringify({ type: "recovery_requested", readyAt: "soon" }) });
    ws.onmessage!({ data: JSON.stringify({ type: "recovery_requested" }) });
    expect(seen).toEqual([1_800_000_000_000]);
    expect(channel.status()).toBe("live");
    channel.stop();
  });
});
