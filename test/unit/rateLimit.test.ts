/** The fixed-window rate limit (domain/rateLimit.ts): `limit` hits per window, per key. */
import { describe, expect, it } from "vitest";
import { decideRateLimitHit, rateLimitAddress, type RateWindow } from "../../src/domain/rateLimit";

const rule = { limit: 3, windowMs: 60_000 };

/** Applies decisions the way the store does, and returns what each hit was told. */
function hits(times: number[], start: RateWindow | null = null) {
  let window = start;
  return times.map((nowMs) => {
    const decision = decideRateLimitHit(window, rule, nowMs);
    if (decision.kind === "open") window = { windowEndsAtMs: decision.windowEndsAtMs, count: 1 };
    else if (decision.kind === "count") window = { ...window!, count: window!.count + 1 };
    return decision.kind === "refuse" ? `refuse ${decision.retryAfterS}` : decision.kind;
  });
}

describe("the fixed-window rate limit", () => {
  it("opens a window with the first hit, ending one window later", () => {
    expect(decideRateLimitHit(null, rule, 1_000)).toEqual({ kind: "open", windowEndsAtMs: 61_000 });
  });

  it("allows `limit` hits per window and refuses the rest until it ends", () => {
    expect(hits([0, 1, 2, 3, 4])).toEqual(["open", "count", "count", "refuse 60", "refuse 60"]);
  });

  it("says how many whole seconds are left, rounded up", () => {
    const spent = { windowEndsAtMs: 60_000, count: 3 };
    expect(decideRateLimitHit(spent, rule, 58_001)).toEqual({ kind: "refuse", retryAfterS: 2 });
    expect(decideRateLimitHit(spent, rule, 59_999)).toEqual({ kind: "refuse", retryAfterS: 1 });
  });

  it("opens the next window exactly when the last one ends, with a fresh count", () => {
    const spent = { windowEndsAtMs: 60_000, count: 3 };
    expect(decideRateLimitHit(spent, rule, 60_000)).toEqual({ kind: "open", windowEndsAtMs: 120_000 });
    expect(hits([60_000, 60_001, 60_002, 60_003], spent)).toEqual(["open", "count", "count", "refuse 60"]);
  });

  it("treats a stale window (long ended) like none", () => {
    expect(decideRateLimitHit({ windowEndsAtMs: 10, count: 99 }, rule, 1_000_000)).toEqual({
      kind: "open",
      windowEndsAtMs: 1_060_000,
    });
  });

  it("with a limit of 1, lets exactly one hit per window through", () => {
    expect(decideRateLimitHit({ windowEndsAtMs: 60_000, count: 1 }, { limit: 1, windowMs: 60_000 }, 0)).toEqual({
      kind: "refuse",
      retryAfterS: 60,
    });
  });
});

describe("the address a client's counters are keyed by", () => {
  it("keeps an IPv4 address as it is", () => {
    expect(rateLimitAddress("198.51.100.7")).toBe("198.51.100.7");
  });

  it("keys an IPv6 address by its /64, however it is written", () => {
    const forms = [
      "2001:db8:0:1::1",
      "2001:0db8:0000:0001:0000:0000:0000:0001",
      "2001:DB8:0:1:FFFF:FFFF:FFFF:FFFF",
      "2001:db8:0:1:aaaa::",
      "2001:db8::1:0:0:0:5",
      "2001:db8:0:1::192.0.2.1",
    ];
    for (const form of forms) expect(rateLimitAddress(form), form).toBe("2001:db8:0:1::/64");
    expect(rateLimitAddress("2001:db8:0:2::1")).toBe("2001:db8:0:2::/64");
    expect(rateLimitAddress("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(rateLimitAddress("::1")).toBe("0:0:0:0::/64");
    expect(rateLimitAddress("::")).toBe("0:0:0:0::/64");
    expect(rateLimitAddress("fe80::1:2:3:4")).toBe("fe80:0:0:0::/64");
  });

  it("keys an IPv4-mapped IPv6 address as its IPv4 address", () => {
    for (const form of ["::ffff:192.0.2.1", "::FFFF:192.0.2.1", "0:0:0:0:0:ffff:192.0.2.1", "::ffff:c000:201", "0000::ffff:c000:0201"]) {
      expect(rateLimitAddress(form), form).toBe("192.0.2.1");
    }
    // Not mapped: another prefix, or a non-zero group before ffff.
    expect(rateLimitAddress("::fffe:192.0.2.1")).toBe("0:0:0:0::/64");
    expect(rateLimitAddress("1::ffff:192.0.2.1")).toBe("1:0:0:0::/64");
  });

  it("keeps what is not an address as it is", () => {
    for (const text of ["unknown", "", "[2001:db8::1]", "2001:db8::1%eth0", "2001:db8:::1", "2001::db8::1", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "12345::1", "::ffff:300.1.1.1", "::ffff:1.256.1.1"]) {
      expect(rateLimitAddress(text), text).toBe(text);
    }
  });
});
