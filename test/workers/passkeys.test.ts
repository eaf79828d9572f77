/**
 * docs/api.md §12 through the public routes, with the soft authenticator
 * (test/helpers/softAuthenticator.ts): registration, the passkey as a second factor
 * at /auth/login, /auth/escrow and /auth/reauth, every refusal of issue #12's "Bad
 * input" list (each a 4xx, never a 5xx), one response used 20 times at once, the
 * first passkey revoking other sessions, and removing the last factor.
 * The tests in this file run in order on one instance; each describe block sets up
 * what it needs (a passkey, a step-up) itself, so that it also passes alone.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { decodeJwt } from "jose";
import { base64urlDecode } from "../../src/lib/bytes";
import { advanceClock } from "../helpers/clock";
import { json, OwnerClient } from "../helpers/owner";
import { SoftAuthenticator, type Tamper } from "../helpers/softAuthenticator";
import { activityCount, lockoutRow, sqlInInstance, statusCounts } from "../helpers/twoFactor";
import { ageLogin, claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

const RP_ID = new URL(TEST_ORIGIN).hostname;

let owner: OwnerClient;
let device: SoftAuthenticator;
let userHandle: string;

beforeAll(async () => {
  owner = await claimedOwner();
  device = await SoftAuthenticator.create({ alg: -7 });
});

const bytes = (b64: string) => base64urlDecode(b64)!;

/** Every refused passkey at /auth/login and /auth/escrow: one body, whatever the reason (the log has it). */
const PUBLIC_PASSKEY_REFUSAL = { error: "invalid_code", message: "The passkey was not accepted." };

async function errorOf(res: Response): Promise<string> {
  return (await json<{ error: string }>(res)).error;
}

async function creationOptions(client: OwnerClient = owner) {
  const res = await client.api("POST", "/api/passkeys/options");
  expect(res.status, await res.clone().text()).toBe(200);
  const { options } = await json<{ options: { challenge: string; user: { id: string } } }>(res);
  userHandle = options.user.id;
  return options;
}

/** Options, a (possibly tampered) registration response, and POST /api/passkeys. */
async function register(authr: SoftAuthenticator, tamper?: Tamper, extra: Record<string, unknown> = {}, client = owner) {
  const options = await creationOptions(client);
  const credential = await authr.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, tamper });
  return client.api("POST", "/api/passkeys", { credential, ...extra });
}

async function requestChallenge(): Promise<Uint8Array> {
  const res = await owner.request("POST", "/auth/passkey/options");
  expect(res.status, await res.clone().text()).toBe(200);
  const { options } = await json<{ options: { challenge: string; rpId: string; allowCredentials: unknown[] } }>(res);
  expect(options.rpId).toBe(RP_ID);
  expect(options.allowCredentials).toEqual([]);
  return bytes(options.challenge);
}

/** A fresh assertion from `authr` over a live authentication challenge. */
async function assertion(authr: SoftAuthenticator = device, tamper?: Tamper, challenge?: Uint8Array) {
  return authr.authenticate({ challenge: challenge ?? (await requestChallenge()), origin: TEST_ORIGIN, rpId: RP_ID, userHandle, tamper });
}

async function loginWith(passkey: unknown, client: OwnerClient = owner.device()) {
  return client.login({ passkey });
}

/**
 * Holds the object's ECDSA signature checks (the ES256 `device` passkey's; the
 * owner's assertions are Ed25519) until `n` are waiting, then lets them all go, so
 * that `n` concurrent uses of one response have all read the challenge as live
 * before any of them spends it. WebCrypto in workerd resolves at once, so without
 * this the first request would finish before the next one started. Returns the
 * undo; the test shares the object's isolate, as test/helpers/clock.ts does.
 */
function holdPasskeySignatureChecks(n: number): () => void {
  const verify = crypto.subtle.verify.bind(crypto.subtle);
  const waiting: Array<() => void> = [];
  const spy = vi.spyOn(crypto.subtle, "verify").mockImplementation(async (algorithm, key, signature, data) => {
    if (typeof algorithm === "object" && algorithm.name === "ECDSA") {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === n) for (const go of waiting) go();
      });
    }
    return verify(algorithm, key, signature, data);
  });
  return () => spy.mockRestore();
}

/** Step-up with a passkey: a token whose amr has hwk/swk. */
async function reauthWithPasskey(authr: SoftAuthenticator = device) {
  const res = await owner.request("POST", "/auth/reauth", {
    body: { assertion: await owner.assertion(), passkey: await assertion(authr) },
    bearer: true,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  owner.accessToken = (await json<{ accessToken: string }>(res)).accessToken;
}

/**
 * The `device` passkey registered unless it is (by "the first passkey", or here when a
 * later block runs alone). While there is none 2FA is off, so a plain reauth is the
 * step-up that registering needs.
 */
async function ensureDevicePasskey() {
  const { passkeys } = await json<{ passkeys: Array<{ id: string }> }>(await owner.api("GET", "/api/passkeys"));
  if (passkeys.some((p) => p.id === device.credentialIdB64)) return;
  expect(passkeys).toEqual([]);
  const reauth = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion() }, bearer: true });
  expect(reauth.status, await reauth.clone().text()).toBe(200);
  owner.accessToken = (await json<{ accessToken: string }>(reauth)).accessToken;
  const res = await register(device, undefined, { name: "Laptop", prf: true });
  expect(res.status, await res.clone().text()).toBe(201);
}

describe("before any passkey", { timeout: 60_000 }, () => {
  it("reports none, and the public options answer 404", async () => {
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    expect((await json<{ passkey: boolean }>(await owner.request("POST", "/auth/challenge"))).passkey).toBe(false);
    const res = await owner.request("POST", "/auth/passkey/options");
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toBe("not_found");
    expect(await json(await owner.api("GET", "/api/passkeys"))).toEqual({ passkeys: [] });
  });

  it("refuses passkeys on an ORIGIN whose host is an IP address, saying so", async () => {
    const ipOwner = new OwnerClient(fetchWithVars({ ORIGIN: "https://192.0.2.7" }), "https://192.0.2.7", owner.keys);
    const res = await ipOwner.request("POST", "/auth/passkey/options");
    expect(res.status).toBe(400);
    const body = await json<{ error: string; message: string }>(res);
    expect(body.error).toBe("invalid_request");
    expect(body.message).toMatch(/IP address/);
  });

  it("refuses creation options on an IP-address ORIGIN too, to a live session with step-up", async () => {
    const ipOwner = new OwnerClient(fetchWithVars({ ORIGIN: "https://192.0.2.7" }), "https://192.0.2.7", owner.keys);
    expect((await ipOwner.login()).status).toBe(200);
    const res = await ipOwner.api("POST", "/api/passkeys/options");
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request", message: expect.stringMatching(/IP address/) });
  });

  it("takes a plain-http localhost ORIGIN only with ALLOW_INSECURE_FEDERATION (the contract's settings)", async () => {
    const origin = "http://localhost:8787";
    const without = new OwnerClient(fetchWithVars({ ORIGIN: origin, ALLOW_INSECURE_FEDERATION: "0" }), origin, owner.keys);
    const refused = await without.request("POST", "/auth/passkey/options");
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ error: "invalid_request", message: expect.stringMatching(/https/) });
    const allowed = new OwnerClient(fetchWithVars({ ORIGIN: origin, ALLOW_INSECURE_FEDERATION: "1" }), origin, owner.keys);
    // No passkey is registered yet: the relying party is fine, so the answer is 404.
    expect((await allowed.request("POST", "/auth/passkey/options")).status).toBe(404);
  });

  it("gives creation options as §12 lists them", async () => {
    const res = await owner.api("POST", "/api/passkeys/options");
    const { options } = await json<Record<string, any>>(res);
    expect(options.rp).toEqual({ id: RP_ID, name: RP_ID });
    expect(options.user.name).toBe(`owner@${RP_ID}`);
    expect(bytes(options.user.id).length).toBe(32);
    expect(bytes(options.challenge).length).toBe(32);
    expect(options.authenticatorSelection).toEqual({ residentKey: "required", requireResidentKey: true, userVerification: "required" });
    expect(options.attestation).toBe("none");
    expect(options.timeout).toBe(300_000);
    expect(options.extensions).toEqual({ prf: {} });
    expect(options.excludeCredentials).toEqual([]);
    // The user handle is fixed: a second call names the same one.
    expect((await creationOptions()).user.id).toBe(options.user.id);
  });
});

describe("registration refusals: 400 invalid_request", { timeout: 60_000 }, () => {
  const cases: Array<[string, Tamper | undefined, Partial<Parameters<typeof SoftAuthenticator.create>[0]>]> = [
    ["wrong origin", { origin: "https://evil.example" }, {}],
    ["cross-origin", { crossOrigin: true }, {}],
    ["topOrigin present", { topOrigin: "https://evil.example" }, {}],
    ["wrong RP ID hash", { rpId: "evil.example" }, {}],
    ["UV unset", { uv: false }, {}],
    ["UP unset", { up: false }, {}],
    ["the other ceremony's type", { type: "webauthn.get" }, {}],
    ["BS without BE", { be: false, bs: true }, {}],
    ["an unsupported algorithm (ES384)", undefined, { alg: -35 }],
  ];
  for (const [name, tamper, options] of cases) {
    it(`refuses ${name}`, async () => {
      const res = await register(await SoftAuthenticator.create(options ?? {}), tamper);
      expect(res.status, await res.clone().text()).toBe(400);
      expect(await errorOf(res)).toBe("invalid_request");
    });
  }

  it("refuses a malformed and an oversized response before parsing", async () => {
    const options = await creationOptions();
    const good = await device.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    const garbled = { ...good, response: { ...good.response, attestationObject: "AAAA" } };
    const r1 = await owner.api("POST", "/api/passkeys", { credential: garbled });
    expect(r1.status).toBe(400);
    const r2 = await owner.api("POST", "/api/passkeys", { credential: { ...good, response: { ...good.response, clientDataJSON: "not base64!" } } });
    expect(r2.status).toBe(400);
    const huge = await SoftAuthenticator.create({ credentialIdBytes: 1100 });
    const r3 = await register(huge);
    expect(r3.status).toBe(400);
    const r4 = await owner.api("POST", "/api/passkeys", "{not json");
    expect(r4.status).toBe(400);
  });

  it("refuses a replayed and a stale challenge, and another session's", async () => {
    const options = await creationOptions();
    const first = await device.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID, tamper: { uv: false } });
    expect((await owner.api("POST", "/api/passkeys", { credential: first })).status).toBe(400);
    // The failed attempt spent the challenge: an honest response over it is refused too.
    const replay = await device.register({ challenge: bytes(options.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    const r1 = await owner.api("POST", "/api/passkeys", { credential: replay });
    expect(r1.status).toBe(400);
    expect((await json<{ message: string }>(r1)).message).toMatch(/no live challenge/);

    const stale = await creationOptions();
    advanceClock(301_000);
    const late = await device.register({ challenge: bytes(stale.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    expect((await owner.api("POST", "/api/passkeys", { credential: late })).status).toBe(400);
    // Step-up is stale now too; log in again for what follows.
    expect((await owner.login()).status).toBe(200);

    const other = owner.device();
    expect((await other.login()).status).toBe(200);
    const theirs = await creationOptions(other);
    const mine = await device.register({ challenge: bytes(theirs.challenge), origin: TEST_ORIGIN, rpId: RP_ID });
    expect((await owner.api("POST", "/api/passkeys", { credential: mine })).status).toBe(400);
    expect(await json(await owner.api("GET", "/api/passkeys"))).toEqual({ passkeys: [] });
  });
});

describe("the first passkey", { timeout: 60_000 }, () => {
  it("turns 2FA on, returns backup codes and revokes every other session", async () => {
    const other = owner.device();
    expect((await other.login()).status).toBe(200);

    const res = await register(device, undefined, { name: "Laptop", prf: true });
    expect(res.status, await res.clone().text()).toBe(201);
    const body = await json<{ passkey: Record<string, unknown>; backupCodes?: string[] }>(res);
    expect(body.passkey).toMatchObject({ id: device.credentialIdB64, name: "Laptop", backedUp: false, prf: true, lastUsedAt: null });
    expect(body.backupCodes).toHaveLength(10);
    // No extension results are stored or echoed.
    expect(JSON.stringify(body)).not.toContain("enabled");

    const revoked = await other.api("GET", "/api/sessions");
    expect(revoked.status).toBe(401);
    expect(await errorOf(revoked)).toBe("session_revoked");
    expect((await owner.api("GET", "/api/sessions")).status).toBe(200);

    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: false, passkeys: 1, backupCodesRemaining: 10 });
    expect((await json<{ mfa: boolean; passkey: boolean }>(await owner.request("POST", "/auth/challenge")))).toMatchObject({ mfa: true, passkey: true });
    expect(await activityCount("passkey_added")).toBe(1);
  });

  it("is refused a second time (already registered)", async () => {
    // Step-up now needs a second factor.
    expect((await owner.api("POST", "/api/passkeys/options")).status).toBe(403);
    await reauthWithPasskey();
    expect(decodeJwt(owner.accessToken!).amr).toEqual(["pop", "hwk"]);
    const res = await register(device);
    expect(res.status).toBe(400);
  });
});

describe("a passkey as the second factor", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    await ensureDevicePasskey();
    // A fresh step-up with the passkey, for the routes below that need one.
    await reauthWithPasskey();
  });

  it("logs in with amr hwk; without a factor the login needs one", async () => {
    const none = await owner.device().login();
    expect(none.status).toBe(401);
    expect(await errorOf(none)).toBe("mfa_required");
    const client = owner.device();
    const res = await loginWith(await assertion(), client);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(decodeJwt(client.accessToken!).amr).toEqual(["pop", "hwk"]);
    const listed = await json<{ passkeys: Array<{ lastUsedAt: number | null }> }>(await owner.api("GET", "/api/passkeys"));
    expect(listed.passkeys[0]!.lastUsedAt).not.toBeNull();
  });

  it("opens the escrow, and the ticket carries the passkey's amr", async () => {
    const res = await owner.request("POST", "/auth/escrow", { body: { passkey: await assertion() } });
    expect(res.status, await res.clone().text()).toBe(200);
    const { mfaTicket } = await json<{ mfaTicket: string }>(res);
    const client = owner.device();
    expect((await client.login({ mfaTicket })).status).toBe(200);
    expect(decodeJwt(client.accessToken!).amr).toEqual(["pop", "hwk"]);
  });

  const refusals: Array<[string, () => Promise<unknown>]> = [
    ["wrong origin", async () => assertion(device, { origin: "https://evil.example" })],
    ["cross-origin", async () => assertion(device, { crossOrigin: true })],
    ["topOrigin present", async () => assertion(device, { topOrigin: "https://evil.example" })],
    ["wrong RP ID hash", async () => assertion(device, { rpId: "evil.example" })],
    ["UV unset", async () => assertion(device, { uv: false })],
    ["the other ceremony's type", async () => assertion(device, { type: "webauthn.create" })],
    ["a bad signature", async () => assertion(device, { badSignature: true })],
    ["backup flags contradicting the stored ones (BE now set)", async () => assertion(device, { be: true, bs: false })],
    ["another user handle", async () => assertion(device, { userHandle: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })],
    ["an unknown credential", async () => assertion(await SoftAuthenticator.create())],
    [
      "a registration challenge (the other ceremony)",
      async () => device.authenticate({ challenge: bytes((await creationOptions()).challenge), origin: TEST_ORIGIN, rpId: RP_ID, userHandle }),
    ],
    [
      "a stale challenge",
      async () => {
        const challenge = await requestChallenge();
        advanceClock(301_000);
        return assertion(device, undefined, challenge);
      },
    ],
  ];
  for (const [name, make] of refusals) {
    it(`refuses ${name}: 401 invalid_code, outside the TOTP lockout, in the one public answer`, async () => {
      const res = await loginWith(await make());
      expect(res.status, await res.clone().text()).toBe(401);
      expect(await json(res)).toEqual(PUBLIC_PASSKEY_REFUSAL);
      expect(await lockoutRow("session")).toBeNull();
    });
  }

  it("at /auth/escrow a stranger gets one answer, whether the credential is registered and whether it is synced", async () => {
    const stranger = await OwnerClient.create(owner.fetcher, TEST_ORIGIN);
    const answer = async (passkey: unknown) => {
      const res = await stranger.request("POST", "/auth/escrow", { body: { passkey }, cookie: null });
      return { status: res.status, body: await res.text() };
    };
    const unknown = await answer(await assertion(await SoftAuthenticator.create(), { badSignature: true }));
    const registered = await answer(await assertion(device, { badSignature: true }));
    const beChanged = await answer(await assertion(device, { badSignature: true, be: true }));
    expect(unknown).toEqual({ status: 401, body: JSON.stringify(PUBLIC_PASSKEY_REFUSAL) });
    expect(registered).toEqual(unknown);
    expect(beChanged).toEqual(unknown);
  });

  it("a session's own routes still say what was wrong with the passkey", async () => {
    const res = await owner.request("POST", "/auth/reauth", {
      body: { assertion: await owner.assertion(), passkey: await assertion(device, { badSignature: true }) },
      bearer: true,
    });
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ error: "invalid_code", message: "The passkey's signature is invalid." });
  });

  it("refuses a replayed response", async () => {
    const response = await assertion();
    expect((await loginWith(response)).status).toBe(200);
    const again = await loginWith(response);
    expect(again.status).toBe(401);
    expect(await errorOf(again)).toBe("invalid_code");
  });

  it("refuses a malformed or oversized response with 400", async () => {
    const good = await assertion();
    const r1 = await loginWith({ ...good, response: { ...good.response, signature: "x".repeat(2000) } });
    expect(r1.status).toBe(400);
    const r2 = await loginWith({ ...good, rawId: "different" });
    expect(r2.status).toBe(400);
    const r3 = await loginWith({ ...good, response: { ...good.response, authenticatorData: "AAAA" } });
    expect(r3.status).toBe(400);
    const r4 = await owner.device().login({ passkey: good, totp: "123456" });
    expect(r4.status).toBe(400);
  });

  it("refuses a device-bound counter going backwards, logging passkey_clone_suspected, and never lowers it", async () => {
    const before = await activityCount("passkey_clone_suspected");
    const res = await loginWith(await assertion(device, { signCount: 1 }));
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toBe("invalid_code");
    expect(await activityCount("passkey_clone_suspected")).toBe(before + 1);
    // The authenticator's own next counter is still above the stored one.
    expect((await loginWith(await assertion())).status).toBe(200);
  });

  it("logs passkey_clone_suspected once when one backwards assertion is sent 20 times at once", async () => {
    const before = await activityCount("passkey_clone_suspected");
    const response = await assertion(device, { signCount: 1 });
    // All 20 are held inside the object between reading the challenge and spending it.
    const release = holdPasskeySignatureChecks(20);
    let results: Response[];
    try {
      results = await Promise.all(Array.from({ length: 20 }, () => loginWith(response)));
    } finally {
      release();
    }
    expect(statusCounts(results)).toEqual({ 401: 20 });
    // A public route names no reason (one message for every passkey refusal): the
    // activity log is where the one request that spent the challenge and met the
    // counter rule shows.
    const messages = await Promise.all(results.map(async (r) => (await json<{ message: string }>(r)).message));
    expect(new Set(messages)).toEqual(new Set(["The passkey was not accepted."]));
    expect(await activityCount("passkey_clone_suspected")).toBe(before + 1);
    expect((await loginWith(await assertion())).status).toBe(200);
  });

  it("accepts one response once when it is sent 20 times at once", async () => {
    const response = await assertion();
    const assertions = await Promise.all(Array.from({ length: 20 }, () => owner.assertion()));
    const results = await Promise.all(
      assertions.map((a) => owner.device().fetcher(
        new Request(`${TEST_ORIGIN}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ assertion: a, passkey: response }),
        }),
      )),
    );
    expect(statusCounts(results)).toEqual({ 200: 1, 401: 19 });
  });
});

describe("managing passkeys", { timeout: 90_000 }, () => {
  let synced: SoftAuthenticator;

  beforeAll(async () => {
    await ensureDevicePasskey();
  });

  it("a synced passkey gives amr swk; no new backup codes for the second passkey", async () => {
    await reauthWithPasskey();
    synced = await SoftAuthenticator.create({ alg: -8, backupEligible: true, fixedZeroCounter: true });
    const res = await register(synced, undefined, { name: "Phone" });
    expect(res.status, await res.clone().text()).toBe(201);
    const body = await json<{ passkey: { backedUp: boolean }; backupCodes?: string[] }>(res);
    expect(body.passkey.backedUp).toBe(true);
    expect(body.backupCodes).toBeUndefined();
    const client = owner.device();
    expect((await loginWith(await assertion(synced), client)).status).toBe(200);
    expect(decodeJwt(client.accessToken!).amr).toEqual(["pop", "swk"]);
    // A synced passkey that never counts passes again.
    expect((await loginWith(await assertion(synced))).status).toBe(200);
  });

  it("lists every registered passkey in the creation options' excludeCredentials", async () => {
    await reauthWithPasskey(synced);
    const options = (await creationOptions()) as { excludeCredentials?: unknown };
    expect(options.excludeCredentials).toEqual([
      { type: "public-key", id: device.credentialIdB64 },
      { type: "public-key", id: synced.credentialIdB64 },
    ]);
  });

  it("renames with step-up", async () => {
    await reauthWithPasskey(synced);
    const res = await owner.api("PATCH", `/api/passkeys/${synced.credentialIdB64}`, { name: "My phone", prf: true });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toMatchObject({ id: synced.credentialIdB64, name: "My phone", prf: true });
    const missing = await owner.api("PATCH", `/api/passkeys/${(await SoftAuthenticator.create()).credentialIdB64}`, { name: "x" });
    expect(missing.status).toBe(404);
  });

  it("renaming and removing need a fresh login with its second factor (step-up)", async () => {
    await ageLogin(owner, 3_600);
    for (const [method, body] of [["PATCH", { name: "x" }], ["DELETE", undefined]] as const) {
      const res = await owner.api(method, `/api/passkeys/${synced.credentialIdB64}`, body);
      expect(res.status, `${method}: ${await res.clone().text()}`).toBe(403);
      expect(await json(res)).toMatchObject({ error: "step_up_required" });
    }
    expect((await json<{ passkeys: Array<{ id: string; name: string }> }>(await owner.api("GET", "/api/passkeys"))).passkeys).toContainEqual(
      expect.objectContaining({ id: synced.credentialIdB64, name: "My phone" }),
    );
  });

  it("refuses an 11th passkey", async () => {
    await reauthWithPasskey();
    for (let n = 3; n <= 10; n++) {
      const res = await register(await SoftAuthenticator.create());
      expect(res.status, `passkey ${n}: ${await res.clone().text()}`).toBe(201);
    }
    const eleventh = await register(await SoftAuthenticator.create());
    expect(eleventh.status).toBe(400);
    expect(await errorOf(eleventh)).toBe("invalid_request");
    expect((await json<{ passkeys: unknown[] }>(await owner.api("GET", "/api/passkeys"))).passkeys).toHaveLength(10);
  });

  it("removes passkeys; the last factor needs a factor in the body, then 2FA is off", async () => {
    await reauthWithPasskey();
    const listed = await json<{ passkeys: Array<{ id: string }> }>(await owner.api("GET", "/api/passkeys"));
    const others = listed.passkeys.map((p) => p.id).filter((id) => id !== device.credentialIdB64);
    for (const id of others) expect((await owner.api("DELETE", `/api/passkeys/${id}`)).status).toBe(204);
    expect(await activityCount("passkey_removed")).toBe(9);

    const bare = await owner.api("DELETE", `/api/passkeys/${device.credentialIdB64}`);
    expect(bare.status).toBe(400);
    expect(await errorOf(bare)).toBe("invalid_request");
    const wrong = await owner.api("DELETE", `/api/passkeys/${device.credentialIdB64}`, {
      passkey: await assertion(device, { badSignature: true }),
    });
    expect(wrong.status).toBe(401);
    const ok = await owner.api("DELETE", `/api/passkeys/${device.credentialIdB64}`, { passkey: await assertion() });
    expect(ok.status, await ok.clone().text()).toBe(204);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    expect((await owner.request("POST", "/auth/passkey/options")).status).toBe(404);
  });
});

describe("a synced passkey's backup state and counter (WebAuthn L3 §6.1.1, §6.1.3)", { timeout: 60_000 }, () => {
  let synced: SoftAuthenticator;
  const stored = async () => {
    const [row] = await sqlInInstance<{ sign_count: number; backed_up: number }>(
      "SELECT sign_count, backed_up FROM passkeys WHERE credential_id = ?",
      synced.credentialIdB64,
    );
    if (!row) throw new Error("the passkey is not stored");
    return row;
  };

  beforeAll(async () => {
    await ensureDevicePasskey();
    await reauthWithPasskey();
    // Backup-eligible, not yet backed up, and counting from 5.
    synced = await SoftAuthenticator.create({ alg: -8, backupEligible: true, backedUp: false, signCount: 5 });
    const res = await register(synced, undefined, { name: "Tablet" });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await json<{ passkey: { backedUp: boolean } }>(res)).passkey.backedUp).toBe(false);
  });

  it("records the backup state each use reports (BS), so the listing follows the authenticator", async () => {
    expect((await loginWith(await assertion(synced, { bs: true }))).status).toBe(200);
    const listed = await json<{ passkeys: Array<{ id: string; backedUp: boolean }> }>(await owner.api("GET", "/api/passkeys"));
    expect(listed.passkeys.find((p) => p.id === synced.credentialIdB64)?.backedUp).toBe(true);
    expect(await stored()).toEqual({ sign_count: 6, backed_up: 1 });
  });

  it("accepts a synced passkey's counter going backwards, logs it as not refused, and never lowers the stored counter", async () => {
    const before = await activityCount("passkey_clone_suspected");
    expect((await loginWith(await assertion(synced, { signCount: 2 }))).status).toBe(200);
    expect(await activityCount("passkey_clone_suspected")).toBe(before + 1);
    const entries = await sqlInInstance<{ detail: string }>(
      "SELECT detail FROM activity WHERE type = 'passkey_clone_suspected' ORDER BY id DESC LIMIT 1",
    );
    expect(JSON.parse(entries[0]!.detail)).toEqual({ id: synced.credentialIdB64, refused: false });
    expect((await stored()).sign_count).toBe(6);
    // Had it been lowered to 2, a 3 would pass unsuspected; against 6 it is suspected again.
    expect((await loginWith(await assertion(synced, { signCount: 3 }))).status).toBe(200);
    expect(await activityCount("passkey_clone_suspected")).toBe(before + 2);
    expect((await stored()).sign_count).toBe(6);
  });
});
