/**
 * docs/api.md §12 with §8: a passkey next to TOTP. A passkey in place of a code at
 * DELETE /api/2fa/totp and POST /api/2fa/backup-codes; removing TOTP keeps 2FA
 * (and the backup codes) on while a passkey is left; removing a passkey while TOTP
 * is on needs no factor in the body.
 */
import { describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { LOCKOUT_THRESHOLD } from "../../src/domain/totp";
import { base64urlDecode } from "../../src/lib/bytes";
import { advanceClock, serverNowMs } from "../helpers/clock";
import { json, type OwnerClient } from "../helpers/owner";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { enrolTotp, lockoutRow, reauthWithCode, type Enrolled } from "../helpers/twoFactor";
import { claimedOwner, TEST_ORIGIN } from "../helpers/workers";

const RP_ID = new URL(TEST_ORIGIN).hostname;
const bytes = (b64: string) => base64urlDecode(b64)!;

let owner: OwnerClient;
let totp: Enrolled;
let key: SoftAuthenticator;
let userHandle: string;

async function assertion(tamper?: { badSignature?: boolean }) {
  const res = await owner.request("POST", "/auth/passkey/options");
  expect(res.status).toBe(200);
  const { options } = await json<{ options: { challenge: string } }>(res);
  return key.authenticate({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle, tamper });
}

async function addPasskey(authr: SoftAuthenticator) {
  const res = await owner.api("POST", "/api/passkeys/options");
  expect(res.status, await res.clone().text()).toBe(200);
  const { options } = await json<{ options: { challenge: string; user: { id: string } } }>(res);
  userHandle = options.user.id;
  const credential = await authr.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
  return owner.api("POST", "/api/passkeys", { credential });
}

describe("a passkey next to TOTP", { timeout: 60_000 }, () => {
  it("adding a passkey while TOTP is on returns no backup codes and revokes nothing", async () => {
    owner = await claimedOwner();
    totp = await enrolTotp(owner);
    const other = owner.device();
    expect((await other.login({ totp: await totp.auth.nextCode() })).status).toBe(200);
    expect((await reauthWithCode(owner, { totp: await totp.auth.nextCode() })).status).toBe(200);
    key = await SoftAuthenticator.create({ alg: -257 });
    const res = await addPasskey(key);
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await json<{ backupCodes?: string[] }>(res)).backupCodes).toBeUndefined();
    expect((await other.api("GET", "/api/sessions")).status).toBe(200);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 1, backupCodesRemaining: 10 });
  });

  it("a wrong passkey is refused without touching the TOTP lockout; two factors at once are a 400", async () => {
    const res = await owner.api("POST", "/api/2fa/backup-codes", { passkey: await assertion({ badSignature: true }) });
    expect(res.status).toBe(401);
    expect(await lockoutRow("session")).toBeNull();
    const both = await owner.api("POST", "/api/2fa/backup-codes", { code: "123456", passkey: await assertion() });
    expect(both.status).toBe(400);
  });

  it("a locked TOTP counter does not block a passkey (§12: passkey failures are neither counted by nor blocked by it)", async () => {
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) await owner.api("POST", "/api/2fa/backup-codes", { code: "000000" });
    expect((await lockoutRow("session"))?.locked_until_ms).toBeGreaterThan(serverNowMs());
    expect((await owner.api("POST", "/api/2fa/backup-codes", { code: await totp.auth.nextCode() })).status).toBe(429);
    const res = await owner.api("POST", "/api/2fa/backup-codes", { passkey: await assertion() });
    expect(res.status, await res.clone().text()).toBe(200);
    // Past the lockout, a right code clears the count for the tests below.
    advanceClock(10 * 60_000);
    expect((await reauthWithCode(owner, { totp: await totp.auth.nextCode() })).status).toBe(200);
  });

  it("regenerates backup codes with a passkey", async () => {
    const res = await owner.api("POST", "/api/2fa/backup-codes", { passkey: await assertion() });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await json<{ backupCodes: string[] }>(res)).backupCodes).toHaveLength(10);
  });

  it("removes TOTP with a passkey; 2FA and the backup codes stay while the passkey does", async () => {
    // A ticket the authenticator app earned just before (a thief's, say) dies with it.
    const fetched = await owner.device().request("POST", "/auth/escrow", { body: { totp: await totp.auth.nextCode() } });
    expect(fetched.status, await fetched.clone().text()).toBe(200);
    const { mfaTicket } = await json<{ mfaTicket: string }>(fetched);
    const res = await owner.api("DELETE", "/api/2fa/totp", { passkey: await assertion() });
    expect(res.status, await res.clone().text()).toBe(204);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: false, passkeys: 1, backupCodesRemaining: 10 });
    expect((await owner.device().login({ mfaTicket })).status).toBe(401);
    // A TOTP code now proves nothing; the login still needs the passkey (or a backup code).
    const withCode = await owner.device().login({ totp: await totp.auth.nextCode() });
    expect(withCode.status).toBe(401);
    expect((await json<{ error: string }>(withCode)).error).toBe("invalid_code");
    const client = owner.device();
    expect((await client.login({ passkey: await assertion() })).status).toBe(200);
    expect(decodeJwt(client.accessToken!).amr).toEqual(["pop", "hwk"]);
  });

  it("removing a passkey voids the mfa tickets still open, such as one that passkey just earned", async () => {
    expect((await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion(), passkey: await assertion() }, bearer: true })).status).toBe(200);
    await owner.login({ passkey: await assertion() });
    const spare = await SoftAuthenticator.create({ alg: -7 });
    expect((await addPasskey(spare)).status).toBe(201);
    const { options } = await json<{ options: { challenge: string } }>(await owner.request("POST", "/auth/passkey/options"));
    const bySpare = await spare.authenticate({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle });
    const escrow = await owner.device().request("POST", "/auth/escrow", { body: { passkey: bySpare } });
    expect(escrow.status, await escrow.clone().text()).toBe(200);
    const { mfaTicket } = await json<{ mfaTicket: string }>(escrow);
    expect(mfaTicket).toBeTruthy();

    expect((await owner.api("DELETE", `/api/passkeys/${spare.credentialIdB64}`)).status).toBe(204);
    const late = await owner.device().login({ mfaTicket });
    expect(late.status).toBe(401);
    expect((await json<{ error: string }>(late)).error).toBe("invalid_code");
  });

  it("old backup codes died with the regeneration; the last passkey goes with a factor, and 2FA is off", async () => {
    const res = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion(), backupCode: totp.backupCodes[0] }, bearer: true });
    // The set was regenerated above: the old codes are gone.
    expect(res.status).toBe(401);
    const bare = await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`);
    expect(bare.status).toBe(400);
    const removed = await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`, { passkey: await assertion() });
    expect(removed.status, await removed.clone().text()).toBe(204);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
  });
});
