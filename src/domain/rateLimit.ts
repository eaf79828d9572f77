/**
 * The fixed-window rate limit: `limit` hits per `windowMs` for one key. Pure; the
 * Durable Object stores the window (durable/rateLimits.ts) and applies the decision
 * in the same transaction as the read, which is what makes it exact.
 */

/** One key's current window, as stored. */
export interface RateWindow {
  windowEndsAtMs: number;
  count: number;
}

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

export type RateLimitDecision =
  /** No live window: this hit opens one that ends at `windowEndsAtMs`, with a count of 1. */
  | { kind: "open"; windowEndsAtMs: number }
  /** Counted in the live window. */
  | { kind: "count" }
  /** The live window is spent: refused until it ends. */
  | { kind: "refuse"; retryAfterS: number };

/**
 * One hit against `current` at `nowMs`. A window ends exactly at its end time (a hit
 * then opens the next one); a refusal says how many whole seconds are left, rounded up.
 */
export function decideRateLimitHit(current: RateWindow | null, rule: RateLimitRule, nowMs: number): RateLimitDecision {
  if (!current || current.windowEndsAtMs <= nowMs) return { kind: "open", windowEndsAtMs: nowMs + rule.windowMs };
  if (current.count >= rule.limit) return { kind: "refuse", retryAfterS: Math.ceil((current.windowEndsAtMs - nowMs) / 1000) };
  return { kind: "count" };
}

/**
 * What a client address's counters are keyed by (docs/api.md §0): an IPv4 address
 * as it is; an IPv6 address by its /64, since one subscriber usually holds a whole
 * /64 and could otherwise take a fresh budget with each of its 2^64 addresses, e.g.
 * `2001:db8:0:1::/64`, however it is written (`::`, leading zeros, case, an IPv4
 * tail). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its IPv4 address.
 * Anything else (no address, a value that is not one) is kept as it is.
 *
 * The URL parser reads the address (WHATWG URL's IPv6 parser: a bad one throws) and
 * writes it canonically: lowercase, no leading zeros, the longest run of zero
 * groups as `::`, an IPv4 tail as two groups.
 */
export function rateLimitAddress(address: string): string {
  // Not IPv6 (an IPv4 address, or nothing): as it is, without the URL parser's throw.
  if (!address.includes(":")) return address;
  let ip: string;
  try {
    ip = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
  const mapped = /^::ffff:(\w+):(\w+)$/.exec(ip);
  if (mapped) return mapped.slice(1).flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]).join(".");
  const [head, tail] = ip.split("::").map((part) => (part ? part.split(":") : []));
  const groups = tail ? [...head!, ...Array<string>(8 - head!.length - tail.length).fill("0"), ...tail] : head!;
  return `${groups.slice(0, 4).join(":")}::/64`;
}
