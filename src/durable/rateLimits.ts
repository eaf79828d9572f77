/**
 * Rate-limit counters (table `rate_limits`) in the instance object's SQLite. The
 * rule is domain/rateLimit.ts; this applies it to a key's stored window in one
 * statement (a refusal reads the window again for its Retry-After). Exact under
 * concurrency: the statement is atomic, and `hit` opens no transaction of its own,
 * so a caller counts a hit in the same transaction as whatever the hit guards
 * (InstanceDO.openChallenge).
 */
import { decideRateLimitHit, type RateLimitRule } from "../domain/rateLimit";

export interface RateLimitVerdict {
  allowed: boolean;
  retryAfterS: number;
}

export class RateLimitStore {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * Inside a transaction: one hit on `key`'s fixed window at `nowMs`. The rule is
   * decideRateLimitHit's, written as one statement for the hits it allows (most):
   * a window that has ended is opened again with a count of 1, a live one under its
   * limit counts the hit, and a spent one is left alone and returns no row, so a
   * refused hit writes nothing. test/workers/rateLimitStore.test.ts holds the two to
   * the same answers, case by case.
   */
  hit(key: string, rule: RateLimitRule, nowMs: number): RateLimitVerdict {
    const counted = this.sql
      .exec<{ count: number }>(
        "INSERT INTO rate_limits (key, window_ends_at_ms, count) VALUES (?1, ?2 + ?3, 1) " +
          "ON CONFLICT (key) DO UPDATE SET count = IIF(window_ends_at_ms <= ?2, 1, count + 1), " +
          "window_ends_at_ms = IIF(window_ends_at_ms <= ?2, ?2 + ?3, window_ends_at_ms) " +
          "WHERE window_ends_at_ms <= ?2 OR count < ?4 RETURNING count",
        key,
        nowMs,
        rule.windowMs,
        rule.limit,
      )
      .toArray()[0];
    if (!counted) {
      const spent = this.sql
        .exec<{ window_ends_at_ms: number; count: number }>("SELECT window_ends_at_ms, count FROM rate_limits WHERE key = ?", key)
        .one();
      const decision = decideRateLimitHit({ windowEndsAtMs: spent.window_ends_at_ms, count: spent.count }, rule, nowMs);
      return { allowed: false, retryAfterS: decision.kind === "refuse" ? decision.retryAfterS : 0 };
    }
    // Every ended window goes with the first hit that opens a new one (indexed), so
    // the table holds only the keys seen in the last window.
    if (counted.count === 1) this.sql.exec("DELETE FROM rate_limits WHERE window_ends_at_ms <= ?", nowMs);
    return { allowed: true, retryAfterS: 0 };
  }
}
