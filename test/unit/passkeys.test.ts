// The passkey verification policy (docs/api.md §12, WebAuthn L3 §7.1/§7.2) against
// fresh responses from the soft authenticator: every refusal by name, the counter
// rule, the three algorithms, rpIdFor and the options builders.
import { describe, expect, it } from "vitest";
import {
  authenticationOptions,
  checkSignCount,
  MAX_CREDENTIAL_ID_BYTES,
  type NewPasskey,
  PASSKEY_TIMEOUT_MS,
  registrationOptions,
  rpIdFor,
  verifyAssertion,
  verifyAuthentication,
  verifyRegistration,
} from "../../src/domain/passkeys";
import { base64urlDecode, base64urlEncode, randomBytes } from "../../src/lib/bytes";
import { SoftAuthenticator, type SoftAuthenticatorOptions, type Tamper } from "../helpers/softAuthenticator";

const ORIGIN = "https://id.example.test";
const RP_ID = "id.example.test";
const OWNER_ID = base64urlEncode(randomBytes(32));

async function registered(options: SoftAuthenticatorOptions = {}) {
  const authenticator = await SoftAuthenticator.create(options);
  const challenge = randomBytes(32);
  const response = await authenticator.register({ challenge, origin: ORIGIN, rpId: RP_ID });
  const verdict = await verifyRegistration(response, { challenge, origin: ORIGIN, rpId: RP_ID });
  if (!verdict.ok) throw new Error(`registration refused: ${verdict.reason}`);
  return { authenticator, passkey: verdict.passkey };
}

async function register(tamper: Tamper, options: SoftAuthenticatorOptions = {}, algorithms?: number[]) {
  const authenticator = await SoftAuthenticator.create(options);
  const challenge = randomBytes(32);
  const response = await authenticator.register({ challenge, origin: ORIGIN, rpId: RP_ID, tamper });
  return verifyRegistration(response, { challenge, origin: ORIGIN, rpId: RP_ID, algorithms });
}

async function authenticate(authenticator: SoftAuthenticator, passkey: NewPasskey, tamper: Tamper = {}) {
  const challenge = randomBytes(32);
  const response = await authenticator.authenticate({ challenge, origin: ORIGIN, rpId: RP_ID, userHandle: OWNER_ID, tamper });
  return verifyAuthentication(response, passkey, { challenge, origin: ORIGIN, rpId: RP_ID, ownerId: OWNER_ID });
}

describe("registration (WebAuthn L3 §7.1)", () => {
  it.each([
    ["EdDSA", -8],
    ["ES256", -7],
    ["RS256", -257],
  ] as const)("accepts a %s passkey and then its assertions", async (_name, alg) => {
    const { authenticator, passkey } = await registered({ alg });
    expect(passkey).toMatchObject({
      credentialId: authenticator.credentialIdB64,
      algorithm: alg,
      signCount: 0,
      backupEligible: false,
      backedUp: false,
    });
    const first = await authenticate(authenticator, passkey);
    expect(first).toEqual({ ok: true, use: { signCount: 1, backedUp: false, cloneSuspected: false, amr: "hwk" } });
  });

  it("accepts ES256 keys whose x or y coordinate begins with a zero byte (about 1 key in 128)", async () => {
    // @oslojs/crypto 1.0's SPKI encoder writes such a y unpadded; the module must not
    // depend on it. Made until both cases have occurred, each then registered and used.
    const seen = { x: false, y: false };
    for (let i = 0; i < 5000 && !(seen.x && seen.y); i++) {
      const authenticator = await SoftAuthenticator.create({ alg: -7 });
      const jwk = await authenticator.publicJwk();
      const which = base64urlDecode(jwk.x!)![0] === 0 ? "x" : base64urlDecode(jwk.y!)![0] === 0 ? "y" : null;
      if (!which || seen[which]) continue;
      seen[which] = true;
      const challenge = randomBytes(32);
      const response = await authenticator.register({ challenge, origin: ORIGIN, rpId: RP_ID });
      const verdict = await verifyRegistration(response, { challenge, origin: ORIGIN, rpId: RP_ID });
      expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
      if (verdict.ok) expect((await authenticate(authenticator, verdict.passkey)).ok).toBe(true);
    }
    expect(seen).toEqual({ x: true, y: true });
  }, 60_000);

  it("records BE and BS of a synced passkey, and its amr is swk", async () => {
    const { authenticator, passkey } = await registered({ backupEligible: true, backedUp: true, fixedZeroCounter: true });
    expect(passkey).toMatchObject({ backupEligible: true, backedUp: true, signCount: 0 });
    expect(await authenticate(authenticator, passkey)).toEqual({
      ok: true,
      use: { signCount: 0, backedUp: true, cloneSuspected: false, amr: "swk" },
    });
  });

  it("ignores any attestation statement (attestation none was requested)", async () => {
    const verdict = await register({ fmt: "packed", attStmt: { alg: -7, sig: new Uint8Array([1, 2, 3]) } });
    expect(verdict.ok).toBe(true);
    expect((await register({ fmt: "some-future-format", attStmt: {} })).ok).toBe(true);
  });

  it.each<[string, Tamper, string]>([
    ["the wrong ceremony type", { type: "webauthn.get" }, "wrong_type"],
    ["an unknown ceremony type", { type: "payment.get" }, "wrong_type"],
    ["another origin", { origin: "https://evil.example" }, "origin_mismatch"],
    ["the origin with a trailing slash", { origin: `${ORIGIN}/` }, "origin_mismatch"],
    ["crossOrigin true", { crossOrigin: true }, "cross_origin"],
    ["a topOrigin", { topOrigin: "https://evil.example" }, "top_origin"],
    ["another RP ID hash", { rpId: "example.test" }, "rp_id_mismatch"],
    ["UP unset", { up: false }, "user_not_present"],
    ["UV unset", { uv: false }, "user_not_verified"],
    ["BS without BE", { be: false, bs: true }, "backup_state_invalid"],
  ])("refuses %s", async (_name, tamper, reason) => {
    expect(await register(tamper)).toEqual({ ok: false, reason });
  });

  it("refuses a response to another challenge", async () => {
    const authenticator = await SoftAuthenticator.create();
    const response = await authenticator.register({ challenge: randomBytes(32), origin: ORIGIN, rpId: RP_ID });
    expect(await verifyRegistration(response, { challenge: randomBytes(32), origin: ORIGIN, rpId: RP_ID })).toEqual({
      ok: false,
      reason: "challenge_mismatch",
    });
  });

  it("refuses an algorithm it does not take (ES384) and one it did not offer", async () => {
    expect(await register({}, { alg: -35 })).toEqual({ ok: false, reason: "unsupported_algorithm" });
    expect(await register({}, { alg: -7 }, [-8])).toEqual({ ok: false, reason: "unsupported_algorithm" });
  });

  it("refuses a key that does not fit its algorithm, and RSA keys other than 2048-bit", async () => {
    expect(await register({}, { alg: -8, coseAlg: -7 })).toEqual({ ok: false, reason: "public_key_invalid" });
    expect(await register({}, { alg: -7, coseAlg: -257 })).toEqual({ ok: false, reason: "public_key_invalid" });
    expect(await register({}, { alg: -257, rsaModulusBits: 1024 })).toEqual({ ok: false, reason: "public_key_invalid" });
    expect(await register({}, { alg: -257, rsaModulusBits: 3072 })).toEqual({ ok: false, reason: "public_key_invalid" });
  });

  it("takes a credential id of 1,023 bytes and refuses 1,024", async () => {
    expect((await register({}, { credentialIdBytes: MAX_CREDENTIAL_ID_BYTES })).ok).toBe(true);
    expect(await register({}, { credentialIdBytes: MAX_CREDENTIAL_ID_BYTES + 1 })).toEqual({
      ok: false,
      reason: "credential_id_too_long",
    });
  });

  it("refuses a rawId that is not the attested credential id", async () => {
    const authenticator = await SoftAuthenticator.create();
    const challenge = randomBytes(32);
    const response = await authenticator.register({ challenge, origin: ORIGIN, rpId: RP_ID });
    const other = base64urlEncode(randomBytes(32));
    expect(await verifyRegistration({ ...response, rawId: other }, { challenge, origin: ORIGIN, rpId: RP_ID })).toEqual({
      ok: false,
      reason: "credential_id_mismatch",
    });
  });

  it("refuses garbage without throwing", async () => {
    const expected = { challenge: randomBytes(32), origin: ORIGIN, rpId: RP_ID };
    const garbage = (clientDataJSON: string, attestationObject: string) =>
      verifyRegistration({ rawId: "AAAA", response: { clientDataJSON, attestationObject } }, expected);
    expect(await garbage("not base64url!", "AAAA")).toEqual({ ok: false, reason: "client_data_invalid" });
    expect(await garbage(base64urlEncode(new TextEncoder().encode("[]")), "AAAA")).toEqual({
      ok: false,
      reason: "client_data_invalid",
    });
    const authenticator = await SoftAuthenticator.create();
    const good = await authenticator.register({ challenge: expected.challenge, origin: ORIGIN, rpId: RP_ID });
    expect(await garbage(good.response.clientDataJSON, "oWNmbXQ")).toEqual({ ok: false, reason: "attestation_invalid" });
  });
});

describe("authentication (WebAuthn L3 §7.2)", () => {
  it.each<[string, Tamper, string]>([
    ["the wrong ceremony type", { type: "webauthn.create" }, "wrong_type"],
    ["another origin", { origin: "http://id.example.test" }, "origin_mismatch"],
    ["crossOrigin true", { crossOrigin: true }, "cross_origin"],
    ["a topOrigin", { topOrigin: ORIGIN }, "top_origin"],
    ["another RP ID hash", { rpId: "evil.example" }, "rp_id_mismatch"],
    ["UP unset", { up: false }, "user_not_present"],
    ["UV unset", { uv: false }, "user_not_verified"],
    ["BS without BE", { bs: true }, "backup_state_invalid"],
    ["BE that changed since registration", { be: true, bs: false }, "backup_eligibility_changed"],
    ["another user handle", { userHandle: base64urlEncode(randomBytes(32)) }, "user_handle_mismatch"],
    ["a bad signature", { badSignature: true }, "signature_invalid"],
    ["a counter that went backwards", { signCount: 0 }, "counter_not_increased"],
  ])("refuses %s", async (_name, tamper, reason) => {
    const { authenticator, passkey } = await registered({ signCount: 5 });
    expect(passkey.signCount).toBe(5);
    expect(await authenticate(authenticator, passkey, tamper)).toEqual({ ok: false, reason });
  });

  it("accepts ES256 signatures whose r or s is shorter than 32 bytes or needs a sign byte", async () => {
    // DER INTEGERs are minimal and signed: about one r or s in 256 begins with a zero
    // byte (31 bytes or fewer), about half have the top bit set (33 bytes, 0x00 first).
    const { authenticator, passkey } = await registered({ alg: -7 });
    const seen = new Set<string>();
    for (let i = 0; i < 3000 && !(seen.has("short") && seen.has("sign byte")); i++) {
      const challenge = randomBytes(32);
      const response = await authenticator.authenticate({ challenge, origin: ORIGIN, rpId: RP_ID, userHandle: OWNER_ID });
      const der = base64urlDecode(response.response.signature)!;
      const rLength = der[3]!;
      const sLength = der[5 + rLength]!;
      for (const length of [rLength, sLength]) seen.add(length < 32 ? "short" : length === 33 ? "sign byte" : "32");
      const verdict = await verifyAuthentication(response, passkey, { challenge, origin: ORIGIN, rpId: RP_ID, ownerId: OWNER_ID });
      expect(verdict.ok, `signature ${base64urlEncode(der)}`).toBe(true);
    }
    expect([...seen].sort()).toEqual(["32", "short", "sign byte"]);
  });

  // A P-256 DER signature is 30 L 02 lr r 02 ls s, every length in one byte. Each
  // re-encoding below keeps r and s (BER reads them the same) but is not DER, which
  // WebAuthn §6.5.5 requires: refused, as non-canonical encodings should be.
  const sequence = (content: Uint8Array) => Uint8Array.of(0x30, content.length, ...content);
  const parts = (der: Uint8Array) => {
    const rLength = der[3]!;
    return { r: der.subarray(4, 4 + rLength), s: der.subarray(6 + rLength) };
  };
  const integer = (value: Uint8Array) => Uint8Array.of(0x02, value.length, ...value);
  it.each<[string, (der: Uint8Array) => Uint8Array]>([
    ["an extra leading zero byte in r", (der) => sequence(Uint8Array.of(...integer(Uint8Array.of(0, ...parts(der).r)), ...integer(parts(der).s)))],
    ["a long-form length of the sequence", (der) => Uint8Array.of(0x30, 0x81, ...der.subarray(1))],
    ["a third integer in the sequence", (der) => sequence(Uint8Array.of(...der.subarray(2), ...integer(Uint8Array.of(1))))],
    ["a byte after the sequence", (der) => Uint8Array.of(...der, 0)],
  ])("refuses an ES256 signature re-encoded with %s", async (_name, reencodeSignature) => {
    const { authenticator, passkey } = await registered({ alg: -7 });
    expect(await authenticate(authenticator, passkey, { reencodeSignature })).toEqual({ ok: false, reason: "signature_invalid" });
    // The same signature as DER passes: only the encoding was refused.
    expect((await authenticate(authenticator, passkey, { reencodeSignature: (der) => der })).ok).toBe(true);
  });

  it("accepts an assertion without a userHandle", async () => {
    const { authenticator, passkey } = await registered();
    expect((await authenticate(authenticator, passkey, { userHandle: null })).ok).toBe(true);
  });

  it("refuses a response to another challenge", async () => {
    const { authenticator, passkey } = await registered();
    const response = await authenticator.authenticate({
      challenge: randomBytes(32),
      origin: ORIGIN,
      rpId: RP_ID,
      userHandle: OWNER_ID,
    });
    const expected = { challenge: randomBytes(32), origin: ORIGIN, rpId: RP_ID, ownerId: OWNER_ID };
    expect(await verifyAuthentication(response, passkey, expected)).toEqual({ ok: false, reason: "challenge_mismatch" });
  });

  it("refuses an assertion by another credential than the stored one", async () => {
    const { passkey } = await registered();
    const stranger = await registered();
    expect(await authenticate(stranger.authenticator, passkey)).toEqual({ ok: false, reason: "credential_id_mismatch" });
    // Same id, other key: only the signature can tell.
    expect(await authenticate(stranger.authenticator, { ...passkey, credentialId: stranger.passkey.credentialId })).toEqual({
      ok: false,
      reason: "signature_invalid",
    });
  });

  it("lets a synced passkey with a backwards counter pass, suspected, without lowering the counter", async () => {
    const { authenticator, passkey } = await registered({ backupEligible: true, signCount: 7 });
    expect(await authenticate(authenticator, passkey, { signCount: 3 })).toEqual({
      ok: true,
      use: { signCount: 7, backedUp: true, cloneSuspected: true, amr: "swk" },
    });
  });

  it("verifyAssertion reports the received counter and leaves the counter rule to its caller", async () => {
    const { authenticator, passkey } = await registered({ signCount: 5 });
    const challenge = randomBytes(32);
    const response = await authenticator.authenticate({ challenge, origin: ORIGIN, rpId: RP_ID, userHandle: OWNER_ID, tamper: { signCount: 0 } });
    const expected = { challenge, origin: ORIGIN, rpId: RP_ID, ownerId: OWNER_ID };
    expect(await verifyAssertion(response, passkey, expected)).toEqual({
      ok: true,
      assertion: { receivedSignCount: 0, backedUp: false, amr: "hwk" },
    });
    expect(await verifyAuthentication(response, passkey, expected)).toEqual({ ok: false, reason: "counter_not_increased" });
  });

  it("reports the backup state of each use (BS may change, BE may not)", async () => {
    const { authenticator, passkey } = await registered({ backupEligible: true, backedUp: false });
    expect(passkey.backedUp).toBe(false);
    const verdict = await authenticate(authenticator, passkey, { bs: true });
    expect(verdict).toMatchObject({ ok: true, use: { backedUp: true } });
  });
});

describe("signature counter (WebAuthn §6.1.1, docs/api.md §12)", () => {
  // [stored, received, BE] -> verdict
  it.each([
    [0, 0, false, { ok: true, signCount: 0, cloneSuspected: false }],
    [0, 0, true, { ok: true, signCount: 0, cloneSuspected: false }],
    [0, 1, false, { ok: true, signCount: 1, cloneSuspected: false }],
    [5, 6, false, { ok: true, signCount: 6, cloneSuspected: false }],
    [5, 1000, true, { ok: true, signCount: 1000, cloneSuspected: false }],
    [5, 5, false, { ok: false, reason: "counter_not_increased", cloneSuspected: true }],
    [5, 4, false, { ok: false, reason: "counter_not_increased", cloneSuspected: true }],
    [5, 0, false, { ok: false, reason: "counter_not_increased", cloneSuspected: true }],
    [5, 5, true, { ok: true, signCount: 5, cloneSuspected: true }],
    [5, 0, true, { ok: true, signCount: 5, cloneSuspected: true }],
    [5, 2, true, { ok: true, signCount: 5, cloneSuspected: true }],
  ] as const)("stored %i, received %i, BE %s", (stored, received, be, verdict) => {
    expect(checkSignCount(stored, received, be)).toEqual(verdict);
  });
});

describe("rpIdFor", () => {
  it.each([
    ["https://id.example.test", { ok: true, rpId: "id.example.test", host: "id.example.test" }],
    ["https://id.example.test:8443", { ok: true, rpId: "id.example.test", host: "id.example.test:8443" }],
    ["https://127.0.0.1", { ok: false, reason: "ip_address_host" }],
    ["https://[::1]:8787", { ok: false, reason: "ip_address_host" }],
    ["https://2130706433", { ok: false, reason: "ip_address_host" }],
    ["http://id.example.test", { ok: false, reason: "insecure_origin" }],
    ["http://localhost:8787", { ok: false, reason: "insecure_origin" }],
    ["not a url", { ok: false, reason: "invalid_origin" }],
  ])("%s", (origin, verdict) => {
    expect(rpIdFor(origin)).toEqual(verdict);
  });

  it("takes http on a loopback name only when insecure loopback is allowed", () => {
    expect(rpIdFor("http://localhost:8787", { allowInsecureLoopback: true })).toEqual({
      ok: true,
      rpId: "localhost",
      host: "localhost:8787",
    });
    expect(rpIdFor("http://127.0.0.1:8787", { allowInsecureLoopback: true })).toEqual({
      ok: false,
      reason: "ip_address_host",
    });
    expect(rpIdFor("http://example.test", { allowInsecureLoopback: true })).toEqual({
      ok: false,
      reason: "insecure_origin",
    });
  });
});

describe("options", () => {
  it("builds the creation options of POST /api/passkeys/options", () => {
    const challenge = new Uint8Array(32).fill(1);
    const ownerId = new Uint8Array(32).fill(2);
    expect(
      registrationOptions({
        rpId: RP_ID,
        host: RP_ID,
        ownerHandle: "owner",
        ownerId,
        challenge,
        excludeCredentialIds: ["AQID"],
      }),
    ).toEqual({
      rp: { id: RP_ID, name: RP_ID },
      user: { id: base64urlEncode(ownerId), name: `owner@${RP_ID}`, displayName: `owner@${RP_ID}` },
      challenge: base64urlEncode(challenge),
      pubKeyCredParams: [
        { type: "public-key", alg: -8 },
        { type: "public-key", alg: -7 },
        { type: "public-key", alg: -257 },
      ],
      timeout: PASSKEY_TIMEOUT_MS,
      excludeCredentials: [{ type: "public-key", id: "AQID" }],
      authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
      attestation: "none",
      extensions: { prf: {} },
    });
  });

  it("builds the request options of POST /auth/passkey/options with no allowCredentials", () => {
    const challenge = new Uint8Array(32).fill(3);
    expect(authenticationOptions({ rpId: RP_ID, challenge })).toEqual({
      challenge: base64urlEncode(challenge),
      rpId: RP_ID,
      timeout: 300000,
      userVerification: "required",
      allowCredentials: [],
    });
  });
});
