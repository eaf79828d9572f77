/**
 * docs/api.md §8, enrolment and disabling: pending secret, key URI and QR code,
 * confirmation (backup codes, other sessions revoked), expiry of an unconfirmed
 * secret, and turning 2FA off.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Secret } from "otpauth";
import { advanceClock, serverNowMs } from "../helpers/clock";
import { json, type OwnerClient } from "../helpers/owner";
import {
  activityTypes,
  amrOf,
  Authenticator,
  ensureTotp,
  reauthWithCode,
  sqlInInstance,
} from "../helpers/twoFactor";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";
import { OwnerClient as Client } from "../helpers/owner";

let owner: OwnerClient;
let auth: Authenticator;
let backupCodes: string[];

beforeAll(async () => {
  owner = await claimedOwner();
});

async function challengeSaysMfa(): Promise<boolean> {
  const res = await owner.request("POST", "/auth/challenge");
  return (await json<{ mfa: boolean }>(res)).mfa;
}

describe("enrolling in TOTP", { timeout: 45_000 }, () => {
  it("starts with two-factor authentication off", async () => {
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    expect(await challengeSaysMfa()).toBe(false);
  });

  it("refuses to start enrolment from a session whose login is not recent", async () => {
    const stale = new Client(fetchWithVars({ STEP_UP_MAX_AGE_S: "0" }), TEST_ORIGIN, owner.keys);
    stale.accessToken = owner.accessToken;
    advanceClock(1_000);
    const res = await stale.api("POST", "/api/2fa/totp");
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
  });

  it("returns a pending 20-byte secret, its otpauth URI with the issuer twice, and a QR code", async () => {
    const res = await owner.api("POST", "/api/2fa/totp");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await json<{ secret: string; uri: string; qrSvg: string }>(res);
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(Secret.fromBase32(body.secret).bytes.length).toBe(20);
    expect(body.uri).toBe(
      `otpauth://totp/id.example.test:owner?issuer=id.example.test&secret=${body.secret}&algorithm=SHA1&digits=6&period=30`,
    );
    expect(body.qrSvg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // Enrolment alone changes nothing.
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    auth = new Authenticator(body.secret);
  });

  it("stores the secret encrypted, never in the clear", async () => {
    const [row] = await sqlInInstance<{ pending_secret_sealed: string }>("SELECT pending_secret_sealed FROM totp");
    const plain = Secret.fromBase32(auth.secret);
    expect(row!.pending_secret_sealed).not.toContain(auth.secret);
    expect(row!.pending_secret_sealed).not.toContain(plain.hex);
    expect(row!.pending_secret_sealed).not.toContain(Buffer.from(plain.bytes).toString("base64url"));
    // 12-byte IV + 20-byte secret + 16-byte tag.
    expect(Buffer.from(row!.pending_secret_sealed, "base64url").length).toBe(48);
  });

  it("refuses a wrong or malformed confirmation code", async () => {
    const wrong = await owner.api("POST", "/api/2fa/totp/confirm", { code: auth.wrongCode() });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toMatchObject({ error: "invalid_code" });
    for (const body of [{}, { code: "12345" }, { code: 123456 }, { code: "abcdef" }, "not json"]) {
      const res = await owner.api("POST", "/api/2fa/totp/confirm", body);
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    }
  });

  it("only lets the session that started the enrolment confirm it", async () => {
    const other = owner.device();
    expect((await other.login()).status).toBe(200);
    const res = await other.api("POST", "/api/2fa/totp/confirm", { code: auth.codeForStep(Math.floor(serverNowMs() / 30_000)) });
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: "not_found" });
  });

  it("turns 2FA on at the first right code, returns 10 backup codes and revokes every other session", async () => {
    const laptop = owner.device();
    const phone = owner.device();
    expect((await laptop.login()).status).toBe(200);
    expect((await phone.login()).status).toBe(200);

    const res = await owner.api("POST", "/api/2fa/totp/confirm", { code: await auth.nextCode() });
    expect(res.status).toBe(200);
    backupCodes = (await json<{ backupCodes: string[] }>(res)).backupCodes;
    expect(backupCodes).toHaveLength(10);
    expect(new Set(backupCodes).size).toBe(10);
    for (const code of backupCodes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/);

    for (const device of [laptop, phone]) {
      const r = await device.api("GET", "/api/sessions");
      expect(r.status).toBe(401);
      expect(await json(r)).toMatchObject({ error: "session_revoked" });
      expect((await device.refresh()).status).toBe(401);
    }
    // The session that enrolled keeps working.
    expect((await owner.api("GET", "/api/sessions")).status).toBe(200);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    expect(await challengeSaysMfa()).toBe(true);
    const types = await activityTypes(owner);
    expect(types).toContain("totp_enabled");
    expect(types.filter((t) => t === "session_revoked").length).toBeGreaterThanOrEqual(2);
  });

  it("keeps only hashes of the backup codes", async () => {
    const rows = await sqlInInstance<{ hash: string }>("SELECT hash FROM backup_codes");
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify(rows);
    for (const code of backupCodes) expect(stored).not.toContain(code);
  });

  it("never returns the secret again", async () => {
    const again = await owner.api("POST", "/api/2fa/totp/confirm", { code: auth.codeForStep(Math.floor(serverNowMs() / 30_000)) });
    expect(again.status).toBe(404);
    const status = await owner.api("GET", "/api/2fa");
    expect(JSON.stringify(await json(status))).not.toContain(auth.secret);
    const [row] = await sqlInInstance<{ pending_secret_sealed: string | null }>("SELECT pending_secret_sealed FROM totp");
    expect(row!.pending_secret_sealed).toBeNull();
  });

  it("forgets a pending secret that is not confirmed within 10 minutes", async () => {
    // Starting a new enrolment needs step-up with otp now that 2FA is on.
    expect((await reauthWithCode(owner, { backupCode: backupCodes[0]! })).status).toBe(200);
    const begin = await owner.api("POST", "/api/2fa/totp");
    expect(begin.status).toBe(200);
    const pending = new Authenticator((await json<{ secret: string }>(begin)).secret);
    const [row] = await sqlInInstance<{ ttl: number }>(
      "SELECT pending_expires_at_ms - ? AS ttl FROM totp",
      serverNowMs(),
    );
    expect(row!.ttl).toBeGreaterThan(9 * 60_000);
    expect(row!.ttl).toBeLessThanOrEqual(10 * 60_000);
    await sqlInInstance("UPDATE totp SET pending_expires_at_ms = ?", serverNowMs() - 1);
    const res = await owner.api("POST", "/api/2fa/totp/confirm", { code: await pending.nextCode() });
    expect(res.status).toBe(404);
    // The active secret is untouched.
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 9 });
  });
});

describe("turning 2FA off", { timeout: 45_000 }, () => {
  beforeAll(async () => {
    // The starting state: 2FA on (by the block above, or here when run alone).
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
  });

  it("needs a step-up with a second factor", async () => {
    const plain = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion() }, bearer: true });
    expect(plain.status).toBe(200);
    owner.accessToken = (await json<{ accessToken: string }>(plain)).accessToken;
    expect(amrOf(owner.accessToken)).toEqual(["pop"]);
    const res = await owner.api("DELETE", "/api/2fa/totp", { backupCode: backupCodes[1] });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
  });

  it("needs exactly one of code and backupCode", async () => {
    expect((await reauthWithCode(owner, { totp: await auth.nextCode() })).status).toBe(200);
    expect(amrOf(owner.accessToken)).toEqual(["pop", "otp"]);
    for (const body of [{}, { code: "123456", backupCode: backupCodes[1] }, { code: 1 }, { backupCode: "" }]) {
      const res = await owner.api("DELETE", "/api/2fa/totp", body);
      expect(res.status).toBe(400);
    }
    const wrong = await owner.api("DELETE", "/api/2fa/totp", { backupCode: "AAAAA-AAAAA" });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toMatchObject({ error: "invalid_code" });
  });

  it("deletes the secret and the backup codes", async () => {
    const res = await owner.api("DELETE", "/api/2fa/totp", { code: await auth.nextCode() });
    expect(res.status).toBe(204);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    expect(await sqlInInstance("SELECT * FROM totp")).toEqual([]);
    expect(await sqlInInstance("SELECT * FROM backup_codes")).toEqual([]);
    expect(await challengeSaysMfa()).toBe(false);
    expect(await activityTypes(owner)).toContain("totp_disabled");
    // Login needs no code again, and a leftover backup code means nothing.
    const device = owner.device();
    expect((await device.login()).status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop"]);
    const again = await owner.api("DELETE", "/api/2fa/totp", { backupCode: backupCodes[2] });
    expect(again.status).toBe(404);
  });
});
