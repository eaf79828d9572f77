// Expired challenges and sessions are swept at most once a minute (src/durable/expirySweep.ts)
// rather than by every challenge and login: a sweep bounds storage, expiry itself is
// checked on every read. Time is moved, never waited for (test/helpers/clock.ts).
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { CHALLENGE_TTL_MS } from "../../src/durable/challenges";
import { SWEEP_INTERVAL_MS, sweeper } from "../../src/durable/expirySweep";
import { readSettings } from "../../src/settings";
import { advanceClock } from "../helpers/clock";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, objectRows } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

const rows = async (table: "challenges" | "sessions", column: string, value: string) =>
  (await objectRows(`SELECT 1 FROM ${table} WHERE ${column} = ?`, value)).length;

describe("sweeper", () => {
  it("is due at once, then once SWEEP_INTERVAL_MS has passed since the last sweep", () => {
    const due = sweeper();
    expect(due(1_000)).toBe(true);
    expect(due(1_000)).toBe(false);
    expect(due(1_000 + SWEEP_INTERVAL_MS - 1)).toBe(false);
    expect(due(1_000 + SWEEP_INTERVAL_MS)).toBe(true);
    expect(due(1_000 + SWEEP_INTERVAL_MS + 1)).toBe(false);
  });
});

describe("expired challenges", () => {
  it("are swept by a challenge issued a minute after the last sweep, and not before", async () => {
    advanceClock(SWEEP_INTERVAL_MS);
    const first = await owner.challenge(); // sweeps (a minute since any earlier one)
    advanceClock(CHALLENGE_TTL_MS - 20_000);
    await owner.challenge(); // sweeps: first is still live
    advanceClock(30_000);
    await owner.challenge(); // 30 s since the last sweep: first has expired, and stays
    expect(await rows("challenges", "challenge", first)).toBe(1);

    // Expired but not yet swept is still refused, and spent by the attempt.
    const res = await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ nonce: first }) } });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
    expect(await rows("challenges", "challenge", first)).toBe(0);

    const second = await owner.challenge();
    advanceClock(CHALLENGE_TTL_MS + 1);
    expect(await rows("challenges", "challenge", second)).toBe(1);
    await owner.challenge(); // more than a minute since the last sweep
    expect(await rows("challenges", "challenge", second)).toBe(0);
  });
});

describe("sessions past their absolute lifetime", () => {
  it("are swept by a later login", async () => {
    const old = owner.device();
    expect((await old.login()).status).toBe(200);
    expect(await rows("sessions", "id", old.sessionId!)).toBe(1);
    advanceClock(readSettings(env).sessionMaxTtlS * 1000 + SWEEP_INTERVAL_MS);
    expect((await owner.device().login()).status).toBe(200);
    expect(await rows("sessions", "id", old.sessionId!)).toBe(0);
  });
});
