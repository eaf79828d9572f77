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
