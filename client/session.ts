/**
 * The owner's session in one tab (docs/api.md §4-5).
 *
 *  - The access token lives only in this closure: never in localStorage,
 *    sessionStorage, IndexedDB or a cookie. A page reload forgets it, and the
 *    refresh cookie (HttpOnly, Path=/auth: no script ever sees it) gets a new one.
 *  - It is refreshed about a minute before it expires, and on demand when a request
 *    finds it expired.
 *  - A refresh is single-flight across every tab of this origin: it runs under a Web
 *    Lock, and the tab that refreshed broadcasts the new token (BroadcastChannel,
 *    same origin only, memory to memory) to the others. A tab that was waiting for
 *    the lock and received a fresh token meanwhile does not refresh again. The lock
 *    can be granted before the broadcast arrives, so the refreshing tab also bumps a
 *    counter in IndexedDB (./refreshCounter.ts: a number, never a token) before it
 *    lets go of the lock, and says the new value in its broadcast. A tab about to
 *    refresh, holding the lock, that reads the counter past the last value it heard
 *    of waits for the broadcast instead (whether it waited for the lock or came after
 *    the other tab had let go of it). Without
 *    this, two tabs would present the same refresh token at once; the server's grace
 *    rule (§5 rule 2) would save them, but each wake-up would still cost a rotation.
 *  - `session_revoked` from any route (the refresh token was replayed somewhere, or
 *    the owner revoked this session on another device) ends the session in every
 *    tab: the state is dropped and listeners hear `logged_out`. A token of a session
 *    the tab saw end, arriving late, is not taken.
 */
import { decodeJwt } from "jose";
import * as z from "zod/mini";
import { IndieError } from "./errors";
import { errorFrom, readJson, send, type FetchLike, type JsonRequest } from "./http";
import { indexedDbRefreshCounter, type RefreshCounter } from "./refreshCounter";
import { loginResponseSchema, refreshResponseSchema } from "../src/schemas/apiResponses";

export interface TokenState {
  accessToken: string;
  sessionId: string;
  /** Local clock, from expiresIn when the token arrived. */
  expiresAtMs: number;
}

export type LogoutReason = "logout" | "revoked" | "expired";

export type SessionEvent =
  | { type: "token"; accessToken: string; sessionId: string; expiresAtMs: number }
  | { type: "logged_out"; reason: LogoutReason };

type TabMessage =
  | { type: "token"; state: TokenState; epoch: number | null }
  | { type: "logged_out"; reason: LogoutReason };

export interface SessionOptions {
  /** The instance's origin; requests go to `${origin}/auth/...` and `${origin}/api/...`. */
  origin: string;
  fetch?: FetchLike;
  /** Web Locks; null to go without (the server's grace rule still covers races). */
  locks?: LockManager | null;
  /** Cross-tab channel; null for none. */
  channel?: BroadcastChannel | null;
  /** The cross-tab refresh counter (IndexedDB by default); null for none. */
  counter?: RefreshCounter | null;
  /** Refresh this long before expiry. Default 60 s. */
  refreshMarginMs?: number;
  /**
   * Give up on a refresh request after this long. It runs while this tab holds the
   * cross-tab lock, so without a bound one stalled request would stall every tab's
   * refresh with it. Default 15 s.
   */
  refreshTimeoutMs?: number;
  now?: () => number;
}

export interface AccessClaims {
  sid: string;
  /** Seconds since the epoch of the last signed-challenge login or step-up. */
  authTimeS: number;
  amr: string[];
  expS: number;
}

export interface Session {
  readonly origin: string;
  isLoggedIn(): boolean;
  sessionId(): string | null;
  /** The claims of the current access token (for step-up decisions), or null. */
  claims(): AccessClaims | null;
  /** Takes the body of a login, setup or reauth response. */
  adopt(body: { accessToken: string; expiresIn: number; sessionId: string }): void;
  /** A valid access token, refreshed first if it is about to expire. */
  accessToken(): Promise<string>;
  /** Rotates the refresh cookie now; false when there is no session to refresh. */
  refresh(): Promise<boolean>;
  /** A Bearer request to `${origin}${path}`; one refresh-and-retry on an expired token. */
  fetch(path: string, request?: JsonRequest): Promise<Response>;
  /**
   * POST /auth/logout; on its 204, the logged-out state everywhere. Any other answer
   * throws (the session is still alive on the server) and changes nothing here.
   */
  logout(): Promise<void>;
  on(listener: (event: SessionEvent) => void): () => void;
  /** Stops timers and the channel (tests, page teardown). */
  dispose(): void;
}

const LOCK_PREFIX = "indienet:refresh:";
const EPOCH_PREFIX = "indienet:refreshed:";
/** How long a tab that saw another tab refresh waits for its broadcast token. */
const BROADCAST_WAIT_MS = 2_000;
const REFRESH_TIMEOUT_MS = 15_000;
/** How long the refresh counter may take to answer before it is treated as absent. */
const COUNTER_TIMEOUT_MS = 2_000;
export const SESSION_CHANNEL = "indienet:session";

export function createSession(options: SessionOptions): Session {
  const origin = new URL(options.origin).origin;
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const locks = options.locks === undefined ? (globalThis.navigator?.locks ?? null) : options.locks;
  const channel =
    options.channel === undefined
      ? typeof BroadcastChannel === "function"
        ? new BroadcastChannel(SESSION_CHANNEL)
        : null
      : options.channel;
  const counter =
    options.counter === undefined
      ? typeof indexedDB === "object"
        ? indexedDbRefreshCounter(EPOCH_PREFIX + origin)
        : null
      : options.counter;
  // IndexedDB refused (storage disabled) or stuck: null, and the server's grace rule
  // covers the race. Bounded, as both run while this tab holds the lock.
  const counted = (op: (c: RefreshCounter) => Promise<number>): Promise<number | null> => {
    if (!counter) return Promise.resolve(null);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), COUNTER_TIMEOUT_MS);
      op(counter).then(
        (value) => (clearTimeout(t), resolve(value)),
        () => (clearTimeout(t), resolve(null)),
      );
    });
  };
  const readEpoch = () => counted((c) => c.read());
  const bumpEpoch = () => counted((c) => c.bump());
  const marginMs = options.refreshMarginMs ?? 60_000;
  const refreshTimeoutMs = options.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS;
  const now = options.now ?? (() => Date.now());

  // The only copy of the access token in this tab.
  let state: TokenState | null = null;
  // The session this tab last saw end (a logout here or in another tab, a revocation):
  // a token of it that arrives afterwards (another tab's refresh answered just before
  // the logout, its broadcast late) is dead on the server and is not taken.
  let endedSessionId: string | null = null;
  // Bumped whenever a new token arrives, from this tab or another.
  let generation = 0;
  let inflight: Promise<boolean> | null = null;
  // The highest cross-tab counter this tab has heard of (its own refreshes, the
  // others' broadcasts, the value when it started): if the counter has moved past
  // it, another tab has refreshed and its broadcast is on the way.
  let seenEpoch = 0;
  const hearEpoch = (epoch: number | null) => {
    if (epoch !== null) seenEpoch = Math.max(seenEpoch, epoch);
  };
  const started = readEpoch().then(hearEpoch);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const listeners = new Set<(event: SessionEvent) => void>();
  // Resolved by the next fresh token that arrives (from any tab).
  let tokenWaiters: Array<() => void> = [];
  const nextToken = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      tokenWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });

  const emit = (event: SessionEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        console.error(err);
      }
    }
  };

  function schedule() {
    clearTimeout(timer);
    if (!state) return;
    const delay = Math.max(5_000, state.expiresAtMs - marginMs - now());
    timer = setTimeout(() => {
      refresh().catch(() => {
        // Offline or a 5xx: try again shortly; accessToken() also retries on demand.
        timer = setTimeout(() => void refresh().catch(() => {}), 15_000);
      });
    }, delay);
  }

  function setState(next: TokenState, fromOtherTab: boolean, epoch: number | null = null) {
    hearEpoch(epoch);
    if (next.sessionId === endedSessionId) return;
    state = next;
    generation++;
    schedule();
    if (!fromOtherTab) channel?.postMessage({ type: "token", state: next, epoch } satisfies TabMessage);
    if (fresh()) wakeWaiters();
    emit({ type: "token", ...next });
  }

  function wakeWaiters() {
    const waiters = tokenWaiters;
    tokenWaiters = [];
    for (const wake of waiters) wake();
  }

  function clear(reason: LogoutReason, fromOtherTab = false) {
    const had = state !== null;
    endedSessionId = state?.sessionId ?? endedSessionId;
    state = null;
    generation++;
    clearTimeout(timer);
    // A tab waiting for another's token stops waiting: there is no session to refresh.
    wakeWaiters();
    if (!fromOtherTab) channel?.postMessage({ type: "logged_out", reason } satisfies TabMessage);
    if (had || !fromOtherTab) emit({ type: "logged_out", reason });
  }

  if (channel) {
    channel.onmessage = (event: MessageEvent<TabMessage>) => {
      const msg = event.data;
      // Broadcasts can arrive late and out of order: never trade a token for an older one.
      if (msg?.type === "token" && typeof msg.state?.accessToken === "string") {
        const epoch = typeof msg.epoch === "number" ? msg.epoch : null;
        if (!state || msg.state.expiresAtMs >= state.expiresAtMs) setState(msg.state, true, epoch);
        else hearEpoch(epoch);
      }
      else if (msg?.type === "logged_out") clear(msg.reason, true);
    };
  }

  const fresh = () => state !== null && state.expiresAtMs - now() > marginMs;

  async function doRefresh(startGeneration: number): Promise<boolean> {
    // Another tab refreshed since this tab's token arrived (while this one waited for
    // the lock, or just before): use its token, even if its broadcast is on the way.
    await started;
    if (generation === startGeneration) {
      const epoch = await readEpoch();
      // Below what this tab heard of: the site's data was cleared; count from here.
      if (epoch !== null && epoch < seenEpoch) seenEpoch = epoch;
      else if (epoch !== null && epoch > seenEpoch && generation === startGeneration) await nextToken(BROADCAST_WAIT_MS);
    }
    if (generation !== startGeneration) {
      if (fresh()) return true;
      // Logged out (here or in another tab) meanwhile: nothing to refresh.
      if (state === null) return false;
    }
    // The timeout covers the answer and its body: the lock is released either way
    // (a network_error), and a refresh the server did carry out meanwhile is covered
    // by its lost-response rule (§5 rule 3) on the next try.
    const signal = AbortSignal.timeout(refreshTimeoutMs);
    const res = await send(fetchFn, `${origin}/auth/refresh`, { method: "POST", credentials: "same-origin", signal });
    if (res.ok) {
      const body = await readJson(res, refreshResponseSchema).catch((err: unknown) => {
        throw signal.aborted ? new IndieError("network_error", "The refresh took too long; try again.", { cause: err }) : err;
      });
      const epoch = await bumpEpoch();
      setState({ accessToken: body.accessToken, sessionId: body.sessionId, expiresAtMs: now() + body.expiresIn * 1000 }, false, epoch);
      // False when the session ended here while the answer was on its way.
      return state !== null;
    }
    const err = await errorFrom(res);
    if (err.code === "session_revoked") {
      clear("revoked");
      return false;
    }
    if (err.code === "unauthorized") {
      // No cookie, or an unknown or expired one: there is no session.
      if (state) clear("expired");
      return false;
    }
    throw err;
  }

  function refresh(): Promise<boolean> {
    if (inflight) return inflight;
    const startGeneration = generation;
    const run = () => doRefresh(startGeneration);
    const flight: Promise<boolean> = (
      locks ? locks.request(LOCK_PREFIX + origin, { mode: "exclusive" }, run).then((ok) => ok) : run()
    ).finally(() => {
      inflight = null;
    });
    inflight = flight;
    return flight;
  }

  async function accessToken(): Promise<string> {
    if (!fresh()) await refresh();
    if (!state) throw new IndieError("logged_out", "You are not logged in.");
    return state.accessToken;
  }

  async function authedFetch(path: string, request: JsonRequest = {}): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const token = await accessToken();
      const res = await send(fetchFn, origin + path, {
        ...request,
        headers: { ...request.headers, authorization: `Bearer ${token}` },
      });
      if (res.status !== 401) return res;
      const err = await errorFrom(res.clone());
      if (err.code === "session_revoked") {
        clear("revoked");
        throw err;
      }
      // An expired or unverifiable token: refresh once and try again (with the token
      // another tab sent meanwhile, if one came: that costs no rotation).
      if (err.code !== "unauthorized" || attempt > 0) return res;
      if (state?.accessToken !== token && fresh()) continue;
      if (state?.accessToken === token) state = { ...state, expiresAtMs: 0 };
      if (!(await refresh())) throw new IndieError("logged_out", "Your session has ended; log in again.");
    }
  }

  return {
    origin,
    isLoggedIn: () => state !== null,
    sessionId: () => state?.sessionId ?? null,
    claims() {
      if (!state) return null;
      const claims = decodeJwt(state.accessToken);
      return {
        sid: String(claims.sid),
        authTimeS: Number(claims.auth_time),
        amr: Array.isArray(claims.amr) ? claims.amr.map(String) : [],
        expS: Number(claims.exp),
      };
    },
    adopt(body) {
      const parsed = z.omit(loginResponseSchema, { tokenType: true }).parse(body);
      setState({ accessToken: parsed.accessToken, sessionId: parsed.sessionId, expiresAtMs: now() + parsed.expiresIn * 1000 }, false);
    },
    accessToken,
    refresh,
    fetch: authedFetch,
    async logout() {
      // Only a 204 means the server ended the session. Anything else (a 429, a 5xx,
      // no answer) leaves the refresh cookie working, so the state is kept and the
      // caller hears why: clearing it would claim a logout that did not happen.
      const res = await send(fetchFn, `${origin}/auth/logout`, { method: "POST", credentials: "same-origin" });
      if (res.status !== 204) {
        if (res.ok) {
          await res.body?.cancel();
          throw new IndieError("bad_response", `Logging out answered HTTP ${res.status} instead of 204.`, { status: res.status });
        }
        throw await errorFrom(res);
      }
      clear("logout");
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    dispose() {
      clearTimeout(timer);
      listeners.clear();
      channel?.close();
    },
  };
}
