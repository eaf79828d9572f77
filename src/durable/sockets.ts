/**
 * The live channel (docs/api.md §10), hosted by the instance's Durable Object with
 * the WebSocket Hibernation API. The object may be evicted from memory whenever no
 * event is running while its sockets stay open, so nothing here lives in fields
 * that must survive: each socket's state is its attachment (serializeAttachment),
 * sockets are found again with ctx.getWebSockets(<session id tag>), the last pushed
 * message id is in storage, and deadlines are one storage alarm, never a timer
 * (a timer would keep the object awake; the one exception runs only while the
 * alarm itself keeps it awake, see keepDeadlinesDuring). `ping` is answered by the runtime
 * (setWebSocketAutoResponse) without waking the object at all.
 *
 * The Worker authenticates the upgrade before it gets here (routes/live.ts); this
 * module re-checks the session, because a revocation may have committed in between.
 */
import { AccessTokenError, verifyAccessToken } from "../domain/accessToken";
import {
  dueSocketAction,
  earliestDeadlineMs,
  socketDeadlineMs,
  socketExpired,
  type SocketGrant,
} from "../domain/liveChannel";
import type { Env } from "../env";
import type { Clock } from "../lib/clock";
import { loadInstanceKey } from "../lib/instanceKey";
import { clientFrameSchema, SOCKET_CLOSE_REVOKED, SOCKET_CLOSE_TOKEN_EXPIRED, SOCKET_PROTOCOL } from "../schemas/messages";
import { listMessagesAfter } from "../storage/messageStore";
import type { SessionSockets, SessionStore } from "./sessions";
import type { Message, ServerFrame } from "../schemas/messageResponses";

/** Internal header carrying the Worker's verified grant to the object's fetch(). */
const GRANT_HEADER = "x-indienet-socket-grant";
/** In ctx.storage.kv; a restore moves it past the restored messages (./restore.ts). */
export const LAST_PUSHED_KEY = "live:lastPushedMessageId";
const PUSH_PAGE = 100;
/** While the alarm awaits other work, socket deadlines are checked this often. */
const DEADLINE_RECHECK_MS = 1_000;
/** WebSocket.readyState OPEN. */
const OPEN = 1;

/** The request the Worker sends to the object to open a socket for a verified token. */
export function socketUpgradeRequest(grant: Omit<SocketGrant, "warned">): Request {
  return new Request("https://instance.internal/live", {
    headers: { Upgrade: "websocket", [GRANT_HEADER]: JSON.stringify({ ...grant, warned: false }) },
  });
}

function readGrant(request: Request): SocketGrant | null {
  const raw = request.headers.get(GRANT_HEADER);
  if (!raw || request.headers.get("upgrade")?.toLowerCase() !== "websocket") return null;
  const grant = JSON.parse(raw) as SocketGrant;
  return typeof grant.sessionId === "string" && typeof grant.expiresAtMs === "number" && typeof grant.lifetimes === "object"
    ? grant
    : null;
}

function send(ws: WebSocket, frame: ServerFrame): void {
  sendText(ws, JSON.stringify(frame));
}

/** A socket can be closing under us (the peer left mid-push); that is not an error. */
function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // Closed or closing: its close event cleans up.
  }
}

function close(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

/** The end of a socket whose token expired without a re-auth in time (docs/api.md §10). */
function expire(ws: WebSocket): void {
  send(ws, { type: "token_expired" });
  close(ws, SOCKET_CLOSE_TOKEN_EXPIRED, "token expired");
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

export class LiveChannel {
  /** The push run in progress, if any: runs never interleave (see publish). */
  private pushRun: Promise<void> | null = null;
  /** Highest message id the object has been told is stored. */
  private pushWanted = 0;

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
   * the pushes (openSockets), so reviving it would leave it without whatever was
   * stored meanwhile, and the client's next catch-up, after the id of a later push,
   * would skip those messages for good. Closed, the client reconnects and catches up.
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
    for (const ws of this.openSockets(this.clock.nowMs())) sendText(ws, text);
  }

  // --- message push --------------------------------------------------------------------

  /**
   * Pushes every stored message the sockets have not been sent yet, in id order.
   *
   * The Worker calls this after its D1 insert of message `storedId` committed. Two
   * POSTs can commit 6 then 7 yet reach the object as 7 then 6, so the object never
   * pushes what it is handed: it reads from D1 everything after the last id it
   * pushed (persisted, so it survives eviction) and pushes that, in id order. One run
   * at a time: a nudge that arrives during a run only raises `pushWanted`, and the
   * run loops until it has caught up, so two runs never interleave their sends and
   * a burst of POSTs costs a few D1 reads, not one each.
   */
  publish(storedId: number): Promise<void> {
    this.pushWanted = Math.max(this.pushWanted, storedId);
    this.pushRun ??= this.runPushes().finally(() => {
      this.pushRun = null;
    });
    return this.pushRun;
  }

  private async runPushes(): Promise<void> {
    const storage = this.ctx.storage.kv;
    for (;;) {
      const lastPushed = storage.get<number>(LAST_PUSHED_KEY) ?? 0;
      if (this.pushWanted <= lastPushed) return;
      const sockets = this.openSockets(this.clock.nowMs());
      if (sockets.length === 0) {
        // Nobody to push to. Every id up to pushWanted is committed, so a socket that
        // opens later finds these with GET /api/messages?after=, which it reads after
        // its hello; only later messages are its to be pushed.
        storage.put(LAST_PUSHED_KEY, this.pushWanted);
        continue;
      }
      const page = await listMessagesAfter(this.env.DB, lastPushed, PUSH_PAGE);
      if (page.length === 0) {
        // The wanted ids were deleted before we got to them.
        storage.put(LAST_PUSHED_KEY, Math.max(lastPushed, this.pushWanted));
        continue;
      }
      this.pushPage(page);
      storage.put(LAST_PUSHED_KEY, page.at(-1)!.id);
    }
  }

  private pushPage(messages: Message[]): void {
    // Sockets are looked up again after the D1 read: one opened meanwhile gets these too.
    const sockets = this.openSockets(this.clock.nowMs());
    for (const message of messages) {
      const text = JSON.stringify({ type: "message", message } satisfies ServerFrame);
      for (const ws of sockets) sendText(ws, text);
    }
  }

  /**
   * Open sockets whose token is still valid: an expired one gets no messages, even if
   * its alarm is late. That is a gap in what it was pushed, which is why an expired
   * socket can never be re-authenticated (see reauthenticate).
   */
  private openSockets(nowMs: number): WebSocket[] {
    return this.ctx
      .getWebSockets()
      .filter((ws) => ws.readyState === OPEN && !socketExpired(ws.deserializeAttachment() as SocketGrant, nowMs));
  }
}
