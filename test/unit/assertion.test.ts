// The assertion and access-token verifiers (src/domain/assertion.ts,
// src/domain/accessToken.ts) against headers and claims §4 does not allow. Tokens are
// signed by hand with WebCrypto, so any header can carry a valid signature.
// A refusal must be a thrown AssertionError / AccessTokenError and nothing else:
// workerd reports a rejection jose leaves unhandled as an "Unhandled Rejection",
// which fails this run even when every test passes.
import { env } from "cloudflare:test";
import { base64url, generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AccessTokenError, signAccessToken, verifyAccessToken } from "../../src/domain/accessToken";
import { AssertionError, verifyAssertion } from "../../src/domain/assertion";
import { checkCompactJws } from "../../src/domain/compactJws";
import { loadInstanceKey, type InstanceKey } from "../../src/lib/instanceKey";

const ORIGIN = "https://id.example.test";
const NOW_MS = Date.now();
const NOW_S = Math.floor(NOW_MS / 1000);
const NONCE = "n".repeat(43);
const KID = "owner-kid";

const text = (value: unknown) => base64url.encode(JSON.stringify(value));

/** A compact JWS with exactly this header and payload, validly signed with Ed25519. */
async function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>, key: CryptoKey): Promise<string> {
  const input = `${text(header)}.${text(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(input)));
  return `${input}.${base64url.encode(signature)}`;
}

let owner: CryptoKeyPair;
beforeAll(async () => {
  owner = await generateKeyPair("Ed25519", { extractable: true });
});

const claims = (extra: Record<string, unknown> = {}) => ({ aud: ORIGIN, nonce: NONCE, iat: NOW_S, exp: NOW_S + 60, ...extra });
const verify = (assertion: string) => verifyAssertion(assertion, owner.publicKey, { audience: ORIGIN, kid: KID, nonce: NONCE, nowMs: NOW_MS });

async function expectRefused(assertion: string, reason: string | RegExp) {
  const err = await verify(assertion).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AssertionError);
  expect((err as AssertionError).reason).toMatch(reason);
}

describe("verifyAssertion: header", () => {
  it("accepts typ JWT in any case (media type names are case-insensitive), with or without a kid", async () => {
    for (const typ of ["JWT", "jwt", "Jwt"]) {
      await expect(verify(await signRaw({ alg: "Ed25519", typ, kid: KID }, claims(), owner.privateKey))).resolves.toBeUndefined();
    }
    await expect(verify(await signRaw({ alg: "EdDSA", typ: "JWT" }, claims(), owner.privateKey))).resolves.toBeUndefined();
  });

  it("refuses an alg it does not take without repeating it (the reason goes into the owner's security log)", async () => {
    await expectRefused(await signRaw({ alg: "x".repeat(3000), typ: "JWT" }, claims(), owner.privateKey), /^alg not allowed$/);
  });

  it("refuses a header without typ, or with any other typ", async () => {
    await expectRefused(await signRaw({ alg: "Ed25519" }, claims(), owner.privateKey), "typ must be JWT");
    for (const typ of ["at+jwt", "JOSE", "application/jwt", "", 1, null]) {
      await expectRefused(await signRaw({ alg: "Ed25519", typ }, claims(), owner.privateKey), "typ must be JWT");
    }
  });

  it("refuses any crit header before jose sees it: unknown, known to jose (b64), or malformed", async () => {
    const signed = await new SignJWT(claims())
      .setProtectedHeader({ alg: "Ed25519", typ: "JWT", crit: ["urn:example:ext"], "urn:example:ext": 1 })
      .sign(owner.privateKey, { crit: { "urn:example:ext": true } });
    await expectRefused(signed, "crit header not supported");
    for (const crit of [["b64"], ["exp"], [], "x", null]) {
      await expectRefused(await signRaw({ alg: "Ed25519", typ: "JWT", crit, b64: true }, claims(), owner.privateKey), "crit header not supported");
    }
  });

  it("refuses a signature or payload segment that is not base64url, without an unhandled rejection", async () => {
    const [h, p, s] = (await signRaw({ alg: "Ed25519", typ: "JWT" }, claims(), owner.privateKey)).split(".");
    await expectRefused(`${h}.${p}.${s}%`, "not a compact JWS");
    await expectRefused(`${h}.${p}.é${s}`, "not a compact JWS");
    await expectRefused(`${h}.${p}.${s!.slice(0, 85)}`, "malformed base64url"); // 85 % 4 === 1
    await expectRefused(`${h}.${p}.`, "not a compact JWS");
    await expectRefused(`${h}.${p}=.${s}`, "not a compact JWS");
  });
});

describe("verifyAssertion: aud", () => {
  it("refuses an aud array even when it holds ORIGIN alone", async () => {
    await expectRefused(await signRaw({ alg: "Ed25519", typ: "JWT" }, claims({ aud: [ORIGIN] }), owner.privateKey), "aud must be exactly ORIGIN");
    await expectRefused(
      await signRaw({ alg: "Ed25519", typ: "JWT" }, claims({ aud: [ORIGIN, "https://other.example"] }), owner.privateKey),
      "aud must be exactly ORIGIN",
    );
  });

  it("refuses a missing or different aud", async () => {
    await expectRefused(await signRaw({ alg: "Ed25519", typ: "JWT" }, claims({ aud: undefined }), owner.privateKey), /aud/);
    await expectRefused(await signRaw({ alg: "Ed25519", typ: "JWT" }, claims({ aud: `${ORIGIN}/` }), owner.privateKey), /aud/);
  });
});

describe("checkCompactJws", () => {
  it("passes a well-formed token and returns its header", async () => {
    const token = await signRaw({ alg: "Ed25519", typ: "JWT", kid: KID }, claims(), owner.privateKey);
    expect(checkCompactJws(token)).toEqual({ ok: true, header: { alg: "Ed25519", typ: "JWT", kid: KID } });
  });

  it("refuses other shapes", () => {
    for (const token of ["", "x", "a.b", "a.b.c.d.e", "..", "a..c", `${text([])}.${text({})}.AAAA`, `${text("s")}.e30.AAAA`]) {
      expect(checkCompactJws(token).ok, token).toBe(false);
    }
  });
});

describe("verifyAccessToken", () => {
  let key: InstanceKey;
  beforeAll(async () => {
    key = await loadInstanceKey(env.INSTANCE_SIGNING_KEY!);
  });
  const verifyToken = (token: string) => verifyAccessToken(token, key, ORIGIN, NOW_MS);
  const accessClaims = () => ({ sid: "s", auth_time: NOW_S, amr: ["pop"], iss: ORIGIN, aud: ORIGIN, sub: "owner", iat: NOW_S, exp: NOW_S + 600, jti: "j" });

  async function expectTokenRefused(token: string, reason: string | RegExp) {
    const err = await verifyToken(token).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AccessTokenError);
    expect((err as AccessTokenError).reason).toMatch(reason);
  }

  it("accepts a token it minted (control)", async () => {
    const minted = await signAccessToken(key, { origin: ORIGIN, sid: "s", authTimeS: NOW_S, amr: ["pop"], ttlS: 600, nowMs: NOW_MS });
    await expect(verifyToken(minted.accessToken)).resolves.toMatchObject({ sid: "s" });
  });

  it("refuses a crit header, validly signed by the instance key, before jose sees it", async () => {
    const header = { alg: "EdDSA", typ: "at+jwt", kid: key.kid };
    const signed = await new SignJWT(accessClaims())
      .setProtectedHeader({ ...header, crit: ["urn:example:ext"], "urn:example:ext": 1 })
      .sign(key.privateKey, { crit: { "urn:example:ext": true } });
    await expectTokenRefused(signed, "crit header not supported");
    await expectTokenRefused(await signRaw({ ...header, crit: ["b64"], b64: false }, accessClaims(), key.privateKey), "crit header not supported");
  });

  it("refuses a signature that is not base64url", async () => {
    const [h, p, s] = (await signRaw({ alg: "EdDSA", typ: "at+jwt" }, accessClaims(), key.privateKey)).split(".");
    await expectTokenRefused(`${h}.${p}.${s}*`, "not a compact JWS");
    await expectTokenRefused(`${h}.${p}.${s!.slice(0, 85)}`, "malformed base64url");
  });
});
