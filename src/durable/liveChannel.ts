/**
 * The live channel (docs/api.md §10), hosted by the instance's Durable Object with
 * the WebSocket Hibernation API. The object may be evicted from memory whenever no
 * event is running while its sockets stay open, so nothing here lives in fields
 * that must survive: each socket's state is its attachment (serializeAttachment),
 * sockets are found again with ctx.getWebSockets(<session id tag>), and deadlines
 * are one storage alarm, never a timer (a timer would keep the object awake; the one
 * exception runs only while the alarm itself keeps it awake, see keepDeadlinesDuring).
 * `ping` is answered by the runtime (setWebSocketAutoResponse) without waking the
 * object at all. Pushing stored messages to the sockets is ./livePush.ts; the
 * socket primitives both use are ./sockets.ts.
 *
 * The Worker authenticates the upgrade before it gets here (routes/live.ts); this
 * module re-checks the session, because a revocation may have committed in between.
 */
import { AccessTokenError, verifyAccessToken } from "../domain/accessToken";
import { dueSocketAction, earliestDeadlineMs, socketDeadlineMs, socketExpired, type SocketGrant } from "../domain/liveChannel";
import type { Env } from "../env";
import type { Clock } from "../lib/clock";
import { loadInstanceKey } from "../lib/instanceKey";
import { clientFrameSchema, SOCKET_CLOSE_TOKEN_EXPIRED, SOCKET_PROTOCOL } from "../schemas/messages";
import type { SessionStore } from "./sessions";
import { close, expire, OPEN, openSockets, readGrant, send, sendText } from "./sockets";
import type { ServerFrame } from "../schemas/messageResponses";

/** While the alarm awaits other work, socket deadlines are checked this often. */
const DEADLINE_RECHECK_MS = 1_000;

export class LiveChannel {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly clock: Clock,
    private readonly sessions: SessionStore,
  ) {
    // Answered by the runtime itself, so an idle client's keep-alive never wakes us.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // --- opening ---------------------------------------------------------------------

  async accept(request: Request): Promise<Response> {
    const grant = readGrant(request);
    if (!grant) return new Response("expected a socket grant from the Worker", { status: 400 });
    // The Worker checked the session one Durable Object event ago; a revocation may
    // have committed since, and it could not have closed a socket that did not exist.
    if (!this.isSessionActive(grant)) return new Response(null, { status: 401 });

    const { 0: client, 1: server } = new WebSocketPair();
    // The session id tag lets revocation find exactly this session's sockets.
    this.ctx.acceptWebSocket(server, [grant.sessionId]);
    server.serializeAttachment(grant);
    send(server, { type: "hello", sessionId: grant.sessionId, expiresAt: grant.expiresAtMs });
    await this.scheduleNoLaterThan(socketDeadlineMs(grant));
    return new Response(null, {
      status: 101,
      webSocket: client,
      // A browser drops a socket whose server does not select one of its subprotocols.
      headers: { "Sec-WebSocket-Protocol": SOCKET_PROTOCOL },
    });
  }

  // --- client frames -----------------------------------------------------------------

  async onMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    let value: unknown;
    try {
      value = typeof data === "string" ? JSON.parse(data) : undefined;
    } catch {
      value = undefined;
    }
    const frame = clientFrameSchema.safeParse(value);
    if (!frame.success) {
      send(ws, {
        type: "error",
        error: "invalid_request",
        message: 'Frames are JSON text: {"type": "auth", "accessToken"}, or the text "ping".',
      });
      return;
    }
    await this.reauthenticate(ws, frame.data.accessToken);
  }

  /**
   * `{"type": "auth"}`: a fresh access token for the same, still active session moves
   * the socket's expiry, if it comes before that expiry. Anything else ends the socket
   * with 4401: a client that sends a bad token has lost its session or is not who
   * opened it.
   *
   * An `auth` after the expiry is refused even when the alarm has not closed the
   * socket yet (it may be late, or busy): from its expiry on, a socket is skipped by
   * the pushes (openSockets, ./sockets.ts), so reviving it would leave it without
   * whatever was stored meanwhile, and the client's next catch-up, after the id of a
   * later push, would skip those messages for good. Closed, the client reconnects and
   * catches up.
   */
  private async reauthenticate(ws: WebSocket, token: string): Promise<void> {
    const { issuer } = ws.deserializeAttachment() as SocketGrant;
    const refuse = (message: string) => {
      send(ws, { type: "error", error: "unauthorized", message });
      close(ws, SOCKET_CLOSE_TOKEN_EXPIRED, "unauthorized");
    };
    let claims;
    try {
      claims = await verifyAccessToken(token, await loadInstanceKey(this.env.INSTANCE_SIGNING_KEY), issuer, this.clock.nowMs());
    } catch (err) {
      if (!(err instanceof AccessTokenError)) throw err;
      return refuse("The access token is invalid or expired.");
    }
    // Checked after the await, synchronously with the update below: a revocation
    // that landed while we verified has already closed this socket, the token may
    // have expired meanwhile, and another auth frame may have moved the expiry.
    if (ws.readyState !== OPEN) return;
    const grant = ws.deserializeAttachment() as SocketGrant;
    if (socketExpired(grant, this.clock.nowMs())) return expire(ws);
    if (claims.sid !== grant.sessionId) return refuse("The access token belongs to another session.");
    if (!this.isSessionActive(grant)) return refuse("This session has ended; log in again.");

    const next: SocketGrant = { ...grant, expiresAtMs: claims.expS * 1000, warned: false };
    ws.serializeAttachment(next);
    send(ws, { type: "authed", expiresAt: next.expiresAtMs });
    await this.scheduleNoLaterThan(socketDeadlineMs(next));
  }

  onClose(ws: WebSocket): void {
    // Complete the closing handshake. A later alarm may find nothing to do; that
    // costs one wake-up, where rescanning every socket on each close would cost more.
    close(ws, 1000, "closed");
  }

  /**
   * The session check, with the lifetimes the Worker's settings gave the grant: the
   * same policy every Bearer request is checked with (one source: the settings).
   */
  private isSessionActive(grant: SocketGrant): boolean {
    return this.sessions.status(grant.sessionId, grant.lifetimes, this.clock.nowMs()) === "active";
  }

  // --- token deadlines -------------------------------------------------------------------

  /**
   * The alarm: warn sockets whose token is about to expire, close those whose token
   * has. Returns the next deadline among the sockets still open, or null.
   */
  onAlarm(nowMs: number): number | null {
    const remaining: SocketGrant[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== OPEN) continue;
      const grant = ws.deserializeAttachment() as SocketGrant;
      switch (dueSocketAction(grant, nowMs)) {
        case "expire":
          expire(ws);
          break;
        case "warn": {
          const next = { ...grant, warned: true };
          ws.serializeAttachment(next);
          send(ws, { type: "token_expiring", expiresAt: grant.expiresAtMs });
          remaining.push(next);
          break;
        }
        default:
          remaining.push(grant);
      }
    }
    return earliestDeadlineMs(remaining);
  }

  /**
   * Runs `work` (the outbox's deliveries, which await the network for up to tens of
   * seconds) without letting it hold up the sockets' deadlines: the alarm does not
   * end, so no new alarm can run, until the work does. The object is awake for it
   * anyway, so a timer checks the deadlines meanwhile, every DEADLINE_RECHECK_MS
   * rather than at one computed time, which also covers sockets opened or re-authed
   * during the work. The timer ends with the work: it never keeps the object awake
   * by itself.
   */
  async keepDeadlinesDuring<T>(work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => {
      try {
        this.onAlarm(this.clock.nowMs());
      } catch (err) {
        console.error(JSON.stringify({ event: "socket_deadlines_failed", error: String(err) }));
      }
    }, DEADLINE_RECHECK_MS);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * Moves the object's one alarm earlier if `deadlineMs` comes first. It never moves
   * it later: the alarm handler recomputes from every socket. Read-compare-write is
   * safe here because storage calls hold the object's input gate: no other event
   * runs between getAlarm and setAlarm.
   */
  private async scheduleNoLaterThan(deadlineMs: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || deadlineMs < current) await this.ctx.storage.setAlarm(deadlineMs);
  }

  /** One frame to every open socket whose token is still valid (a recovery request, §13). */
  announce(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const ws of openSockets(this.ctx, this.clock.nowMs())) sendText(ws, text);
  }
}
