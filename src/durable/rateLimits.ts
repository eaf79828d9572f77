/**
 * Rate-limit counters (table `rate_limits`) in the instance object's SQLite. The
 * rule is domain/rateLimit.ts; this reads a key's window and applies the decision.
 * Exact under concurrency only because the read and the write share the caller's
 * `transactionSync`: `hit` opens none of its own, so a caller can count a hit in the
 * same transaction as whatever the hit guards (InstanceDO.openChallenge).
 */
import { decideRateLimitHit, type RateLimitRule } from "../domain/rateLimit";

export interface RateLimitVerdict {
  allowed: boolean;
  retryAfterS: number;
}

export class RateLimitStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Inside a transaction: one hit on `key`'s fixed window at `nowMs`. */
  hit(key: string, rule: RateLimitRule, nowMs: number): RateLimitVerdict {
    const row = this.sql
      .exec<{ window_ends_at_ms: number; count: number }>("SELECT window_ends_at_ms, count FROM rate_limits WHERE key = ?", key)
      .toArray()[0];
    const decision = decideRateLimitHit(row ? { windowEndsAtMs: row.window_ends_at_ms, count: row.count } : null, rule, nowMs);
    switch (decision.kind) {
      case "open":
        // Every ended window goes with the first hit that opens a new one (indexed),
        // so the table holds only the keys seen in the last window.
        this.sql.exec("DELETE FROM rate_limits WHERE window_ends_at_ms <= ?", nowMs);
        this.sql.exec("INSERT INTO rate_limits (key, window_ends_at_ms, count) VALUES (?, ?, 1)", key, decision.windowEndsAtMs);
        return { allowed: true, retryAfterS: 0 };
      case "count":
        this.sql.exec("UPDATE rate_limits SET count = count + 1 WHERE key = ?", key);
        return { allowed: true, retryAfterS: 0 };
      case "refuse":
        return { allowed: false, retryAfterS: decision.retryAfterS };
    }
  }
}
