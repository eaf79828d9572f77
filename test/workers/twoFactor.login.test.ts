/**
 * docs/api.md §4 and §8 at login: exactly one second factor once 2FA is on, the
 * signature checked before the code, amr ["pop", "otp"], and every code and backup
 * code single use, also under 20 concurrent requests.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { json, makeOwnerKeys, type OwnerClient } from "../helpers/owner";
import {
  activityTypes,
  amrOf,
  clearLockouts,
  enrolTotp,
  reauthWithCode,
  type Authenticator,
} from "../helpers/twoFactor";
import { claimedOwner } from "../helpers/workers";

let owner: OwnerClient;
let auth: Authenticator;
let backupCodes: string[];
let usedCode: string;

beforeAll(async () => {
  owner = await claimedOwner();
  ({ auth, backupCodes } = await enrolTotp(owner));
});

/** A login from a new device with `extra` in the body; the assertion is always valid. */
async function loginWith(extra: Record<string, unknown>) {
  const device = owner.device();
  const res = await device.login(extra);
  return { device, res };
}

async function errorOf(res: Response): Promise<string> {
  return (await json<{ error: string }>(res)).error;
}

describe("logging in with two-factor authentication on", { timeout: 45_000 }, () => {
  it("answers 401 mfa_required without a second factor", async () => {
    const { res } = await loginWith({});
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toBe("mfa_required");
  });

  it("answers 400 invalid_request for more than one second factor", async () => {
    for (const extra of [
      { totp: "123456", backupCode: backupCodes[0] },
      { totp: "123456", mfaTicket: "abc" },
      { backupCode: backupCodes[0], mfaTicket: "abc" },
    ]) {
      const { res } = await loginWith(extra);
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toBe("invalid_request");
    }
    // None of that used the backup code up.
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
  });

  it("answers 401 invalid_code for a wrong code, ticket or backup code", async () => {
    for (const extra of [{ totp: auth.wrongCode() }, { backupCode: "ZZZZZ-ZZZZZ" }, { mfaTicket: "bm90LWEtdGlja2V0" }]) {
      const { res } = await loginWith(extra);
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toBe("invalid_code");
    }
    expect(await activityTypes(owner)).toContain("login_failed");
  });

  it("answers 400 for malformed second factors, never 5xx", async () => {
    for (const extra of [
      { totp: 123456 },
      { totp: "12 3456" },
      { totp: "" },
      { backupCode: "" },
      { backupCode: "x".repeat(65) },
      { backupCode: ["A"] },
      { mfaTicket: "not base64url!" },
      { mfaTicket: null },
    ]) {
      const { res } = await loginWith(extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
    }
  });

  it("checks the signature before the code: a forged login neither uses nor learns the code", async () => {
    const code = await auth.nextCode();
    usedCode = code;
    const forger = owner.device();
    const { sig } = await makeOwnerKeys();
    const forged = await forger.request("POST", "/auth/login", {
      body: { assertion: await forger.assertion({ key: sig.privateKey }), totp: code },
    });
    expect(forged.status).toBe(401);
    expect(await errorOf(forged)).toBe("invalid_assertion");
    // The same code still works for the real owner: it was never checked.
    const { device, res } = await loginWith({ totp: code });
    expect(res.status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "otp"]);
  });

  it("accepts a code once, across every route", async () => {
    // usedCode was accepted by the login just above.
    const again = await loginWith({ totp: usedCode });
    expect(again.res.status).toBe(401);
    expect(await errorOf(again.res)).toBe("invalid_code");
    const reauth = await reauthWithCode(owner, { totp: usedCode });
    expect(reauth.status).toBe(401);
    expect(await errorOf(reauth)).toBe("invalid_code");
    const escrow = await owner.request("POST", "/auth/escrow", { body: { totp: usedCode } });
    expect(escrow.status).toBe(401);
    expect(await errorOf(escrow)).toBe("invalid_code");
    await clearLockouts();
  });

  it("lets exactly one of 20 concurrent logins with the same code in", async () => {
    const code = await auth.nextCode();
    const devices = Array.from({ length: 20 }, () => owner.device());
    const assertions = await Promise.all(devices.map((d) => d.assertion()));
    const results = await Promise.all(
      devices.map((d, i) => d.request("POST", "/auth/login", { body: { assertion: assertions[i], totp: code } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    // The rest are refused: invalid_code, or rate_limited once the replays locked TOTP.
    expect(statuses.filter((s) => s === 401 || s === 429)).toHaveLength(19);
    for (const r of results.filter((r) => r.status === 429)) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    await clearLockouts();
  });

  it("logs in with a backup code, in any case and with dashes, once", async () => {
    const code = backupCodes[0]!;
    const typed = `${code.slice(0, 5).toLowerCase()}-${code.slice(5)}`;
    const { device, res } = await loginWith({ backupCode: typed });
    expect(res.status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "otp"]);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 9 });
    expect(await activityTypes(owner)).toContain("backup_code_used");
    const again = await loginWith({ backupCode: code });
    expect(again.res.status).toBe(401);
    expect(await errorOf(again.res)).toBe("invalid_code");
  });

  it("lets exactly one of 20 concurrent logins with the same backup code in", async () => {
    const code = backupCodes[1]!;
    const devices = Array.from({ length: 20 }, () => owner.device());
    const assertions = await Promise.all(devices.map((d) => d.assertion()));
    const results = await Promise.all(
      devices.map((d, i) => d.request("POST", "/auth/login", { body: { assertion: assertions[i], backupCode: code } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 8 });
  });

  it("keeps amr [pop, otp] across refreshes of a session that used a second factor", async () => {
    const { device, res } = await loginWith({ backupCode: backupCodes[2] });
    expect(res.status).toBe(200);
    expect((await device.refresh()).status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "otp"]);
  });
});
