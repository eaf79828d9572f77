/**
 * docs/api.md §12 with §8: TOTP next to a passkey that came first. A passkey turned
 * two-factor authentication on, so confirming TOTP afterwards answers `{}` (backup
 * codes are made only when 2FA turns on) and the passkey's backup codes stay valid;
 * re-enrolling TOTP (a new phone) answers `{}` too. Before TOTP exists, removing it
 * is a 404 that says so, not "2FA is not on".
 * The tests in this file run in order on one instance.
 */
import { describe, expect, it } from "vitest";
import { base64urlDecode } from "../../src/lib/bytes";
import { json, type OwnerClient } from "../helpers/owner";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { activityCount, Authenticator, storedBackupCodesAre } from "../helpers/twoFactor";
import { claimedOwner, TEST_ORIGIN } from "../helpers/workers";

const RP_ID = new URL(TEST_ORIGIN).hostname;
const bytes = (b64: string) => base64urlDecode(b64)!;

let owner: OwnerClient;
let key: SoftAuthenticator;
let userHandle: string;
let backupCodes: string[];
let totp: Authenticator;

async function assertion() {
  const res = await owner.request("POST", "/auth/passkey/options");
  expect(res.status).toBe(200);
  const { options } = await json<{ options: { challenge: string } }>(res);
  return key.authenticate({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle });
}

/** Step-up with the passkey: a fresh token whose amr has hwk. */
async function reauthWithPasskey() {
  const res = await owner.request("POST", "/auth/reauth", {
    body: { assertion: await owner.assertion(), passkey: await assertion() },
    bearer: true,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  owner.accessToken = (await json<{ accessToken: string }>(res)).accessToken;
}

/** POST /api/2fa/totp, then the confirmation with the new secret's code. */
async function enrolAndConfirm(): Promise<Response> {
  const begin = await owner.api("POST", "/api/2fa/totp");
  expect(begin.status, await begin.clone().text()).toBe(200);
  totp = new Authenticator((await json<{ secret: string }>(begin)).secret);
  return owner.api("POST", "/api/2fa/totp/confirm", { code: await totp.nextCode() });
}

describe("TOTP after a passkey", { timeout: 60_000 }, () => {
  it("the first passkey turns 2FA on with 10 backup codes", async () => {
    owner = await claimedOwner();
    key = await SoftAuthenticator.create({ alg: -7 });
    const optionsRes = await owner.api("POST", "/api/passkeys/options");
    expect(optionsRes.status, await optionsRes.clone().text()).toBe(200);
    const { options } = await json<{ options: { challenge: string; user: { id: string } } }>(optionsRes);
    userHandle = options.user.id;
    const credential = await key.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    const res = await owner.api("POST", "/api/passkeys", { credential });
    expect(res.status, await res.clone().text()).toBe(201);
    backupCodes = (await json<{ backupCodes: string[] }>(res)).backupCodes;
    expect(backupCodes).toHaveLength(10);
  });

  it("DELETE /api/2fa/totp with passkeys only: 404 saying no authenticator app is set up; 2FA stays on", async () => {
    await reauthWithPasskey();
    const before = await activityCount("totp_disabled");
    for (const factor of [{ passkey: await assertion() }, { backupCode: backupCodes[9] }]) {
      const res = await owner.api("DELETE", "/api/2fa/totp", factor);
      expect(res.status, await res.clone().text()).toBe(404);
      const body = await json<{ error: string; message: string }>(res);
      expect(body.error).toBe("not_found");
      expect(body.message).toMatch(/No authenticator app is set up/);
      expect(body.message).not.toMatch(/not on/);
    }
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: false, passkeys: 1, backupCodesRemaining: 10 });
    expect(await activityCount("totp_disabled")).toBe(before);
  });

  it("confirming TOTP answers {} and keeps the backup codes; other sessions are still revoked", async () => {
    const other = owner.device();
    expect((await other.login({ passkey: await assertion() })).status).toBe(200);
    await reauthWithPasskey();
    const enabledBefore = await activityCount("totp_enabled");

    const res = await enrolAndConfirm();
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toEqual({});
    expect(await storedBackupCodesAre(backupCodes)).toBe(true);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 1, backupCodesRemaining: 10 });
    expect(await activityCount("totp_enabled")).toBe(enabledBefore + 1);
    expect((await other.api("GET", "/api/sessions")).status).toBe(401);

    // The new secret works, and so does a backup code from the passkey's set.
    expect((await owner.device().login({ totp: await totp.nextCode() })).status).toBe(200);
    expect((await owner.device().login({ backupCode: backupCodes[0] })).status).toBe(200);
  });

  it("re-enrolling TOTP (a new phone) answers {} too, and the remaining codes stay", async () => {
    await reauthWithPasskey();
    const old = totp;
    const res = await enrolAndConfirm();
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toEqual({});
    expect(await storedBackupCodesAre(backupCodes.slice(1))).toBe(true);
    expect((await owner.device().login({ totp: await old.nextCode() })).status).toBe(401);
    expect((await owner.device().login({ totp: await totp.nextCode() })).status).toBe(200);
  });
});
