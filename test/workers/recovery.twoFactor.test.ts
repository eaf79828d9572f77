/**
 * A recovery key needs two-factor authentication (docs/recovery.md, "Where this
 * differs from the protocol"; docs/api.md §13). With 2FA off, POST /auth/escrow hands
 * anyone the blob and the recovery key opens it at once, with no wait: so
 * PUT /api/recovery {verifier} is refused while 2FA is off, and removing the last
 * second factor (DELETE /api/2fa/totp, DELETE /api/passkeys/:id) is refused while a
 * verifier is set up, without spending the factor that was sent. Both checks are made
 * in the transaction that would change the state, so racing the two cannot leave a
 * verifier behind with 2FA off.
 */
import { describe, expect, it } from "vitest";
import { base64urlDecode } from "../../src/lib/bytes";
import { json, type OwnerClient } from "../helpers/owner";
import { makeRecoveryVerifier, type RecoveryVerifier } from "../helpers/recovery";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { enrolTotp, reauthWithCode, type Enrolled } from "../helpers/twoFactor";
import { claimedOwner, TEST_ORIGIN } from "../helpers/workers";

const RP_ID = new URL(TEST_ORIGIN).hostname;
const bytes = (b64: string) => base64urlDecode(b64)!;

let owner: OwnerClient;
let verifier: RecoveryVerifier;
let totp: Enrolled;
let key: SoftAuthenticator;
let userHandle: string;

async function twoFactor() {
  return await json<{ enabled: boolean; totp: boolean; passkeys: number; backupCodesRemaining: number }>(await owner.api("GET", "/api/2fa"));
}

async function configured(): Promise<boolean> {
  return (await json<{ configured: boolean }>(await owner.api("GET", "/api/recovery"))).configured;
}

async function passkeyAssertion() {
  const { options } = await json<{ options: { challenge: string } }>(await owner.request("POST", "/auth/passkey/options"));
  return key.authenticate({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle });
}

async function expectRefusal(res: Response, pattern: RegExp): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(403);
  const body = await json<{ error: string; message: string }>(res);
  expect(body.error).toBe("forbidden");
  expect(body.message).toMatch(pattern);
}

describe("a recovery key needs two-factor authentication", { timeout: 90_000 }, () => {
  it("PUT /api/recovery {verifier} is refused while 2FA is off; removing (null) is not", async () => {
    owner = await claimedOwner();
    verifier = await makeRecoveryVerifier();
    await expectRefusal(await owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk }), /Turn on two-factor authentication first/);
    expect(await configured()).toBe(false);
    expect((await owner.api("PUT", "/api/recovery", { verifier: null })).status).toBe(204);

    totp = await enrolTotp(owner);
    expect((await reauthWithCode(owner, { totp: await totp.auth.nextCode() })).status).toBe(200);
    expect((await owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk })).status).toBe(204);
    expect(await configured()).toBe(true);
  });

  it("DELETE /api/2fa/totp of the last factor is refused while a verifier is set up, and the backup code is not spent", async () => {
    const res = await owner.api("DELETE", "/api/2fa/totp", { backupCode: totp.backupCodes[0] });
    await expectRefusal(res, /Remove the recovery key first/);
    expect(await twoFactor()).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    // The refused request rolled back: the same backup code still works.
    expect((await reauthWithCode(owner, { backupCode: totp.backupCodes[0]! })).status).toBe(200);
    expect((await twoFactor()).backupCodesRemaining).toBe(9);
  });

  it("with a passkey left TOTP goes; the last passkey is then refused, with or without a factor", async () => {
    key = await SoftAuthenticator.create({ alg: -7 });
    const opts = await owner.api("POST", "/api/passkeys/options");
    expect(opts.status, await opts.clone().text()).toBe(200);
    const { options } = await json<{ options: { challenge: string; user: { id: string } } }>(opts);
    userHandle = options.user.id;
    const credential = await key.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    expect((await owner.api("POST", "/api/passkeys", { credential })).status).toBe(201);

    // Not the last factor: allowed.
    expect((await owner.api("DELETE", "/api/2fa/totp", { code: await totp.auth.nextCode() })).status).toBe(204);
    expect(await twoFactor()).toMatchObject({ enabled: true, totp: false, passkeys: 1 });

    await expectRefusal(await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`), /Remove the recovery key first/);
    await expectRefusal(
      await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`, { passkey: await passkeyAssertion() }),
      /Remove the recovery key first/,
    );
    expect(await twoFactor()).toMatchObject({ enabled: true, passkeys: 1 });
    expect(await configured()).toBe(true);
  });

  it("once the recovery key is removed, the last factor goes and 2FA is off", async () => {
    expect((await reauthWithCode(owner, { backupCode: totp.backupCodes[1]! })).status).toBe(200);
    expect((await owner.api("PUT", "/api/recovery", { verifier: null })).status).toBe(204);
    const res = await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`, { passkey: await passkeyAssertion() });
    expect(res.status, await res.clone().text()).toBe(204);
    expect(await twoFactor()).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
  });

  it("setting a verifier and removing the last factor at once: never both", async () => {
    for (let round = 0; round < 3; round++) {
      expect((await owner.login()).status).toBe(200);
      totp = await enrolTotp(owner);
      expect((await reauthWithCode(owner, { totp: await totp.auth.nextCode() })).status).toBe(200);
      const [put, del] = await Promise.all([
        owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk }),
        owner.api("DELETE", "/api/2fa/totp", { backupCode: totp.backupCodes[0] }),
      ]);
      const statuses = [put.status, del.status].sort();
      expect(statuses).toEqual([204, 403]);
      const on = (await twoFactor()).enabled;
      expect(await configured()).toBe(on);
      // Back to neither, for the next round.
      if (on) {
        expect((await reauthWithCode(owner, { backupCode: totp.backupCodes[1]! })).status).toBe(200);
        expect((await owner.api("PUT", "/api/recovery", { verifier: null })).status).toBe(204);
        expect((await owner.api("DELETE", "/api/2fa/totp", { backupCode: totp.backupCodes[2] })).status).toBe(204);
      }
    }
  });
});
