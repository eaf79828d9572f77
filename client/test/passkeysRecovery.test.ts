// The passkey and recovery flows of the SDK (docs/api.md §12, §13) against a fake
// server (mocked fetch that keeps the escrow and records every request body) and a
// fake authenticator (navigator.credentials as plain objects, PRF by HMAC). The
// real routes and Chromium's authenticator are exercised by test/browser/.
import { readFileSync } from "node:fs";
import { jwtVerify, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { base64urlEncode } from "../../src/lib/bytes";
import { inspectEscrow, newKeyring, openEscrowWith, sealEscrow, type SealOptions } from "../escrow/escrow";
import { PRF_EVAL_INPUT } from "../escrow/unlockKeys";
import { generatePrivateJwk, publicKeysOf } from "../keys";
import { memoryKeyStore, type KeyStore } from "../keystore";
import { OwnerClient } from "../owner";
import { enablePasskeyUnlock, passkeyFactor, registerPasskey, removePasskey, unlockWithPasskey } from "../passkeys";
import { completeRecovery, finishRecovery, RECOVERY_NEEDS_TWO_FACTOR, setUpRecovery, startRecovery } from "../recovery/api";
import { deriveRecoveryKeys, formatRecoveryKey, parseRecoveryKey } from "../recovery/recoveryKey";
import { combineShares, splitRecoveryKey } from "../recovery/shares";
import { createSession } from "../session";
import type { CredentialsLike } from "../webauthn";

const ORIGIN = "https://id.example.test";
const PASSWORD = "correct horse battery staple, but longer";
const NEW_PASSWORD = "a different, equally long passphrase";
const FAST: SealOptions = { kdf: "pbes2", p2c: 1000, testOnlyAllowWeakParameters: true };
const OPEN = { testOnlyAllowWeakParameters: true };

const enc = new TextEncoder();

/** An access token the session can decode (the fake server does not sign it). */
function token(amr: string[]) {
  const part = (o: unknown) => base64urlEncode(enc.encode(JSON.stringify(o)));
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none" })}.${part({ sid: "s1", auth_time: now, amr, exp: now + 900, iat: now })}.x`;
}

/** A soft authenticator for Node: one key secret per credential, PRF as HMAC-SHA-256(secret, input). */
function fakeAuthenticator(options: { prf: boolean } = { prf: true }) {
  const creds = new Map<string, { secret: Uint8Array<ArrayBuffer> }>();
  let nextId = 1;
  const prfOf = async (secret: Uint8Array<ArrayBuffer>, input: BufferSource) => {
    const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", key, input);
  };
  const seen: { prfOutputs: string[]; lastGet?: CredentialRequestOptions } = { prfOutputs: [] };
  const credentials: CredentialsLike = {
    async create(opts) {
      const id = new Uint8Array(16).fill(nextId++);
      creds.set(base64urlEncode(id), { secret: crypto.getRandomValues(new Uint8Array(32)) });
      expect(opts.publicKey!.extensions).toEqual({ prf: {} });
      return {
        id: base64urlEncode(id),
        rawId: id.buffer,
        type: "public-key",
        authenticatorAttachment: "platform",
        response: { clientDataJSON: enc.encode("{}").buffer, attestationObject: new Uint8Array([0xa0]).buffer, getTransports: () => ["internal"] },
        getClientExtensionResults: () => ({ prf: { enabled: options.prf } }),
      } as unknown as Credential;
    },
    async get(opts) {
      seen.lastGet = opts;
      const allow = opts.publicKey!.allowCredentials ?? [];
      const id = allow.length ? base64urlEncode(new Uint8Array(allow[0]!.id as ArrayBuffer)) : [...creds.keys()].at(-1)!;
      const cred = creds.get(id);
      if (!cred) throw Object.assign(new Error("no credential"), { name: "NotAllowedError" });
      const prfIn = (opts.publicKey!.extensions as { prf?: { eval: { first: BufferSource } } } | undefined)?.prf;
      const results: Record<string, unknown> = {};
      if (prfIn && options.prf) {
        const first = await prfOf(cred.secret, prfIn.eval.first);
        seen.prfOutputs.push(base64urlEncode(new Uint8Array(first)));
        results.prf = { results: { first } };
      }
      return {
        id,
        rawId: Uint8Array.from(atob(id.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (id.length % 4)) % 4)), (c) => c.charCodeAt(0)).buffer,
        type: "public-key",
        authenticatorAttachment: "platform",
        response: {
          clientDataJSON: enc.encode('{"type":"webauthn.get"}').buffer,
          authenticatorData: new Uint8Array(37).buffer,
          signature: new Uint8Array([1, 2, 3]).buffer,
          userHandle: new Uint8Array(32).buffer,
        },
        getClientExtensionResults: () => results,
      } as unknown as Credential;
    },
  };
  return { credentials, seen, prfOf, creds };
}

interface Recorded {
  method: string;
  path: string;
  body: any;
}

/** The instance, as far as these flows see it. */
async function fakeServer() {
  const sig = await generatePrivateJwk("sig");
  const encKey = await generatePrivateJwk("enc");
  const keyring = newKeyring(sig, encKey);
  const state = {
    version: 1,
    blob: await sealEscrow(keyring, PASSWORD, FAST),
    publicKeys: publicKeysOf(sig, encKey),
    passkeys: [] as Array<{ id: string; name: string; createdAt: number; lastUsedAt: null; backedUp: boolean; prf: boolean }>,
    verifier: null as null | Record<string, unknown>,
    amr: ["pop", "otp"],
    twoFactor: true,
    /** When set, POST /auth/login answers 401 with this error (a spent ticket, keys rotated elsewhere). */
    refuseLogin: null as string | null,
    /** How many of the next PUT /api/escrow answer 503. */
    failPuts: 0,
  };
  const requests: Recorded[] = [];
  const json = (body: unknown, status = 200) => Response.json(body, { status });
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    requests.push({ method, path: url.pathname, body });
    const key = `${method} ${url.pathname}`;
    const login = () => json({ accessToken: token(state.amr), tokenType: "Bearer", expiresIn: 900, sessionId: "s1" });
    switch (key) {
      case "POST /auth/challenge":
        return json({ challenge: `c${requests.length}`, expiresAt: Date.now() + 60_000, mfa: true, claimed: true, passkey: true });
      case "POST /auth/login":
        if (state.refuseLogin) return json({ error: state.refuseLogin, message: "refused by the test" }, 401);
        return login();
      case "POST /auth/reauth":
        if (body.passkey) state.amr = ["pop", "hwk"];
        return login();
      case "POST /auth/refresh":
        return json({ error: "unauthorized", message: "no cookie" }, 401);
      case "POST /auth/passkey/options":
        return json({ options: { challenge: "AAAA", rpId: "id.example.test", timeout: 300000, userVerification: "required", allowCredentials: [] } });
      case "POST /api/passkeys/options":
        return json({
          options: {
            rp: { id: "id.example.test", name: "id.example.test" },
            user: { id: "AAAA", name: "owner@id.example.test", displayName: "owner@id.example.test" },
            challenge: "AAAA",
            pubKeyCredParams: [{ type: "public-key", alg: -8 }],
            timeout: 300000,
            excludeCredentials: state.passkeys.map((p) => ({ type: "public-key", id: p.id })),
            authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
            attestation: "none",
            extensions: { prf: {} },
          },
        });
      case "POST /api/passkeys": {
        const passkey = { id: body.credential.id, name: body.name ?? "Passkey", createdAt: 1, lastUsedAt: null, backedUp: false, prf: body.prf === true };
        state.passkeys.push(passkey);
        return json({ passkey }, 201);
      }
      case "GET /api/passkeys":
        return json({ passkeys: state.passkeys });
      case "GET /api/escrow":
        return json({ version: state.version, blob: state.blob, publicKeys: state.publicKeys });
      case "PUT /api/escrow":
        if (state.failPuts > 0 && state.failPuts--) return json({ error: "internal_error", message: "the test's outage" }, 503);
        if (body.expectedVersion !== state.version) return json({ error: "version_conflict", message: "stale" }, 409);
        state.version++;
        state.blob = body.blob;
        if (body.publicKeys) state.publicKeys = body.publicKeys;
        return json({ version: state.version });
      case "POST /auth/escrow":
        return json({ version: state.version, blob: state.blob, publicKeys: state.publicKeys, mfaTicket: "ticket-1" });
      case "GET /api/2fa":
        return json({ enabled: state.twoFactor, backupCodesRemaining: state.twoFactor ? 10 : 0 });
      case "GET /api/recovery":
        return json({ configured: state.verifier !== null });
      case "PUT /api/recovery":
        state.verifier = body.verifier;
        return new Response(null, { status: 204 });
      case "POST /auth/recovery":
        return json({ readyAt: 1234 }, 202);
      case "DELETE /api/sessions":
      case "POST /auth/logout":
        return new Response(null, { status: 204 });
    }
    if (method === "DELETE" && url.pathname.startsWith("/api/passkeys/")) {
      state.passkeys = state.passkeys.filter((p) => `/api/passkeys/${p.id}` !== url.pathname);
      return new Response(null, { status: 204 });
    }
    return json({ error: "not_found", message: `no route ${key}` }, 404);
  };
  return { state, requests, fetch, keyring };
}

function clientFor(server: Awaited<ReturnType<typeof fakeServer>>, credentials: CredentialsLike | null, keyStore = memoryKeyStore()) {
  return new OwnerClient({
    origin: ORIGIN,
    fetch: server.fetch,
    keyStore,
    session: createSession({ origin: ORIGIN, fetch: server.fetch, channel: null, counter: null, locks: null }),
    escrow: FAST,
    testOnlySkipPasswordCheck: true,
    credentials,
  });
}

/** A logged-in device of the owner (keys stored, a session with a fresh step-up). */
async function loggedIn(server: Awaited<ReturnType<typeof fakeServer>>, credentials: CredentialsLike | null) {
  const client = clientFor(server, credentials);
  await client.unlock({ version: server.state.version, blob: server.state.blob, publicKeys: server.state.publicKeys }, PASSWORD);
  return client;
}

/** An owner's device with a PRF passkey registered and unlock turned on for it. */
async function ownerWithPasskeyUnlock() {
  const server = await fakeServer();
  const auth = fakeAuthenticator();
  const owner = await loggedIn(server, auth.credentials);
  const { passkey } = await registerPasskey(owner);
  await enablePasskeyUnlock(owner, { id: passkey.id, password: PASSWORD, twoFactorOn: true });
  return { server, auth, owner, passkey };
}

const bodiesOf = (server: { requests: Recorded[] }) => JSON.stringify(server.requests.map((r) => r.body ?? null));

describe("passkeys", () => {
  it("registers a PRF passkey after a test ceremony, never sending the PRF output", async () => {
    const server = await fakeServer();
    const auth = fakeAuthenticator();
    const client = await loggedIn(server, auth.credentials);
    const { passkey } = await registerPasskey(client, { name: "Laptop" });
    expect(passkey).toMatchObject({ name: "Laptop", prf: true });
    const post = server.requests.find((r) => r.method === "POST" && r.path === "/api/passkeys")!;
    expect(post.body.prf).toBe(true);
    expect(post.body.credential.clientExtensionResults).toEqual({});
    expect(post.body.credential.response.transports).toEqual(["internal"]);
    // The test ceremony asked for PRF with the protocol's eval input, for this credential only.
    const get = auth.seen.lastGet!.publicKey!;
    expect(new Uint8Array((get.extensions as any).prf.eval.first)).toEqual(PRF_EVAL_INPUT);
    expect(base64urlEncode(new Uint8Array(get.allowCredentials![0]!.id as ArrayBuffer))).toBe(passkey.id);
    expect(auth.seen.prfOutputs.length).toBe(1);
  });

  it("labels a passkey without PRF as a second factor only", async () => {
    const server = await fakeServer();
    const client = await loggedIn(server, fakeAuthenticator({ prf: false }).credentials);
    const { passkey } = await registerPasskey(client, { name: "Key" });
    expect(passkey.prf).toBe(false);
  });

  it("gives a passkey assertion as the second factor; a dismissed prompt is passkey_cancelled", async () => {
    const server = await fakeServer();
    const auth = fakeAuthenticator();
    const client = await loggedIn(server, auth.credentials);
    await registerPasskey(client);
    const factor = await passkeyFactor(client);
    expect(factor.passkey.response.signature).toBe("AQID");
    expect(factor.passkey.clientExtensionResults).toEqual({});
    auth.creds.clear();
    await expect(passkeyFactor(client)).rejects.toMatchObject({ code: "passkey_cancelled" });
    await expect(passkeyFactor(clientFor(server, null))).rejects.toMatchObject({ code: "passkey_unsupported" });
  });

  it("turns on unlock, then a fresh device unlocks with the passkey alone in one ceremony", async () => {
    const server = await fakeServer();
    const auth = fakeAuthenticator();
    const client = await loggedIn(server, auth.credentials);
    const { passkey } = await registerPasskey(client);
    const outputsBefore = auth.seen.prfOutputs.length;
    await enablePasskeyUnlock(client, { id: passkey.id, password: PASSWORD, twoFactorOn: true });
    const put = server.requests.filter((r) => r.method === "PUT" && r.path === "/api/escrow").at(-1)!;
    expect(put.body.reason).toBe("passkey_unlock_added");
    expect(inspectEscrow(server.state.blob, OPEN).recipientKids).toEqual(["password", `passkey:${passkey.id}`]);
    // No PRF output, nor the derived key, was ever in a request.
    for (const out of auth.seen.prfOutputs) expect(bodiesOf(server)).not.toContain(out);
    expect(auth.seen.prfOutputs.length).toBe(outputsBefore + 1);

    const phone = clientFor(server, auth.credentials);
    const before = server.requests.length;
    expect(await unlockWithPasskey(phone, { deviceName: "Phone" })).toEqual({ unlocked: true });
    const flow = server.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(flow).toEqual(["POST /auth/passkey/options", "POST /auth/escrow", "POST /auth/challenge", "POST /auth/login"]);
    const escrowReq = server.requests.slice(before).find((r) => r.path === "/auth/escrow")!;
    expect(escrowReq.body.passkey.id).toBe(passkey.id);
    expect(server.requests.at(-1)!.body).toMatchObject({ mfaTicket: "ticket-1", deviceName: "Phone" });
    expect((await phone.deviceKeys())!.sig.kid).toBe(server.state.publicKeys.sig.kid);
    expect(phone.session.isLoggedIn()).toBe(true);
  });

  it("a passkey that cannot unlock is still the factor: the bundle comes back, and the password finishes with its ticket", async () => {
    for (const [prf, reason] of [
      [true, "not_a_recipient"],
      [false, "passkey_no_prf"],
    ] as const) {
      const server = await fakeServer();
      const auth = fakeAuthenticator({ prf });
      await registerPasskey(await loggedIn(server, auth.credentials));
      // Unlock was never turned on: the blob names the password alone.
      const phone = clientFor(server, auth.credentials);
      const before = server.requests.length;
      const result = await unlockWithPasskey(phone, { deviceName: "Phone" });
      expect(result).toMatchObject({ unlocked: false, reason, bundle: { mfaTicket: "ticket-1" } });
      // One ceremony, spent as the escrow's factor; nothing kept, no login yet.
      expect(server.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(["POST /auth/passkey/options", "POST /auth/escrow"]);
      expect(server.requests.at(-1)!.body.passkey.response.signature).toBe("AQID");
      expect(await phone.deviceKeys()).toBeNull();
      expect(phone.session.isLoggedIn()).toBe(false);
      if (result.unlocked) throw new Error("unreachable");
      await phone.unlock(result.bundle, PASSWORD, { deviceName: "Phone" });
      expect(server.requests.at(-1)).toMatchObject({ path: "/auth/login", body: { mfaTicket: "ticket-1", deviceName: "Phone" } });
      expect(phone.session.isLoggedIn()).toBe(true);
    }
  });

  it("hands the bundle back only where the passkey cannot open the blob (a changed PRF, a format 1 blob); an altered blob is an error", async () => {
    const { server, auth, passkey } = await ownerWithPasskeyUnlock();
    const sealed = server.state.blob;
    const unlockOnNewDevice = () => unlockWithPasskey(clientFor(server, auth.credentials));

    // The passkey's key unwraps, but the ciphertext was altered: not a reason to ask for the password.
    const jwe = JSON.parse(sealed);
    server.state.blob = JSON.stringify({ ...jwe, ciphertext: (jwe.ciphertext.startsWith("A") ? "B" : "A") + jwe.ciphertext.slice(1) });
    await expect(unlockOnNewDevice()).rejects.toMatchObject({ code: "escrow_unreadable", reason: "tampered" });

    // The same passkey, its PRF answering differently now (a reset authenticator).
    server.state.blob = sealed;
    auth.creds.get(passkey.id)!.secret = crypto.getRandomValues(new Uint8Array(32));
    expect(await unlockOnNewDevice()).toMatchObject({ unlocked: false, reason: "wrong_key", bundle: { blob: sealed } });

    // A format 1 blob, from before passkey unlock: it opens with the password only.
    const v1 = JSON.parse(readFileSync(new URL("./fixtures/escrow-v1.json", import.meta.url), "utf8")) as { pbes2: string };
    server.state.blob = v1.pbes2;
    expect(await unlockOnNewDevice()).toMatchObject({ unlocked: false, reason: "not_a_recipient", bundle: { blob: v1.pbes2 } });
  });

  it("re-authenticates with the same ceremony when step-up is stale", async () => {
    const server = await fakeServer();
    const auth = fakeAuthenticator();
    const client = await loggedIn(server, auth.credentials);
    const { passkey } = await registerPasskey(client);
    server.state.amr = ["pop"]; // a token without a second factor: step-up is needed
    await client.login();
    await enablePasskeyUnlock(client, { id: passkey.id, password: PASSWORD, twoFactorOn: true });
    const reauth = server.requests.find((r) => r.path === "/auth/reauth")!;
    expect(reauth.body.passkey.id).toBe(passkey.id);
    expect(client.session.claims()!.amr).toContain("hwk");
  });

  it("a password change and a key rotation keep passkey and recovery recipients, and drop a removed passkey", async () => {
    const server = await fakeServer();
    const auth = fakeAuthenticator();
    const client = await loggedIn(server, auth.credentials);
    const a = (await registerPasskey(client, { name: "A" })).passkey;
    const b = (await registerPasskey(client, { name: "B" })).passkey;
    await enablePasskeyUnlock(client, { id: a.id, password: PASSWORD, twoFactorOn: true });
    await enablePasskeyUnlock(client, { id: b.id, password: PASSWORD, twoFactorOn: true });
    const { keys } = await setUpRecovery(client, { password: PASSWORD });
    const recoveryKid = keys.unlockKey.kid;
    expect(inspectEscrow(server.state.blob, OPEN).recipientKids).toEqual(["password", `passkey:${a.id}`, `passkey:${b.id}`, recoveryKid]);

    await client.changePassword({ oldPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(inspectEscrow(server.state.blob, OPEN).recipientKids).toEqual(["password", `passkey:${a.id}`, `passkey:${b.id}`, recoveryKid]);
    expect(server.requests.filter((r) => r.method === "PUT" && r.path === "/api/escrow").at(-1)!.body.reason).toBe("password_changed");
    expect((await openEscrowWith(server.state.blob, { key: keys.unlockKey }, OPEN)).openedBy).toBe(recoveryKid);

    await removePasskey(client, b.id);
    await client.rotateKeys({ password: NEW_PASSWORD });
    expect(inspectEscrow(server.state.blob, OPEN).recipientKids).toEqual(["password", `passkey:${a.id}`, recoveryKid]);
    expect(server.requests.filter((r) => r.method === "PUT" && r.path === "/api/escrow").at(-1)!.body.reason).toBe("keys_rotated");
    const opened = await openEscrowWith(server.state.blob, { password: NEW_PASSWORD }, OPEN);
    expect(opened.keyring.keys.length).toBe(4);
  });

  it("a blob without other recipients asks neither GET /api/passkeys nor GET /api/recovery", async () => {
    const server = await fakeServer();
    const client = await loggedIn(server, null);
    await client.changePassword({ oldPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(server.requests.some((r) => r.path === "/api/passkeys" || r.path === "/api/recovery")).toBe(false);
  });
});

describe("recovery", () => {
  it("sets up, starts and completes a recovery from shares, with a new password at once", async () => {
    const server = await fakeServer();
    const client = await loggedIn(server, null);
    const { key, keys } = await setUpRecovery(client, { password: PASSWORD });
    expect(server.state.verifier).toEqual(keys.verifier.publicJwk);
    expect(server.requests.filter((r) => r.method === "PUT" && r.path === "/api/escrow").at(-1)!.body.reason).toBe("recovery_configured");
    const shares = await splitRecoveryKey(key, { threshold: 2, total: 3, host: "id.example.test" });
    const sheet = await formatRecoveryKey(key);
    key.fill(0);

    // A device with nothing: two of the three shares.
    const fresh = clientFor(server, null);
    const recovered = await combineShares([shares[2]!.text, shares[0]!.text], { host: "id.example.test" });
    expect(await startRecovery(fresh, recovered)).toEqual({ readyAt: 1234 });
    const start = server.requests.find((r) => r.path === "/auth/recovery")!;
    const publicKey = await importJWK(keys.verifier.publicJwk, "Ed25519");
    const { payload } = await jwtVerify(start.body.assertion, publicKey, { audience: ORIGIN });
    expect(typeof payload.nonce).toBe("string");

    server.state.amr = ["pop", "rcv"];
    await completeRecovery(fresh, { key: recovered, newPassword: NEW_PASSWORD, deviceName: "Borrowed", endOtherSessions: true });
    const escrowReq = server.requests.filter((r) => r.path === "/auth/escrow").at(-1)!;
    expect(Object.keys(escrowReq.body)).toEqual(["recovery"]);
    await jwtVerify(escrowReq.body.recovery, publicKey, { audience: ORIGIN });
    const put = server.requests.filter((r) => r.method === "PUT" && r.path === "/api/escrow").at(-1)!;
    expect(put.body.reason).toBe("recovered");
    // Other sessions end before the new password is set.
    expect(server.requests.slice(-3).map((r) => `${r.method} ${r.path}`)).toEqual(["DELETE /api/sessions", "GET /api/recovery", "PUT /api/escrow"]);
    expect((await fresh.deviceKeys())!.enc[0]!.kid).toBe(server.state.publicKeys.enc.kid);
    expect(fresh.stepUpFresh(true)).toBe(true);
    // The new password opens it; the recovery key still does (it stays set up).
    await openEscrowWith(server.state.blob, { password: NEW_PASSWORD }, OPEN);
    const again = await deriveRecoveryKeys(await parseRecoveryKey(sheet));
    expect((await openEscrowWith(server.state.blob, { key: again.unlockKey }, OPEN)).openedBy).toBe(keys.unlockKey.kid);
  });

  it("refuses to set up a recovery key while two-factor authentication is off, before anything changes", async () => {
    const server = await fakeServer();
    const client = await loggedIn(server, null);
    server.state.twoFactor = false;
    server.state.amr = ["pop"];
    const before = server.requests.length;
    const err = await setUpRecovery(client, { password: PASSWORD }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "two_factor_off", message: RECOVERY_NEEDS_TWO_FACTOR });
    expect(RECOVERY_NEEDS_TWO_FACTOR).toMatch(/anyone can download your key backup without a code/);
    // One question (GET /api/2fa), then nothing: no escrow read or re-sealed, no verifier.
    expect(server.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/2fa"]);
    expect(server.state.verifier).toBeNull();
    expect(server.state.version).toBe(1);

    server.state.twoFactor = true;
    await setUpRecovery(client, { password: PASSWORD });
    expect(server.state.verifier).not.toBeNull();
  });

  it("refuses a weak new password before spending the request", async () => {
    const server = await fakeServer();
    const client = await loggedIn(server, null);
    const { key } = await setUpRecovery(client, { password: PASSWORD });
    const strict = new OwnerClient({ origin: ORIGIN, fetch: server.fetch, keyStore: memoryKeyStore(), escrow: FAST,
      session: createSession({ origin: ORIGIN, fetch: server.fetch, channel: null, counter: null, locks: null }) });
    const before = server.requests.length;
    await expect(completeRecovery(strict, { key, newPassword: "x" })).rejects.toMatchObject({ code: "password_check_unavailable" });
    expect(server.requests.length).toBe(before);
  });
});

describe("every unlock keeps the keys only once its login is accepted", () => {
  /** A key store that notes which request came last each time the keys are saved. */
  function recordingStore(server: Awaited<ReturnType<typeof fakeServer>>, fail = false): KeyStore & { savedAfter: string[] } {
    const inner = memoryKeyStore();
    const savedAfter: string[] = [];
    return {
      savedAfter,
      load: () => inner.load(),
      clear: () => inner.clear(),
      async save(keys) {
        const last = server.requests.at(-1);
        savedAfter.push(last ? `${last.method} ${last.path}` : "(no request yet)");
        if (fail) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
        await inner.save(keys);
      },
    };
  }
  const bundleOf = (server: Awaited<ReturnType<typeof fakeServer>>) => ({
    version: server.state.version,
    blob: server.state.blob,
    publicKeys: server.state.publicKeys,
    mfaTicket: "ticket-1",
  });

  it("the password: a refused login leaves no keys and no session; an accepted one keeps them after it", async () => {
    const server = await fakeServer();
    const store = recordingStore(server);
    const phone = clientFor(server, null, store);
    server.state.refuseLogin = "unauthorized";
    await expect(phone.unlock(bundleOf(server), PASSWORD, { deviceName: "Phone" })).rejects.toMatchObject({ code: "unauthorized" });
    expect(server.requests.at(-1)).toMatchObject({ path: "/auth/login", body: { mfaTicket: "ticket-1", deviceName: "Phone" } });
    expect(await phone.deviceKeys()).toBeNull();
    expect(store.savedAfter).toEqual([]);
    expect(phone.session.isLoggedIn()).toBe(false);

    server.state.refuseLogin = null;
    const stages: string[] = [];
    await phone.unlock(bundleOf(server), PASSWORD, { onProgress: (p) => stages.push(p.stage) });
    expect(store.savedAfter).toEqual(["POST /auth/login"]);
    expect(stages.slice(-2)).toEqual(["login", "store"]);
    expect((await phone.deviceKeys())!.sig.kid).toBe(server.state.publicKeys.sig.kid);
    expect(phone.session.isLoggedIn()).toBe(true);
  });

  it("a wrong password asks nothing and keeps nothing", async () => {
    const server = await fakeServer();
    const phone = clientFor(server, null);
    await expect(phone.unlock(bundleOf(server), "not the password")).rejects.toMatchObject({ code: "wrong_password" });
    expect(server.requests).toEqual([]);
    expect(await phone.deviceKeys()).toBeNull();
  });

  it("a passkey: a refused login leaves no keys and no session", async () => {
    const { server, auth, passkey } = await ownerWithPasskeyUnlock();
    const store = recordingStore(server);
    const phone = clientFor(server, auth.credentials, store);
    server.state.refuseLogin = "invalid_code";
    await expect(unlockWithPasskey(phone)).rejects.toMatchObject({ code: "invalid_code" });
    expect(await phone.deviceKeys()).toBeNull();
    expect(phone.session.isLoggedIn()).toBe(false);
    server.state.refuseLogin = null;
    expect(await unlockWithPasskey(phone)).toEqual({ unlocked: true });
    expect(store.savedAfter).toEqual(["POST /auth/login"]);
  });

  it("a recovery: a refused login leaves no keys and re-seals nothing", async () => {
    const server = await fakeServer();
    const owner = await loggedIn(server, null);
    const { key } = await setUpRecovery(owner, { password: PASSWORD });
    const version = server.state.version;
    const fresh = clientFor(server, null);
    server.state.refuseLogin = "invalid_code";
    await expect(completeRecovery(fresh, { key, newPassword: NEW_PASSWORD })).rejects.toMatchObject({ code: "invalid_code" });
    expect(await fresh.deviceKeys()).toBeNull();
    expect(fresh.session.isLoggedIn()).toBe(false);
    expect(server.state.version).toBe(version);
    expect(server.requests.at(-1)!.path).toBe("/auth/login");
  });

  it("a recovery whose re-seal fails after its login is finished by finishRecovery, other sessions already ended", async () => {
    const server = await fakeServer();
    const owner = await loggedIn(server, null);
    const { key } = await setUpRecovery(owner, { password: PASSWORD });
    const fresh = clientFor(server, null);
    server.state.amr = ["pop", "rcv"];
    server.state.failPuts = 1;
    const version = server.state.version;
    await expect(completeRecovery(fresh, { key, newPassword: NEW_PASSWORD, endOtherSessions: true })).rejects.toMatchObject({ code: "internal_error" });
    // In, with the keys, the others logged out; the escrow still as it was.
    expect(fresh.session.isLoggedIn()).toBe(true);
    expect((await fresh.deviceKeys())!.escrowVersion).toBe(version);
    expect(server.requests.filter((r) => r.path === "/api/sessions").map((r) => r.method)).toEqual(["DELETE"]);
    expect(server.state.version).toBe(version);

    const before = server.requests.length;
    expect(await finishRecovery(fresh, { key, newPassword: NEW_PASSWORD })).toEqual({ version: version + 1 });
    // The spent request is not asked again: the session reads the escrow.
    expect(server.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/escrow", "GET /api/recovery", "PUT /api/escrow"]);
    expect(server.requests.at(-1)!.body.reason).toBe("recovered");
    await openEscrowWith(server.state.blob, { password: NEW_PASSWORD }, OPEN);
    expect((await fresh.deviceKeys())!.escrowVersion).toBe(version + 1);
  });

  it("finishRecovery re-seals only what the recovery's login proved", async () => {
    const server = await fakeServer();
    const owner = await loggedIn(server, null);
    const { key } = await setUpRecovery(owner, { password: PASSWORD });
    // A session no recovery made (amr without rcv): refused before any request.
    const before = server.requests.length;
    await expect(finishRecovery(owner, { key, newPassword: NEW_PASSWORD })).rejects.toMatchObject({ code: "no_recovery_login" });
    expect(server.requests.length).toBe(before);

    const recovered = async () => {
      const fresh = clientFor(server, null);
      server.state.amr = ["pop", "rcv"];
      server.state.failPuts = 1;
      await expect(completeRecovery(fresh, { key, newPassword: NEW_PASSWORD })).rejects.toMatchObject({ code: "internal_error" });
      return fresh;
    };
    // The escrow moved on after the login (same keys, a newer version): the PUT expects
    // the version the device's keys came from, and is refused.
    const first = await recovered();
    const { keyring, recipients } = await openEscrowWith(server.state.blob, { key: (await deriveRecoveryKeys(key)).unlockKey }, OPEN);
    server.state.blob = await sealEscrow(keyring, PASSWORD, { ...FAST, recipients });
    server.state.version++;
    const moved = server.state.version;
    await expect(finishRecovery(first, { key, newPassword: NEW_PASSWORD })).rejects.toMatchObject({ code: "version_conflict" });
    expect(server.state.version).toBe(moved);

    // Other keys planted in the escrow, sealed to the recovery key: refused before the PUT.
    const second = await recovered();
    const planted = newKeyring(await generatePrivateJwk("sig"), await generatePrivateJwk("enc"));
    server.state.blob = await sealEscrow(planted, PASSWORD, { ...FAST, recipients });
    const puts = server.requests.filter((r) => r.method === "PUT").length;
    await expect(finishRecovery(second, { key, newPassword: NEW_PASSWORD })).rejects.toMatchObject({ code: "escrow_mismatch" });
    expect(server.requests.filter((r) => r.method === "PUT").length).toBe(puts);
  });

  it("keys the device cannot keep end the new session, and the storage error is thrown", async () => {
    const server = await fakeServer();
    const phone = clientFor(server, null, recordingStore(server, true));
    const events: string[] = [];
    phone.session.on((e) => events.push(e.type));
    await expect(phone.unlock(bundleOf(server), PASSWORD)).rejects.toMatchObject({ name: "QuotaExceededError" });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /auth/challenge", "POST /auth/login", "POST /auth/logout"]);
    // The session object never held that session: no tab is told "logged out".
    expect(events).toEqual([]);

    // A fetch that throws at once on the logout: still the storage error.
    const throwing = new OwnerClient({
      origin: ORIGIN,
      fetch: (input, init) => (String(input).endsWith("/auth/logout") ? (() => { throw new TypeError("offline"); })() : server.fetch(input, init)),
      keyStore: recordingStore(server, true),
      escrow: FAST,
      testOnlySkipPasswordCheck: true,
    });
    await expect(throwing.unlock(bundleOf(server), PASSWORD)).rejects.toMatchObject({ name: "QuotaExceededError" });
    expect(phone.session.isLoggedIn()).toBe(false);
    expect(await phone.deviceKeys()).toBeNull();
  });
});
