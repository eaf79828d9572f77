/**
 * docs/api.md §8, lockout: two counters (/auth/escrow; the signed routes), 5
 * consecutive failures lock TOTP for 30 s, doubling, reset by a right code; backup
 * codes still work while TOTP is locked; exact under concurrency. Time passes by
 * moving `locked_until_ms` inside the Durable Object, not by waiting.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { serverNowMs } from "../helpers/clock";
import { json, type OwnerClient } from "../helpers/owner";
import {
  activityCount,
  clearLockouts,
  endLockouts,
  enrolTotp,
  lockoutRow,
  reauthWithCode,
  statusCounts,
  type Authenticator,
} from "../helpers/twoFactor";
import { claimedOwner } from "../helpers/workers";

let owner: OwnerClient;
let auth: Authenticator;
let backupCodes: string[];

beforeAll(async () => {
  owner = await claimedOwner();
  ({ auth, backupCodes } = await enrolTotp(owner));
});

const stepNow = () => Math.floor(serverNowMs() / 30_000);

function escrowWith(body: Record<string, unknown>) {
  return owner.device().request("POST", "/auth/escrow", { body, cookie: null });
}

function loginWith(body: Record<string, unknown>) {
  return owner.device().login(body);
}

async function lockedOutEntries() {
  const res = await owner.api("GET", "/api/activity?limit=100");
  const { entries } = await json<{ entries: Array<{ type: string; detail?: Record<string, unknown> }> }>(res);
  return entries.filter((e) => e.type === "locked_out");
}

async function expectRateLimited(res: Response, retryAfterS: number) {
  expect(res.status).toBe(429);
  expect(await json(res)).toMatchObject({ error: "rate_limited" });
  const header = Number(res.headers.get("retry-after"));
  expect(header).toBeGreaterThan(retryAfterS - 3);
  expect(header).toBeLessThanOrEqual(retryAfterS);
}

describe("the /auth/escrow counter", { timeout: 45_000 }, () => {
  it("locks TOTP after 5 consecutive wrong codes for 30 s, even for a right code, and logs locked_out", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await escrowWith({ totp: auth.wrongCode() });
      expect(res.status).toBe(401);
      expect(await json(res)).toMatchObject({ error: "invalid_code" });
    }
    // A right code is refused unseen while locked (so it is not used up either).
    await expectRateLimited(await escrowWith({ totp: auth.codeForStep(stepNow()) }), 30);
    expect(await lockoutRow("escrow")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });
    const entries = await lockedOutEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]!.detail).toMatchObject({ counter: "escrow", retryAfterS: 30 });
  });

  it("does not lock the signed routes: a login with a code still works", async () => {
    const res = await loginWith({ totp: await auth.nextCode() });
    expect(res.status).toBe(200);
  });

  it("lets backup codes through while TOTP is locked", async () => {
    const res = await escrowWith({ backupCode: backupCodes[0] });
    expect(res.status).toBe(200);
    expect(await json(res)).toHaveProperty("mfaTicket");
    // ... without unlocking TOTP, and a wrong backup code is not a TOTP failure.
    expect((await escrowWith({ backupCode: "ZZZZZZZZZZ" })).status).toBe(401);
    await expectRateLimited(await escrowWith({ totp: auth.wrongCode() }), 30);
    expect(await lockoutRow("escrow")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });
  });

  it("doubles Retry-After with each further failure once a lockout has passed", async () => {
    for (const seconds of [60, 120, 240]) {
      await endLockouts();
      const failed = await escrowWith({ totp: auth.wrongCode() });
      expect(failed.status).toBe(401);
      await expectRateLimited(await escrowWith({ totp: auth.wrongCode() }), seconds);
    }
    const entries = await lockedOutEntries();
    expect(entries.map((e) => e.detail!.retryAfterS)).toEqual([240, 120, 60, 30]);
  });

  it("caps the lockout at 3600 s", async () => {
    for (let i = 0; i < 6; i++) {
      await endLockouts();
      expect((await escrowWith({ totp: auth.wrongCode() })).status).toBe(401);
    }
    await expectRateLimited(await escrowWith({ totp: auth.wrongCode() }), 3600);
  });

  it("starts over after a right code", async () => {
    await endLockouts();
    const ok = await escrowWith({ totp: await auth.nextCode() });
    expect(ok.status).toBe(200);
    expect(await lockoutRow("escrow")).toBeNull();
    for (let i = 0; i < 4; i++) expect((await escrowWith({ totp: auth.wrongCode() })).status).toBe(401);
    await clearLockouts();
  });
});

describe("the counter of the signed routes", { timeout: 45_000 }, () => {
  it("counts /auth/login, /auth/reauth and /api/2fa/* together", async () => {
    // /api/2fa/backup-codes needs step-up with otp before it looks at a code.
    expect((await reauthWithCode(owner, { backupCode: backupCodes[1]! })).status).toBe(200);
    const attempts = [
      () => loginWith({ totp: auth.wrongCode() }),
      () => reauthWithCode(owner, { totp: auth.wrongCode() }),
      () => owner.api("POST", "/api/2fa/backup-codes", { code: auth.wrongCode() }),
      () => owner.api("DELETE", "/api/2fa/totp", { code: auth.wrongCode() }),
      () => loginWith({ totp: auth.wrongCode() }),
    ];
    for (const attempt of attempts) expect((await attempt()).status).toBe(401);
    expect(await lockoutRow("session")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });

    const right = auth.codeForStep(stepNow());
    await expectRateLimited(await loginWith({ totp: right }), 30);
    await expectRateLimited(await reauthWithCode(owner, { totp: right }), 30);
    await expectRateLimited(await owner.api("POST", "/api/2fa/backup-codes", { code: right }), 30);
    await expectRateLimited(await owner.api("DELETE", "/api/2fa/totp", { code: right }), 30);
    const entries = await lockedOutEntries();
    expect(entries[0]!.detail).toMatchObject({ counter: "session", retryAfterS: 30 });
  });

  it("leaves /auth/escrow unlocked", async () => {
    const res = await escrowWith({ totp: auth.wrongCode() });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_code" });
  });

  it("lets a backup code log in while TOTP is locked", async () => {
    expect((await loginWith({ backupCode: backupCodes[2] })).status).toBe(200);
    await clearLockouts();
  });
});

describe("under concurrency", { timeout: 45_000 }, () => {
  it("counts 20 simultaneous wrong codes exactly: 5 are checked, 15 refused, one lockout", async () => {
    await clearLockouts();
    const before = (await lockedOutEntries()).length;
    const wrong = auth.wrongCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => escrowWith({ totp: wrong })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    expect(await lockoutRow("escrow")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });
    expect((await lockedOutEntries()).length).toBe(before + 1);
  });

  it("locks the escrow counter again exactly once when 20 wrong codes race after a lockout passed", async () => {
    // The counter is at 5 failures and 1 lockout from the test above.
    await endLockouts();
    const before = await activityCount("locked_out", { counter: "escrow" });
    const wrong = auth.wrongCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => escrowWith({ totp: wrong })));
    // One failure is checked and starts the doubled lockout; the 19 others are refused unseen.
    expect(statusCounts(results)).toEqual({ 401: 1, 429: 19 });
    for (const r of results.filter((r) => r.status === 429)) await expectRateLimited(r, 60);
    expect(await lockoutRow("escrow")).toMatchObject({ consecutive_failures: 6, lockouts: 2 });
    expect(await activityCount("locked_out", { counter: "escrow" })).toBe(before + 1);
    await clearLockouts();
  });

  it("counts 20 simultaneous wrong codes at /auth/login exactly on the session counter", async () => {
    await clearLockouts();
    const before = await activityCount("locked_out", { counter: "session" });
    const failedBefore = await activityCount("login_failed");
    const devices = Array.from({ length: 20 }, () => owner.device());
    const assertions = await Promise.all(devices.map((d) => d.assertion()));
    const wrong = auth.wrongCode();
    const results = await Promise.all(
      devices.map((d, i) => d.request("POST", "/auth/login", { body: { assertion: assertions[i], totp: wrong } })),
    );
    expect(statusCounts(results)).toEqual({ 401: 5, 429: 15 });
    for (const r of results.filter((r) => r.status === 401)) expect(await json(r)).toMatchObject({ error: "invalid_code" });
    for (const r of results.filter((r) => r.status === 429)) await expectRateLimited(r, 30);
    expect(await lockoutRow("session")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });
    expect(await lockoutRow("escrow")).toBeNull();
    expect(await activityCount("locked_out", { counter: "session" })).toBe(before + 1);
    // login_failed is written for the 5 checked codes, not for the refusals while locked.
    expect(await activityCount("login_failed")).toBe(failedBefore + 5);
    await clearLockouts();
  });
});
