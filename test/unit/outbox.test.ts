/** The outbox's retry schedule (docs/api.md §11: backoff until delivered or 48 h). */
import { describe, expect, it } from "vitest";
import { afterAttempt, OUTBOX_GIVE_UP_AFTER_MS, retryDelayMs } from "../../src/domain/outbox";

describe("outbox retries", () => {
  it("back off exponentially from 30 s, capped at 4 h", () => {
    expect([1, 2, 3, 4, 5].map(retryDelayMs)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000]);
    expect(retryDelayMs(20)).toBe(4 * 3600_000);
    expect(retryDelayMs(1000)).toBe(4 * 3600_000);
  });

  it("stop at delivery", () => {
    expect(afterAttempt({ createdAtMs: 0, attempts: 3, nowMs: 1000, delivered: true })).toEqual({ status: "delivered", nextAttemptAtMs: null });
  });

  it("schedule the next attempt after a failure, never past the 48 h deadline", () => {
    expect(afterAttempt({ createdAtMs: 0, attempts: 1, nowMs: 1000, delivered: false })).toEqual({ status: "pending", nextAttemptAtMs: 31_000 });
    const late = OUTBOX_GIVE_UP_AFTER_MS - 60_000;
    expect(afterAttempt({ createdAtMs: 0, attempts: 15, nowMs: late, delivered: false })).toEqual({
      status: "pending",
      nextAttemptAtMs: OUTBOX_GIVE_UP_AFTER_MS,
    });
  });

  it("fail once 48 h have passed", () => {
    expect(afterAttempt({ createdAtMs: 0, attempts: 16, nowMs: OUTBOX_GIVE_UP_AFTER_MS, delivered: false })).toEqual({
      status: "failed",
      nextAttemptAtMs: null,
    });
  });

  it("make about 16 attempts for a peer that stays down", () => {
    let now = 0;
    let attempts = 0;
    for (;;) {
      attempts++;
      const next = afterAttempt({ createdAtMs: 0, attempts, nowMs: now, delivered: false });
      if (next.status === "failed") break;
      now = next.nextAttemptAtMs!;
    }
    expect(attempts).toBeGreaterThan(12);
    expect(attempts).toBeLessThan(25);
  });
});
