import { CompactEncrypt, CompactSign, generateKeyPair, exportJWK, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { inspectMessageJwe, JWE_REJECTION_MESSAGES, type JweRejection } from "../../src/domain/jwe";

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const text = (s: string) => b64url(new TextEncoder().encode(s));

async function x25519() {
  const { publicKey } = await generateKeyPair("ECDH-ES", { crv: "X25519", extractable: true });
  return importJWK({ ...(await exportJWK(publicKey)) }, "ECDH-ES");
}

async function seal(header: Record<string, unknown>, plaintext = "hi"): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader(header as { alg: string; enc: string })
    .encrypt(await x25519());
}

/** A real JWE with its protected header replaced (the rest stays well formed). */
async function withHeader(header: Record<string, unknown>): Promise<string> {
  const parts = (await seal({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: "k" })).split(".");
  return [text(JSON.stringify(header)), ...parts.slice(1)].join(".");
}

const reject = (reason: JweRejection) => ({ ok: false, reason });
const EPK = { kty: "OKP", crv: "X25519", x: "x".repeat(43) };

describe("inspectMessageJwe", () => {
  it("accepts what jose's CompactEncrypt makes for ECDH-ES+A256KW and ECDH-ES with A256GCM and a kid", async () => {
    for (const alg of ["ECDH-ES+A256KW", "ECDH-ES"]) {
      expect(inspectMessageJwe(await seal({ alg, enc: "A256GCM", kid: "owner-key" }))).toEqual({
        ok: true,
        header: { alg, enc: "A256GCM", kid: "owner-key" },
      });
    }
  });

  it("accepts an empty plaintext (an empty ciphertext part)", async () => {
    expect(inspectMessageJwe(await seal({ alg: "ECDH-ES", enc: "A256GCM", kid: "k" }, "")).ok).toBe(true);
  });

  it("refuses anything that is not five parts", async () => {
    const { privateKey } = await generateKeyPair("Ed25519");
    const jws = await new CompactSign(new TextEncoder().encode("x")).setProtectedHeader({ alg: "Ed25519" }).sign(privateKey);
    for (const jwe of ["", "abc", jws, "a.b.c.d", "a.b.c.d.e.f"]) expect(inspectMessageJwe(jwe)).toEqual(reject("not_compact"));
  });

  it("refuses parts that are not unpadded base64url", async () => {
    const parts = (await seal({ alg: "ECDH-ES", enc: "A256GCM", kid: "k" })).split(".");
    for (const i of [1, 2, 3, 4]) {
      const broken = [...parts];
      broken[i] = `${broken[i]}==`;
      expect(inspectMessageJwe(broken.join(".")), `part ${i}`).toEqual(reject("not_base64url"));
    }
    expect(inspectMessageJwe(["a+b/", ...parts.slice(1)].join("."))).toEqual(reject("not_base64url"));
  });

  it("refuses a header that is empty, not JSON, not an object, or not UTF-8", async () => {
    const parts = (await seal({ alg: "ECDH-ES", enc: "A256GCM", kid: "k" })).split(".");
    for (const header of ["", text("not json"), text("[1,2]"), text("null"), b64url(new Uint8Array([0x7b, 0xff, 0x7d]))]) {
      expect(inspectMessageJwe([header, ...parts.slice(1)].join("."))).toEqual(reject("header_not_json"));
    }
  });

  it("refuses other algorithms, other content encryption, and a missing kid", async () => {
    expect(inspectMessageJwe(await withHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", kid: "k", epk: EPK }))).toEqual(reject("unsupported_alg"));
    expect(inspectMessageJwe(await withHeader({ alg: "dir", enc: "A256GCM", kid: "k", epk: EPK }))).toEqual(reject("unsupported_alg"));
    expect(inspectMessageJwe(await withHeader({ enc: "A256GCM", kid: "k", epk: EPK }))).toEqual(reject("unsupported_alg"));
    expect(inspectMessageJwe(await withHeader({ alg: "ECDH-ES+A256KW", enc: "A128GCM", kid: "k", epk: EPK }))).toEqual(reject("unsupported_enc"));
    expect(inspectMessageJwe(await withHeader({ alg: "ECDH-ES+A256KW", enc: "A256CBC-HS512", kid: "k", epk: EPK }))).toEqual(reject("unsupported_enc"));
    expect(inspectMessageJwe(await withHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", epk: EPK }))).toEqual(reject("missing_kid"));
    expect(inspectMessageJwe(await withHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: "", epk: EPK }))).toEqual(reject("missing_kid"));
    expect(inspectMessageJwe(await withHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: 7, epk: EPK }))).toEqual(reject("missing_kid"));
  });

  it("refuses an ephemeral key that is missing, on another curve, or private", async () => {
    const base = { alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: "k" };
    expect(inspectMessageJwe(await withHeader(base))).toEqual(reject("bad_epk"));
    expect(inspectMessageJwe(await withHeader({ ...base, epk: { kty: "EC", crv: "P-256", x: "a", y: "b" } }))).toEqual(reject("bad_epk"));
    expect(inspectMessageJwe(await withHeader({ ...base, epk: { ...EPK, d: "secret" } }))).toEqual(reject("bad_epk"));
  });

  it("refuses zip and crit, which the owner's client would refuse to open", async () => {
    const base = { alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: "k", epk: EPK };
    expect(inspectMessageJwe(await withHeader({ ...base, zip: "DEF" }))).toEqual(reject("unsupported_header"));
    expect(inspectMessageJwe(await withHeader({ ...base, crit: ["exp"], exp: 1 }))).toEqual(reject("unsupported_header"));
  });

  it("checks the part sizes fixed by the algorithms: wrapped key, IV and tag", async () => {
    const wrapped = (await seal({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: "k" })).split(".");
    const direct = (await seal({ alg: "ECDH-ES", enc: "A256GCM", kid: "k" })).split(".");
    const replace = (parts: string[], i: number, value: string) => parts.map((p, j) => (j === i ? value : p)).join(".");
    expect(inspectMessageJwe(replace(wrapped, 1, ""))).toEqual(reject("bad_encrypted_key"));
    expect(inspectMessageJwe(replace(wrapped, 1, b64url(new Uint8Array(32))))).toEqual(reject("bad_encrypted_key"));
    expect(inspectMessageJwe(replace(direct, 1, b64url(new Uint8Array(40))))).toEqual(reject("bad_encrypted_key"));
    expect(inspectMessageJwe(replace(wrapped, 2, b64url(new Uint8Array(16))))).toEqual(reject("bad_iv"));
    expect(inspectMessageJwe(replace(wrapped, 2, ""))).toEqual(reject("bad_iv"));
    expect(inspectMessageJwe(replace(wrapped, 4, b64url(new Uint8Array(12))))).toEqual(reject("bad_tag"));
  });

  it("has a message for every rejection", () => {
    for (const message of Object.values(JWE_REJECTION_MESSAGES)) expect(message).toMatch(/\.$/);
  });
});
