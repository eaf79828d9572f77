import { decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { IndieError } from "../errors";
import { generatePrivateJwk, importDeviceKey, okpThumbprint, signAssertion } from "../keys";
import { open, seal, sendMessage } from "../messages";
import { CompactEncrypt, jwtVerify, importJWK, calculateJwkThumbprint, SignJWT } from "jose";

async function ownerKeys() {
  const current = await generatePrivateJwk("enc");
  const retired = await generatePrivateJwk("enc");
  const sig = await generatePrivateJwk("sig");
  const pub = (k: typeof current) => ({ kty: k.kty, crv: k.crv, x: k.x, kid: k.kid, use: k.use });
  const jwks = { keys: [pub(sig), pub(current), { ...pub(retired), status: "retired" }] };
  return { current, retired, sig, jwks };
}

/** A fetch that serves one origin's JWKS and records POST /messages bodies. */
function fakeServer(jwks: unknown) {
  const posted: unknown[] = [];
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname === "/.well-known/jwks.json") return Response.json(jwks);
    if (url.pathname === "/messages" && init?.method === "POST") {
      posted.push(JSON.parse(String(init.body)));
      return Response.json({ id: posted.length }, { status: 202 });
    }
    return Response.json({ error: "not_found", message: "no" }, { status: 404 });
  };
  return { fetchFn, posted };
}

describe("seal and open", () => {
  it("seals to the current (non-retired) encryption key with its kid, and the owner opens it", async () => {
    const keys = await ownerKeys();
    const { fetchFn } = fakeServer(keys.jwks);
    const jwe = await seal("https://owner.example/contact", "hello owner", { fetch: fetchFn });
    expect(decodeProtectedHeader(jwe)).toMatchObject({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: keys.current.kid });
    const deviceKeys = [await importDeviceKey(keys.current, "current"), await importDeviceKey(keys.retired, "retired")];
    expect(await open(jwe, deviceKeys)).toBe("hello owner");
  });

  it("opens a message encrypted to a retired key", async () => {
    const keys = await ownerKeys();
    // Sealed while the retired key was still current.
    const { kty, crv, x, kid, use } = keys.retired;
    const { fetchFn } = fakeServer({ keys: [{ kty, crv, x, kid, use }] });
    const jwe = await seal("https://owner.example", "old news", { fetch: fetchFn });
    const deviceKeys = [await importDeviceKey(keys.current, "current"), await importDeviceKey(keys.retired, "retired")];
    expect(await open(jwe, deviceKeys)).toBe("old news");
  });

  it("says which failure it is: unknown key, not a JWE", async () => {
    const keys = await ownerKeys();
    const { fetchFn } = fakeServer(keys.jwks);
    const jwe = await seal("https://owner.example", "x", { fetch: fetchFn });
    await expect(open(jwe, [await importDeviceKey(keys.retired, "retired")])).rejects.toMatchObject({ code: "unknown_key" });
    await expect(open("nonsense", [])).rejects.toBeInstanceOf(IndieError);
  });

  it("refuses a compressed (zip: DEF) JWE instead of inflating it", async () => {
    const keys = await ownerKeys();
    const { kty, crv, x, kid } = keys.current;
    // 1 MB of one letter deflates to about a kilobyte: a small message that would
    // cost the owner's device a megabyte, were it inflated.
    const bomb = await new CompactEncrypt(new TextEncoder().encode("a".repeat(1_000_000)))
      .setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid, zip: "DEF" })
      .encrypt(await importJWK({ kty, crv, x }, "ECDH-ES+A256KW"));
    expect(bomb.length).toBeLessThan(10_000);
    const deviceKeys = [await importDeviceKey(keys.current, "current")];
    await expect(open(bomb, deviceKeys)).rejects.toMatchObject({ code: "decrypt_failed", message: expect.stringMatching(/compressed/) });
    // A small compressed message is refused too: compression is never used by senders.
    const small = await new CompactEncrypt(new TextEncoder().encode("hi"))
      .setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid, zip: "DEF" })
      .encrypt(await importJWK({ kty, crv, x }, "ECDH-ES+A256KW"));
    await expect(open(small, deviceKeys)).rejects.toMatchObject({ code: "decrypt_failed" });
  });

  it("posts {jwe, from} to /messages and returns the id", async () => {
    const keys = await ownerKeys();
    const { fetchFn, posted } = fakeServer(keys.jwks);
    expect(await sendMessage("https://owner.example", "hi", { from: " Ada ", fetch: fetchFn })).toEqual({ id: 1 });
    expect(posted[0]).toMatchObject({ from: "Ada", jwe: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/) });
  });
});

describe("keys", () => {
  it("makes kid the RFC 7638 thumbprint and imports private keys non-extractable", async () => {
    for (const use of ["sig", "enc"] as const) {
      const jwk = await generatePrivateJwk(use);
      expect(jwk.kid).toBe(await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "sha256"));
      const device = await importDeviceKey(jwk, "current");
      expect(device.privateKey.extractable).toBe(false);
      await expect(crypto.subtle.exportKey("jwk", device.privateKey)).rejects.toThrow();
    }
  });

  it("signs assertions the server's checks accept: Ed25519, typ JWT, kid, aud, nonce, exp - iat <= 300", async () => {
    const jwk = await generatePrivateJwk("sig");
    const device = await importDeviceKey(jwk, "current");
    const assertion = await signAssertion(device, "https://owner.example", "nonce-1");
    const publicKey = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "Ed25519");
    const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, { audience: "https://owner.example" });
    expect(protectedHeader).toMatchObject({ alg: "Ed25519", typ: "JWT", kid: jwk.kid });
    expect(payload.nonce).toBe("nonce-1");
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
  });

  it("signs the very bytes jose's SignJWT made, and refuses a time that is not a number as it did", async () => {
    const device = await importDeviceKey(await generatePrivateJwk("sig"), "current");
    for (const [aud, nonce, nowMs] of [
      ["https://owner.example", "nonce-1", 1_700_000_000_999],
      ["https://id.example.org:8443/ü", 'a "quoted" nonce\u2028', 0],
    ] as const) {
      const iat = Math.floor(nowMs / 1000);
      const withJose = await new SignJWT({ nonce })
        .setProtectedHeader({ alg: "Ed25519", typ: "JWT", kid: device.kid })
        .setAudience(aud)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 120)
        .sign(device.privateKey);
      expect(await signAssertion(device, aud, nonce, nowMs)).toBe(withJose);
    }
    await expect(signAssertion(device, "https://owner.example", "n", Number.NaN)).rejects.toThrow(TypeError);
  });

  it("computes RFC 7638 thumbprints as jose does, and RFC 8037's example", async () => {
    // RFC 8037 Appendix A.3.
    expect(await okpThumbprint("Ed25519", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    for (let i = 0; i < 20; i++) {
      const { kty, crv, x } = await generatePrivateJwk(i % 2 ? "sig" : "enc");
      expect(await okpThumbprint(crv, x)).toBe(await calculateJwkThumbprint({ kty, crv, x }, "sha256"));
    }
  });

  it("makes private JWKs with exactly the members the keyring stores, usable for their use", async () => {
    for (const use of ["sig", "enc"] as const) {
      const jwk = await generatePrivateJwk(use);
      expect(Object.keys(jwk).sort()).toEqual(["crv", "d", "kid", "kty", "use", "x"]);
      expect(jwk).toMatchObject({ kty: "OKP", crv: use === "sig" ? "Ed25519" : "X25519", use });
      expect(jwk.d).toMatch(/^[\w-]{43}$/);
      expect(jwk.x).toMatch(/^[\w-]{43}$/);
    }
  });
});
