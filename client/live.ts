/**
 * The live channel (docs/api.md §10) with the catch-up rule of §9: a message is
 * stored before it is pushed, so whatever a socket missed while it was down is in
 * GET /api/messages?after=<last id seen>. On every (re)connection the channel
 * catches up first and holds pushed frames until it has; each message is delivered
 * once, in id order.
 *
 *  - Reconnects with exponential backoff and jitter (0.5 s doubling to 30 s).
 *  - Re-authenticates the open socket with {"type": "auth"} after every token
 *    refresh, and asks for a refresh when the server says `token_expiring`.
 *  - Close 4401 (token expired without re-auth): refresh and reconnect at once.
 *  - Close 4403 (session revoked): no reconnection; the session goes logged out.
 */
import type * as z from "zod/mini";
import { SOCKET_BEARER_PREFIX, SOCKET_CLOSE_REVOKED, SOCKET_CLOSE_TOKEN_EXPIRED, SOCKET_PROTOCOL } from "../src/schemas/messages";
import { isIndieError } from "./errors";
import { readJson } from "./http";
import type { Session } from "./session";
import { messagesResponseSchema, serverFrameSchema, type Message } from "../src/schemas/messageResponses";

export type LiveStatus = "connecting" | "live" | "offline" | "stopped";

export interface LiveChannelOptions {
  session: Session;
  /** Called once per message, in id order. */
  onMessage: (message: Message) => void;
  onStatus?: (status: LiveStatus) => void;
  /** Resume after this id (0: from the beginning). */
  afterId?: number;
  WebSocket?: typeof WebSocket;
  backoff?: { initialMs: number; maxMs: number };
  /** A recovery was requested (docs/api.md §13): `{"type": "recovery_requested", "readyAt"}`. */
  onRecoveryRequested?: (readyAt: number) => void;
  /** Keep-alive "ping" interval (answered by the server without waking its object). */
  pingIntervalMs?: number;
}

export interface LiveChannel {
  start(): void;
  stop(): void;
  lastId(): number;
  status(): LiveStatus;
}

export function createLiveChannel(options: LiveChannelOptions): LiveChannel {
  const { session } = options;
  const WS = options.WebSocket ?? WebSocket;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const pingMs = options.pingIntervalMs ?? 30_000;
  let lastId = options.afterId ?? 0;
  let socket: WebSocket | null = null;
  let status: LiveStatus = "stopped";
  let attempts = 0;
  let running = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let unsubscribe: (() => void) | null = null;

  const setStatus = (next: LiveStatus) => {
    if (status === next) return;
    status = next;
    options.onStatus?.(next);
  };

  function deliver(message: Message) {
    if (message.id <= lastId) return;
    lastId = message.id;
    options.onMessage(message);
  }

  async function catchUp(): Promise<void> {
    for (;;) {
      const res = await session.fetch(`/api/messages?after=${lastId}&limit=100`);
      const page: z.infer<typeof messagesResponseSchema> = await readJson(res, messagesResponseSchema);
      for (const m of page.messages) deliver(m);
      if (page.next === null || page.messages.length === 0) return;
    }
  }

  function scheduleReconnect(immediately = false) {
    if (!running) return;
    setStatus("offline");
    clearTimeout(reconnectTimer);
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempts);
    const delay = immediately ? 0 : base / 2 + Math.random() * (base / 2);
    attempts++;
    reconnectTimer = setTimeout(() => void connect(), delay);
  }

  async function connect(): Promise<void> {
    if (!running) return;
    setStatus("connecting");
    let token: string;
    try {
      token = await session.accessToken();
    } catch (err) {
      if (isIndieError(err, "logged_out") || isIndieError(err, "session_revoked")) {
        stop();
        return;
      }
      scheduleReconnect();
      return;
    }
    if (!running) return;
    const url = new URL("/api/ws", session.origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WS(url.href, [SOCKET_PROTOCOL, SOCKET_BEARER_PREFIX + token]);
    socket = ws;
    // Frames pushed while catching up wait here, then go out in id order.
    let held: Message[] | null = [];

    ws.onopen = async () => {
      if (socket !== ws) return;
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        if (ws.readyState === WS.OPEN) ws.send("ping");
      }, pingMs);
      try {
        await catchUp();
      } catch (err) {
        if (socket === ws) ws.close(4000, "catch-up failed");
        if (isIndieError(err, "session_revoked") || isIndieError(err, "logged_out")) stop();
        return;
      }
      if (socket !== ws) return;
      const pending = (held ?? []).sort((a, b) => a.id - b.id);
      held = null;
      for (const m of pending) deliver(m);
      attempts = 0;
      setStatus("live");
    };

    ws.onmessage = (event: MessageEvent) => {
      if (socket !== ws || typeof event.data !== "string" || event.data === "pong") return;
      let frame;
      try {
        const raw: unknown = JSON.parse(event.data);
        if (isRecoveryRequested(raw)) {
          options.onRecoveryRequested?.(raw.readyAt);
          return;
        }
        frame = serverFrameSchema.parse(raw);
      } catch {
        return; // A frame this client does not know: ignore it, as §10 allows growth.
      }
      switch (frame.type) {
        case "message":
          if (held) held.push(frame.message);
          else deliver(frame.message);
          break;
        case "token_expiring":
          // The session re-auths every socket after a refresh (see the listener below).
          void session.refresh().catch(() => {});
          break;
        case "revoked":
          sessionEnded();
          break;
        default:
          break;
      }
    };

    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      if (!running) return;
      if (event.code === SOCKET_CLOSE_REVOKED) {
        sessionEnded();
        return;
      }
      if (event.code === SOCKET_CLOSE_TOKEN_EXPIRED) {
        void session
          .refresh()
          .then((ok) => (ok ? scheduleReconnect(true) : stop()))
          .catch(() => scheduleReconnect());
        return;
      }
      scheduleReconnect();
    };
  }

  /**
   * `revoked` / 4403: the session is over. The channel stops, and a refresh lets the
   * server confirm it (401 session_revoked), which moves the session, in every tab,
   * to the logged-out state.
   */
  function sessionEnded() {
    stop();
    void session.refresh().catch(() => {});
  }

  function start() {
    if (running) return;
    running = true;
    unsubscribe = session.on((event) => {
      if (event.type === "token" && socket?.readyState === WS.OPEN) {
        socket.send(JSON.stringify({ type: "auth", accessToken: event.accessToken }));
      } else if (event.type === "logged_out") {
        stop();
      }
    });
    void connect();
  }

  function stop() {
    running = false;
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    unsubscribe?.();
    unsubscribe = null;
    const ws = socket;
    socket = null;
    if (ws && ws.readyState <= WS.OPEN) ws.close(1000, "bye");
    setStatus("stopped");
  }

  return { start, stop, lastId: () => lastId, status: () => status };
}

/** §13's frame, read here so the shared frame schema need not change for it. */
function isRecoveryRequested(raw: unknown): raw is { type: "recovery_requested"; readyAt: number } {
  const f = raw as { type?: unknown; readyAt?: unknown } | null;
  return typeof f === "object" && f !== null && f.type === "recovery_requested" && typeof f.readyAt === "number" && Number.isFinite(f.readyAt);
}
