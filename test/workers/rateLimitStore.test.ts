// The rate-limit store (src/durable/rateLimits.ts) applies domain/rateLimit.ts's rule
// to the stored window: for every kind of window, its answer and the row it leaves
// must be what decideRateLimitHit decides, and a refused hit writes nothing. (It
// held a one-statement upsert to the rule too, while that was tried: see
// docs/benchmarks.md, "Where a request's CPU goes".)
import { describe, expect, it } from "vitest";
import { decideRateLimitHit, type RateWindow } from "../../src/domain/rateLimit";
import { inInstance } from "../helpers/workers";

const NOW = 1_000_000;
const rule = { limit: 3, windowMs: 60_000 };

const cases: Array<[string, RateWindow | null, { limit: number; windowMs: number }]> = [
  ["no window", null, rule],
  ["a live window, none counted yet", { windowEndsAtMs: NOW + 30_000, count: 0 }, rule],
  ["a live window under its limit", { windowEndsAtMs: NOW + 30_000, count: 2 }, rule],
  ["a live window at its limit", { windowEndsAtMs: NOW + 30_000, count: 3 }, rule],
  ["a live window over its limit (the limit was lowered)", { windowEndsAtMs: NOW + 1, count: 7 }, rule],
  ["a window ending this millisecond", { windowEndsAtMs: NOW, count: 3 }, rule],
  ["a window that ended long ago", { windowEndsAtMs: 10, count: 99 }, rule],
  ["a limit of 1, spent", { windowEndsAtMs: NOW + 59_001, count: 1 }, { limit: 1, windowMs: 60_000 }],
  ["a limit of 1, a fresh key", null, { limit: 1, windowMs: 60_000 }],
];

describe("RateLimitStore.hit against decideRateLimitHit", () => {
  it.each(cases)("%s", async (_name, stored, caseRule) => {
    const key = `store-check:${crypto.randomUUID()}`;
    const result = await inInstance((instance, state) => {
      const sql = state.storage.sql;
      if (stored) sql.exec("INSERT INTO rate_limits (key, window_ends_at_ms, count) VALUES (?, ?, ?)", key, stored.windowEndsAtMs, stored.count);
      const verdict = state.storage.transactionSync(() => instance["rateLimits"].hit(key, caseRule, NOW));
      const row = sql.exec<{ window_ends_at_ms: number; count: number }>("SELECT window_ends_at_ms, count FROM rate_limits WHERE key = ?", key).toArray()[0];
      return { verdict, row: row ? { windowEndsAtMs: row.window_ends_at_ms, count: row.count } : null };
    });

    const decision = decideRateLimitHit(stored, caseRule, NOW);
    switch (decision.kind) {
      case "open":
        expect(result).toEqual({ verdict: { allowed: true, retryAfterS: 0 }, row: { windowEndsAtMs: decision.windowEndsAtMs, count: 1 } });
        break;
      case "count":
        expect(result).toEqual({ verdict: { allowed: true, retryAfterS: 0 }, row: { ...stored!, count: stored!.count + 1 } });
        break;
      case "refuse":
        expect(result).toEqual({ verdict: { allowed: false, retryAfterS: decision.retryAfterS }, row: stored });
        break;
    }
  });

  it("a hit that opens a window sweeps the windows that have ended, and only those", async () => {
    const [ended, live, opener] = ["ended", "live", "opener"].map((k) => `sweep-check:${k}:${crypto.randomUUID()}`);
    const left = await inInstance((instance, state) => {
      const sql = state.storage.sql;
      sql.exec("INSERT INTO rate_limits (key, window_ends_at_ms, count) VALUES (?, ?, 1), (?, ?, 1)", ended, NOW - 1, live, NOW + 1);
      state.storage.transactionSync(() => instance["rateLimits"].hit(opener!, rule, NOW));
      return sql
        .exec<{ key: string }>("SELECT key FROM rate_limits WHERE key IN (?, ?, ?) ORDER BY key", ended, live, opener)
        .toArray()
        .map((r) => r.key);
    });
    expect(left).toEqual([live, opener].sort());
  });
});
