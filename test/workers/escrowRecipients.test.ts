/**
 * Two-factor authentication may not turn off while the newest escrow opens with more
 * than the password (docs/threat-model.md, finding 21). With 2FA off, POST
 * /auth/escrow hands anyone the blob: a removed PRF passkey, or a recovery key after
 * its verifier was removed, would open it at once. So the change that would turn 2FA
 * off (DELETE /api/2fa/totp, DELETE /api/passkeys/:id of the last factor) is refused
 * with 403 while the blob names a passkey or recovery recipient, in the transaction
 * that would have turned it off (the factor sent is not spent). A blob for the
 * password alone lets it through.
 */
import { describe, expect, it } from "vitest";
import { base64urlDecode } from "../../src/lib/bytes";
import { json, type OwnerClient } from "../helpers/owner";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { enrolTotp, reauthWithCode, type Enrolled } from "../helpers/twoFactor";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const RP_ID = new URL(TEST_ORIGIN).hostname;
const bytes = (b64: string) => base64urlDecode(b64)!;
const REFUSED = /still opens with a passkey or a recovery key/;

/** A format 2 blob's outline (the server reads only the recipients' kids). */
function blob(...kids: string[]): string {
  return JSON.stringify({
    protected: "eyJhbGciOiJkaXIifQ",
    recipients: ["password", ...kids].map((kid, i) => ({ header: { alg: i ? "ECDH-ES+A256KW" : "A256KW", kid }, encrypted_key: "AAAA" })),
    iv: "AAAA",
    ciphertext: "AAAA",
    tag: "AAAA",
  });
}

let owner: OwnerClient;
let totp: Enrolled;
let key: SoftAuthenticator;
let userHandle: string;
let version = 1;

async function twoFactor() {
  return await json<{ enabled: boolean; totp: boolean; passkeys: number; backupCodesRemaining: number }>(await owner.api("GET", "/api/2fa"));
}

async function saveEscrow(b: string): Promise<void> {
  const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: b });
  expect(res.status, await res.clone().text()).toBe(200);
  version++;
}

async function addPasskey(): Promise<void> {
  key = await SoftAuthenticator.create({ alg: -7 });
  const { options } = await json<{ options: { challenge: string; user: { id: string } } }>(await owner.api("POST", "/api/passkeys/options"));
  userHandle = options.user.id;
  const credential = await key.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
  const res = await owner.api("POST", "/api/passkeys", { credential, prf: true });
  expect(res.status, await res.clone().text()).toBe(201);
}

async function passkeyAssertion() {
  const { options } = await json<{ options: { challenge: string } }>(await owner.request("POST", "/auth/passkey/options"));
  return key.authenticate({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle });
}

async function reauthWithPasskey(): Promise<void> {
  const res = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion(), passkey: await passkeyAssertion() }, bearer: true });
  expect(res.status, await res.clone().text()).toBe(200);
  owner.accessToken = (await json<{ accessToken: string }>(res)).accessToken;
}

async function expectRefusal(res: Response): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(403);
  const body = await json<{ error: string; message: string }>(res);
  expect(body).toMatchObject({ error: "forbidden", message: expect.stringMatching(REFUSED) });
}

describe("2FA stays on while the escrow opens with a passkey or recovery key", { timeout: 90_000 }, () => {
  it("a removed passkey still in the blob: turning TOTP off is refused, and the backup code sent is not spent", async () => {
    owner = await claimedOwner();
    totp = await enrolTotp(owner);
    expect((await reauthWithCode(owner, { totp: await totp.auth.nextCode() })).status).toBe(200);
    await addPasskey();
    await saveEscrow(blob(`passkey:${key.credentialIdB64}`));
    // TOTP keeps 2FA on, so removing the passkey is allowed; the blob still names it.
    expect((await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`)).status).toBe(204);

    await expectRefusal(await owner.api("DELETE", "/api/2fa/totp", { backupCode: totp.backupCodes[0] }));
    expect(await twoFactor()).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    expect((await reauthWithCode(owner, { backupCode: totp.backupCodes[0]! })).status).toBe(200);
    expect((await twoFactor()).backupCodesRemaining).toBe(9);
    // Nobody without a factor gets the blob meanwhile.
    const stranger = await selfFetch(new Request(`${TEST_ORIGIN}/auth/escrow`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }));
    expect(stranger.status).toBe(401);
  });

  it("a recovery recipient left after its verifier went counts too", async () => {
    await saveEscrow(blob(`recovery:${"A".repeat(43)}`));
    await expectRefusal(await owner.api("DELETE", "/api/2fa/totp", { code: await totp.auth.nextCode() }));
    expect((await twoFactor()).enabled).toBe(true);
  });

  it("once the blob opens with the password alone, TOTP goes and 2FA is off", async () => {
    await saveEscrow(blob());
    const res = await owner.api("DELETE", "/api/2fa/totp", { backupCode: totp.backupCodes[1] });
    expect(res.status, await res.clone().text()).toBe(204);
    expect((await twoFactor()).enabled).toBe(false);
  });

  it("with 2FA off, a blob that opens with a key is not stored", async () => {
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: blob(`recovery:${"A".repeat(43)}`) });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "forbidden", message: expect.stringMatching(/needs two-factor authentication on/) });
    expect((await json<{ version: number }>(await owner.api("GET", "/api/escrow"))).version).toBe(version);
  });

  it("the last passkey, which the blob names, is refused with its own assertion; without it in the blob it goes", async () => {
    expect((await owner.login()).status).toBe(200);
    await addPasskey(); // the only factor: 2FA is on again
    await reauthWithPasskey();
    await saveEscrow(blob(`passkey:${key.credentialIdB64}`));
    await expectRefusal(await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`, { passkey: await passkeyAssertion() }));
    expect(await twoFactor()).toMatchObject({ enabled: true, passkeys: 1 });

    await reauthWithPasskey();
    await saveEscrow(blob());
    const res = await owner.api("DELETE", `/api/passkeys/${key.credentialIdB64}`, { passkey: await passkeyAssertion() });
    expect(res.status, await res.clone().text()).toBe(204);
    expect((await twoFactor()).enabled).toBe(false);
  });
});
