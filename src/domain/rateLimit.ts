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
 * `2001:db8:0:1::/64`. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its IPv4
 * address. Anything else (no address, a value that is not one) is kept as it is.
 */
export function rateLimitAddress(address: string): string {
  const h = parseIpv6(address);
  if (!h) return address;
  if (h[5] === 0xffff && h.slice(0, 5).every((x) => x === 0)) {
    return [h[6]! >> 8, h[6]! & 255, h[7]! >> 8, h[7]! & 255].join(".");
  }
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (`::`, an IPv4 tail, brackets and a zone allowed), or null. */
function parseIpv6(text: string): number[] | null {
  let s = text.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (!s.includes(":")) return null;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    if (Math.max(a, b, c, d) > 255) return null;
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ([...head, ...tail].some(Number.isNaN) || (halves.length === 2 ? missing < 1 : missing !== 0)) return null;
  return [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
}
