/**
 * Pure rules of the live channel (docs/api.md §10): reading the subprotocol offer,
 * and when a socket's token is due a warning or has expired. The Durable Object
 * (durable/liveChannel.ts) applies them; time is always passed in.
 */
import { SOCKET_BEARER_PREFIX, SOCKET_PROTOCOL } from "../schemas/messages";
import type { SessionLifetimes } from "./rotation";

/** token_expiring goes out this long before the socket's access token expires. */
export const TOKEN_EXPIRY_WARNING_MS = 60_000;

export interface SocketOffer {
  /** Whether the client offered `indie.v1`. */
  speaksProtocol: boolean;
  /** The access token from `bearer.<token>`, or null if none (or more than one) was offered. */
  accessToken: string | null;
}

/**
 * Reads `Sec-WebSocket-Protocol: indie.v1, bearer.<token>`. Browsers cannot set an
 * Authorization header on a WebSocket, so the token rides in the one header they let
 * a page choose; the server only ever *selects* `indie.v1`, so the token is not
 * echoed back. Two bearer entries are ambiguous and count as none.
 */
export function readSocketOffer(header: string | null | undefined): SocketOffer {
  const entries = (header ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const bearers = entries.filter((s) => s.startsWith(SOCKET_BEARER_PREFIX)).map((s) => s.slice(SOCKET_BEARER_PREFIX.length));
  const token = bearers.length === 1 ? bearers[0]! : null;
  return {
    speaksProtocol: entries.includes(SOCKET_PROTOCOL),
    accessToken: token !== null && /^[A-Za-z0-9_.-]+$/.test(token) ? token : null,
  };
}

/** What the Durable Object remembers about one socket (its WebSocket attachment). */
export interface SocketGrant {
  sessionId: string;
  /** When the access token the socket was opened or last re-authed with expires. */
  expiresAtMs: number;
  /** Whether token_expiring has been sent for this expiresAtMs. */
  warned: boolean;
  /** The ORIGIN access tokens are issued for (their iss and aud), to verify re-auth tokens. */
  issuer: string;
  /** The page's Origin header at the upgrade, if any (the Worker already checked it). */
  origin: string | null;
  /** The session lifetimes of the Worker's settings, which the object checks the session against. */
  lifetimes: SessionLifetimes;
}

export type SocketDue = "expire" | "warn" | null;

/** The next moment the socket needs attention: its warning, or, once warned, its expiry. */
export function socketDeadlineMs(grant: Pick<SocketGrant, "expiresAtMs" | "warned">): number {
  return grant.warned ? grant.expiresAtMs : grant.expiresAtMs - TOKEN_EXPIRY_WARNING_MS;
}

/**
 * Whether the socket's authorisation has lapsed at `nowMs`. Final: from then on the
 * socket gets no pushes (so it may have missed messages) and no re-auth can revive
 * it; it is told token_expired and closed 4401, and the client catches up with
 * after= on its next connection.
 */
export function socketExpired(grant: Pick<SocketGrant, "expiresAtMs">, nowMs: number): boolean {
  return nowMs >= grant.expiresAtMs;
}

/**
 * What is due at `nowMs`. An expired token wins over a pending warning, so an alarm
 * that runs late (or a token shorter than the warning lead) never warns about a
 * token that is already dead.
 */
export function dueSocketAction(grant: Pick<SocketGrant, "expiresAtMs" | "warned">, nowMs: number): SocketDue {
  if (socketExpired(grant, nowMs)) return "expire";
  if (!grant.warned && nowMs >= grant.expiresAtMs - TOKEN_EXPIRY_WARNING_MS) return "warn";
  return null;
}

/** The earliest deadline among sockets, or null if there is none. */
export function earliestDeadlineMs(grants: Iterable<Pick<SocketGrant, "expiresAtMs" | "warned">>): number | null {
  let earliest: number | null = null;
  for (const grant of grants) {
    const deadline = socketDeadlineMs(grant);
    if (earliest === null || deadline < earliest) earliest = deadline;
  }
  return earliest;
}
