/**
 * docs/api.md §8 single use under concurrency, where the other files do not cover
 * it yet: one confirmation of an enrolment, one TOTP step across /auth/escrow and
 * /auth/login, one backup code at /auth/escrow, one regeneration of the backup
 * codes, and turning 2FA off racing logins with the same code. Each race asserts
 * exact counts: one winner, and every loser refused the way the protocol says.
 *
 * A loser of a TOTP race is a replayed code, which counts as a failure on its route's
 * counter (docs/two-factor.md): the first 5 losers on a counter get 401 invalid_code,
 * the 5th locks the counter, and the rest get 429 rate_limited. Every loser comes
 * after the winner (a code is "used" only once the winner has committed), and the
 * winner resets its own counter, so on a counter that starts clear the split is
 * exactly min(losers, 5) / the rest.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { json, type OwnerClient } from "../helpers/owner";
import {
  activityCount,
  amrOf,
  Authenticator,
  clearLockouts,
  ensureTotp,
  lockoutRow,
  reauthWithCode,
  sqlInInstance,
  statusCounts,
  storedBackupCodesAre,
} from "../helpers/twoFactor";
import { claimedOwner } from "../helpers/workers";

const LOCKOUT_THRESHOLD = 5;

let owner: OwnerClient;
let auth: Authenticator;
let backupCodes: string[];

beforeAll(async () => {
  owner = await claimedOwner();
});

async function errorOf(res: Response): Promise<string> {
  return (await json<{ error: string }>(res.clone())).error;
}

/** Signed logins from `n` new devices, each with its own challenge, ready to send. */
async function preparedLogins(n: number) {
  const devices = Array.from({ length: n }, () => owner.device());
  const assertions = await Promise.all(devices.map((d) => d.assertion()));
  return (body: Record<string, unknown>) =>
    devices.map((d, i) =>
      d.request("POST", "/auth/login", { body: { assertion: assertions[i], ...body } }).then((r) => d.adopt(r)),
    );
}

function escrowWith(body: Record<string, unknown>) {
  return owner.device().request("POST", "/auth/escrow", { body, cookie: null });
}

/** The losers of a TOTP race on one counter that started clear: min(n, 5) × 401, the rest 429. */
async function expectReplaysRefused(losers: Response[]) {
  const invalid = Math.min(losers.length, LOCKOUT_THRESHOLD);
  expect(statusCounts(losers)).toEqual({
    ...(invalid > 0 ? { 401: invalid } : {}),
    ...(losers.length > invalid ? { 429: losers.length - invalid } : {}),
  });
  for (const r of losers) {
    expect(await errorOf(r)).toBe(r.status === 401 ? "invalid_code" : "rate_limited");
    if (r.status === 429) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  }
}

describe("confirming an enrolment", { timeout: 60_000 }, () => {
  it("lets exactly one of 10 concurrent confirmations with the same code turn 2FA on", async () => {
    const laptop = owner.device();
    expect((await laptop.login()).status).toBe(200);
    const begin = await owner.api("POST", "/api/2fa/totp");
    expect(begin.status).toBe(200);
    auth = new Authenticator((await json<{ secret: string }>(begin)).secret);

    const code = await auth.nextCode();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => owner.api("POST", "/api/2fa/totp/confirm", { code })),
    );
    // The losers find no pending enrolment left, exactly as a confirmation sent after
    // the winner's does (twoFactor.enrol.test.ts): 404, and no code was counted.
    expect(statusCounts(results)).toEqual({ 200: 1, 404: 9 });
    for (const r of results.filter((r) => r.status === 404)) expect(await errorOf(r)).toBe("not_found");
    backupCodes = (await json<{ backupCodes: string[] }>(results.find((r) => r.status === 200)!)).backupCodes;
    expect(backupCodes).toHaveLength(10);

    expect(await activityCount("totp_enabled")).toBe(1);
    expect(await lockoutRow("session")).toBeNull();
    // Only the returned set is stored: no loser wrote codes of its own.
    expect(await storedBackupCodesAre(backupCodes)).toBe(true);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    // The other session was revoked, once.
    expect((await laptop.api("GET", "/api/sessions")).status).toBe(401);
    expect(await activityCount("session_revoked")).toBe(1);
    // A returned code works, and the code that confirmed is spent.
    const device = owner.device();
    expect((await device.login({ backupCode: backupCodes[9] })).status).toBe(200);
    const replay = await owner.device().login({ totp: code });
    expect(replay.status).toBe(401);
    expect(await errorOf(replay)).toBe("invalid_code");
    await clearLockouts();
  });
});

describe("one TOTP code at /auth/escrow and /auth/login at once", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    // 2FA on: by the block above, or here when the block runs alone.
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
  });

  it("accepts it once across both routes; each route's replays are refused on its own counter", async () => {
    await clearLockouts();
    const sendLogins = await preparedLogins(10);
    const ticketsBefore = (await sqlInInstance("SELECT hash FROM mfa_tickets")).length;
    const code = await auth.nextCode();
    const escrowResults = Promise.all(Array.from({ length: 10 }, () => escrowWith({ totp: code })));
    const loginResults = Promise.all(sendLogins({ totp: code }));
    const escrows = await escrowResults;
    const logins = await loginResults;

    const escrowWins = escrows.filter((r) => r.status === 200);
    const loginWins = logins.filter((r) => r.status === 200);
    expect(escrowWins.length + loginWins.length).toBe(1);
    await expectReplaysRefused(escrows.filter((r) => r.status !== 200));
    await expectReplaysRefused(logins.filter((r) => r.status !== 200));

    // The winner got what a code buys there, and nothing else was handed out.
    const tickets = (await sqlInInstance("SELECT hash FROM mfa_tickets")).length;
    if (escrowWins.length === 1) {
      expect(await json(escrowWins[0]!)).toMatchObject({ blob: "escrow-blob-v1", mfaTicket: expect.any(String) });
      expect(tickets).toBe(ticketsBefore + 1);
    } else {
      const body = await json<{ accessToken: string }>(loginWins[0]!);
      expect(amrOf(body.accessToken)).toEqual(["pop", "otp"]);
      expect(tickets).toBe(ticketsBefore);
    }
    expect(await lockoutRow("escrow")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });
    expect(await lockoutRow("session")).toMatchObject({ consecutive_failures: 5, lockouts: 1 });

    // Spent on both routes once the locks are gone.
    await clearLockouts();
    for (const res of [await escrowWith({ totp: code }), await owner.device().login({ totp: code })]) {
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toBe("invalid_code");
    }
    await clearLockouts();
  });
});

describe("one backup code at /auth/escrow 20 times at once", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
  });

  it("returns the escrow and a ticket once; the code is spent at /auth/escrow and /auth/login", async () => {
    const code = backupCodes[0]!;
    const usedBefore = await activityCount("backup_code_used");
    const { backupCodesRemaining } = await json<{ backupCodesRemaining: number }>(await owner.api("GET", "/api/2fa"));

    const results = await Promise.all(Array.from({ length: 20 }, () => escrowWith({ backupCode: code })));
    // Backup codes are outside the lockout: every loser is a plain 401.
    expect(statusCounts(results)).toEqual({ 200: 1, 401: 19 });
    for (const r of results.filter((r) => r.status === 401)) expect(await errorOf(r)).toBe("invalid_code");
    const { mfaTicket } = await json<{ mfaTicket?: string }>(results.find((r) => r.status === 200)!);
    expect(mfaTicket).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(await activityCount("backup_code_used")).toBe(usedBefore + 1);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({
      enabled: true,
      totp: true,
      passkeys: 0,
      backupCodesRemaining: backupCodesRemaining - 1,
    });
    expect(await lockoutRow("escrow")).toBeNull();

    const again = await escrowWith({ backupCode: code });
    expect(again.status).toBe(401);
    expect(await errorOf(again)).toBe("invalid_code");
    const login = await owner.device().login({ backupCode: code });
    expect(login.status).toBe(401);
    expect(await errorOf(login)).toBe("invalid_code");
    // The one ticket handed out works.
    const device = owner.device();
    expect((await device.login({ mfaTicket })).status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "otp"]);
  });
});

describe("regenerating the backup codes with one code 10 times at once", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
  });

  it("makes exactly one new set, the returned one; the old set and the other answers are void", async () => {
    expect((await reauthWithCode(owner, { backupCode: backupCodes[1]! })).status).toBe(200);
    await clearLockouts();
    const regeneratedBefore = await activityCount("backup_codes_regenerated");

    const code = await auth.nextCode();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => owner.api("POST", "/api/2fa/backup-codes", { code })),
    );
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    await expectReplaysRefused(results.filter((r) => r.status !== 200));
    const fresh = (await json<{ backupCodes: string[] }>(winners[0]!)).backupCodes;
    expect(fresh).toHaveLength(10);

    expect(await activityCount("backup_codes_regenerated")).toBe(regeneratedBefore + 1);
    expect(await storedBackupCodesAre(fresh)).toBe(true);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    await clearLockouts();
    expect((await owner.device().login({ backupCode: backupCodes[2] })).status).toBe(401);
    expect((await owner.device().login({ backupCode: fresh[0] })).status).toBe(200);
    backupCodes = fresh;
  });
});

describe("turning 2FA off while logins use the same code", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
  });

  it("lets exactly one of 10 disables and 10 logins use the code", async () => {
    expect((await reauthWithCode(owner, { backupCode: backupCodes[1]! })).status).toBe(200);
    await clearLockouts();
    const disabledBefore = await activityCount("totp_disabled");
    // What a losing disable leaves: the backup codes unused now (8 after the blocks above).
    const { backupCodesRemaining } = await json<{ backupCodesRemaining: number }>(await owner.api("GET", "/api/2fa"));
    const sendLogins = await preparedLogins(10);

    const code = await auth.nextCode();
    // Logins first: they check the assertion before the code, one more round trip.
    const loginResults = Promise.all(sendLogins({ totp: code }));
    const disableResults = Promise.all(
      Array.from({ length: 10 }, () => owner.api("DELETE", "/api/2fa/totp", { code })),
    );
    const logins = await loginResults;
    const disables = await disableResults;

    const disabled = disables.filter((r) => r.status === 204).length;
    const okLogins: unknown[] = [];
    for (const r of logins.filter((r) => r.status === 200)) {
      okLogins.push(amrOf((await json<{ accessToken: string }>(r.clone())).accessToken));
    }
    const otpLogins = okLogins.filter((amr) => JSON.stringify(amr) === '["pop","otp"]').length;
    expect(disabled + otpLogins).toBe(1);

    // Every refusal of the code is a replay on the session counter: the 401s are
    // exactly the failures it counted, and it refused with 429 only once locked.
    const all = [...disables, ...logins];
    const invalid = all.filter((r) => r.status === 401);
    const limited = all.filter((r) => r.status === 429);
    for (const r of invalid) expect(await errorOf(r)).toBe("invalid_code");
    const row = await lockoutRow("session");
    expect(invalid.length).toBe(row?.consecutive_failures ?? 0);
    expect(invalid.length).toBeLessThanOrEqual(LOCKOUT_THRESHOLD);
    if (limited.length > 0) expect(row).toMatchObject({ consecutive_failures: LOCKOUT_THRESHOLD, lockouts: 1 });

    // Every answer is accounted for: the winner, the refusals, and what came after a
    // winning disable (2FA off: a disable finds nothing to turn off, 404; a login
    // needs no code and gets amr ["pop"] only). Nothing else, and never a 5xx.
    const notFound = disables.filter((r) => r.status === 404).length;
    const popLogins = okLogins.length - otpLogins;
    expect(1 + invalid.length + limited.length + notFound + popLogins).toBe(20);

    if (disabled === 1) {
      expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
      expect(await activityCount("totp_disabled")).toBe(disabledBefore + 1);
    } else {
      expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining });
      expect(await activityCount("totp_disabled")).toBe(disabledBefore);
      expect(notFound + popLogins).toBe(0);
    }
  });
});
