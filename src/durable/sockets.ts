/**
 * The live channel's socket primitives (docs/api.md §10): the grant the Worker hands
 * the object with an upgrade, sending and closing without tripping over a socket
 * that is going away, the sockets still entitled to pushes, and closing a revoked
 * session's sockets. The channel itself (accepting, re-auth, deadlines) is
 * ./liveChannel.ts; pushing stored messages is ./livePush.ts.
 */
import { socketExpired, type SocketGrant } from "../domain/liveChannel";
import { SOCKET_CLOSE_REVOKED, SOCKET_CLOSE_TOKEN_EXPIRED } from "../schemas/messages";
import type { SessionSockets } from "./sessions";
import type { ServerFrame } from "../schemas/messageResponses";

/** Internal header carrying the Worker's verified grant to the object's fetch(). */
const GRANT_HEADER = "x-indienet-socket-grant";
/** WebSocket.readyState OPEN. */
export const OPEN = 1;

/** The request the Worker sends to the object to open a socket for a verified token. */
export function socketUpgradeRequest(grant: Omit<SocketGrant, "warned">): Request {
  return new Request("https://instance.internal/live", {
    headers: { Upgrade: "websocket", [GRANT_HEADER]: JSON.stringify({ ...grant, warned: false }) },
  });
}

/** The grant socketUpgradeRequest carried, or null if this is no upgrade from the Worker. */
export function readGrant(request: Request): SocketGrant | null {
  const raw = request.headers.get(GRANT_HEADER);
  if (!raw || request.headers.get("upgrade")?.toLowerCase() !== "websocket") return null;
  const grant = JSON.parse(raw) as SocketGrant;
  return typeof grant.sessionId === "string" && typeof grant.expiresAtMs === "number" && typeof grant.lifetimes === "object"
    ? grant
    : null;
}

export function send(ws: WebSocket, frame: ServerFrame): void {
  sendText(ws, JSON.stringify(frame));
}

/** A socket can be closing under us (the peer left mid-push); that is not an error. */
export function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // Closed or closing: its close event cleans up.
  }
}

export function close(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

/** The end of a socket whose token expired without a re-auth in time (docs/api.md §10). */
export function expire(ws: WebSocket): void {
  send(ws, { type: "token_expired" });
  close(ws, SOCKET_CLOSE_TOKEN_EXPIRED, "token expired");
}

/**
 * Open sockets whose token is still valid: an expired one gets no messages, even if
 * its alarm is late. That is a gap in what it was pushed, which is why an expired
 * socket can never be re-authenticated (LiveChannel's reauthenticate).
 */
export function openSockets(ctx: DurableObjectState, nowMs: number): WebSocket[] {
  return ctx
    .getWebSockets()
    .filter((ws) => ws.readyState === OPEN && !socketExpired(ws.deserializeAttachment() as SocketGrant, nowMs));
}

/**
 * Closing a revoked session's sockets: what SessionStore calls once a revocation has
 * committed. Needs nothing but the object's socket list, so the session store can
 * have it without depending on the live channel (which depends on the store).
 */
export class RevokedSockets implements SessionSockets {
  constructor(private readonly ctx: DurableObjectState) {}

  /** Every socket of these sessions goes, now. */
  closeSessions(sessionIds: Iterable<string>): void {
    for (const sessionId of sessionIds) {
      for (const ws of this.ctx.getWebSockets(sessionId)) {
        send(ws, { type: "revoked" });
        close(ws, SOCKET_CLOSE_REVOKED, "session revoked");
      }
    }
  }
}
