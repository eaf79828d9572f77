/**
 * The live channel from Node with the `ws` package, as a browser would open it:
 * `new WebSocket(url, ["indie.v1", "bearer.<token>"])`. Frames are collected from
 * the first moment, so the hello sent with the upgrade is never missed.
 */
import WebSocket from "ws";
import { FrameQueue } from "../helpers/messages";

export interface LiveSocket {
  ws: WebSocket;
  frames: FrameQueue;
  /** The subprotocol the server selected. */
  protocol: string;
}

/** The server answered the upgrade with an HTTP status instead of 101. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status} ${body}`);
  }
}

export function socketUrl(serverUrl: string): string {
  return `${serverUrl.replace(/^http/, "ws")}/api/ws`;
}

export function openLiveSocket(
  serverUrl: string,
  accessToken: string | undefined,
  options: { origin?: string; protocols?: string[] } = {},
): Promise<LiveSocket> {
  const protocols = options.protocols ?? ["indie.v1", `bearer.${accessToken}`];
  // After the closing handshake, wait at most 1 s for the server to end the TCP
  // connection (RFC 6455 §7.1.1 lets the client give up "after a reasonable time").
  // wrangler dev keeps it open for several seconds, and ws reports the close, with
  // its code, only once the connection is gone. (ws >= 8.18; not in @types/ws yet.)
  const clientOptions: WebSocket.ClientOptions & { closeTimeout: number } = {
    ...(options.origin ? { origin: options.origin } : {}),
    closeTimeout: 1_000,
  };
  const ws = new WebSocket(socketUrl(serverUrl), protocols, clientOptions);
  const frames = new FrameQueue();
  ws.on("message", (data) => frames.push(data.toString()));
  ws.on("close", (code, reason) => frames.closed(code, reason.toString()));
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws, frames, protocol: ws.protocol }));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
    });
    ws.once("error", reject);
  });
}

/** Resolves with the status of a refused upgrade; fails if the upgrade succeeds. */
export async function refusedUpgrade(
  serverUrl: string,
  accessToken: string | undefined,
  options: { origin?: string; protocols?: string[] } = {},
): Promise<UpgradeRefused> {
  try {
    const socket = await openLiveSocket(serverUrl, accessToken, options);
    socket.ws.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw err;
  }
  throw new Error("the upgrade was accepted");
}

/**
 * Resolves when the server's close frame has arrived (ws then moves to CLOSING).
 * ws reports the code only with its `close` event, after the TCP connection has
 * ended (see closeTimeout above), so timing a close by that event would time the
 * local runtime's connection teardown rather than the server's decision.
 */
export async function closeFrameReceived(socket: LiveSocket, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (socket.ws.readyState < WebSocket.CLOSING) {
    if (Date.now() > deadline) throw new Error(`no close frame within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
