/**
 * draft-cavage-http-signatures-12 as domain/httpSignatures.ts implements it: the
 * header grammar (§2.1, §4.1), the signing string (§2.3), and docs/api.md §11's
 * required components, Date window and Digest. The vector is built here with
 * WebCrypto: a known request, its signing string written out by hand, signed with
 * a fresh RSA key, and verified through the module's own parse and build.
 */
import { describe, expect, it } from "vitest";
import {
  buildSigningString,
  checkDateWindow,
  checkDigest,
  checkSignedRequest,
  encodeBase64,
  formatSignatureHeader,
  parseSignatureHeader,
  sha256FromDigestHeader,
  type SignedRequestFacts,
} from "../../src/domain/httpSignatures";

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const NOW = Date.parse("Sun, 22 Nov 2026 12:00:00 GMT");
const BODY = '{"type":"Create","actor":"https://peer.example/users/alice"}';

function facts(headers: Record<string, string>, method = "POST", target = "/inbox"): SignedRequestFacts {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, target, header: (name) => lower.get(name) ?? null };
}

async function digestOf(body: string) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)));
}

describe("the signing string (§2.3)", () => {
  it("is one line per component in the listed order, with (request-target) lowercased", async () => {
    const digest = `SHA-256=${encodeBase64(await digestOf(BODY))}`;
    const request = facts({ Host: "id.example.org", Date: "Sun, 22 Nov 2026 12:00:00 GMT", Digest: digest });
    const built = buildSigningString(["(request-target)", "host", "date", "digest"], request);
    expect(built).toEqual({
      ok: true,
      value:
        "(request-target): post /inbox\n" +
        "host: id.example.org\n" +
        "date: Sun, 22 Nov 2026 12:00:00 GMT\n" +
        `digest: ${digest}`,
    });
  });

  it("keeps the query in (request-target), trims values and fails on a missing header", () => {
    const request = facts({ host: "  h.example  " }, "GET", "/actor?x=1");
    expect(buildSigningString(["(request-target)", "host"], request)).toEqual({
      ok: true,
      value: "(request-target): get /actor?x=1\nhost: h.example",
    });
    expect(buildSigningString(["date"], request)).toEqual({ ok: false, reason: "missing_header" });
  });

  it("includes (created) and (expires) from the signature's parameters", () => {
    expect(buildSigningString(["(created)", "(expires)"], facts({}), { created: 1700000000, expires: 1700000300 })).toEqual({
      ok: true,
      value: "(created): 1700000000\n(expires): 1700000300",
    });
  });
});

describe("the Signature header (§4.1)", () => {
  it("parses keyId, algorithm, headers and the base64 signature", () => {
    const parsed = parseSignatureHeader(
      'keyId="https://peer.example/users/alice#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AQID"',
    );
    expect(parsed).toEqual({
      ok: true,
      value: {
        keyId: "https://peer.example/users/alice#main-key",
        algorithm: "rsa-sha256",
        headers: ["(request-target)", "host", "date", "digest"],
        signature: new Uint8Array([1, 2, 3]),
        created: null,
        expires: null,
      },
    });
  });

  it("accepts spaces, any parameter order, hs2019 with created/expires, and the Authorization form", () => {
    const parsed = parseSignatureHeader(
      'Signature signature="AQID", headers="(request-target) (created) host", keyId="k", algorithm="hs2019", created=1700000000, expires=1700000300',
    );
    expect(parsed.ok && parsed.value).toMatchObject({ keyId: "k", algorithm: "hs2019", created: 1700000000, expires: 1700000300 });
  });

  it("defaults headers to date when absent (§2.1.6)", () => {
    const parsed = parseSignatureHeader('keyId="k",signature="AQID"');
    expect(parsed.ok && parsed.value.headers).toEqual(["date"]);
    expect(parsed.ok && parsed.value.algorithm).toBeNull();
  });

  it.each([
    ["nothing", ""],
    ["no keyId", 'signature="AQID"'],
    ["no signature", 'keyId="k"'],
    ["a repeated parameter", 'keyId="k",keyId="j",signature="AQID"'],
    ["junk between parameters", 'keyId="k" junk,signature="AQID"'],
    ["a signature that is not base64", 'keyId="k",signature="not base64!"'],
    ["an unquoted string value", "keyId=k,signature=AQID"],
  ])("refuses %s", (_name, header) => {
    expect(parseSignatureHeader(header).ok).toBe(false);
  });

  it("refuses algorithms other than rsa-sha256 and hs2019", () => {
    for (const algorithm of ["hmac-sha256", "rsa-sha1", "ecdsa-sha256"]) {
      expect(parseSignatureHeader(`keyId="k",algorithm="${algorithm}",signature="AQID"`)).toEqual({ ok: false, reason: "unsupported_algorithm" });
    }
  });

  it("round-trips what formatSignatureHeader writes", () => {
    const header = formatSignatureHeader({ keyId: 'https://x.example/a"b', headers: ["date"], signature: new Uint8Array([255, 0]) });
    const parsed = parseSignatureHeader(header);
    expect(parsed.ok && parsed.value).toMatchObject({ keyId: 'https://x.example/a"b', headers: ["date"], signature: new Uint8Array([255, 0]) });
  });
});

describe("a signed request, end to end with WebCrypto (the vector)", () => {
  it("verifies with the signer's public key, and not after any covered header changes", async () => {
    const { privateKey, publicKey } = (await crypto.subtle.generateKey(
      { ...RSA, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      false,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const headers = {
      host: "id.example.org",
      date: "Sun, 22 Nov 2026 11:59:30 GMT",
      digest: `SHA-256=${encodeBase64(await digestOf(BODY))}`,
    };
    const expected = `(request-target): post /inbox\nhost: id.example.org\ndate: Sun, 22 Nov 2026 11:59:30 GMT\ndigest: ${headers.digest}`;
    const signature = new Uint8Array(await crypto.subtle.sign(RSA, privateKey, new TextEncoder().encode(expected)));
    const header = `keyId="https://peer.example/users/alice#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${encodeBase64(signature)}"`;

    const parsed = parseSignatureHeader(header);
    if (!parsed.ok) throw new Error(parsed.reason);
    const base = checkSignedRequest(parsed.value, facts(headers), NOW);
    expect(base).toEqual({ ok: true, value: expected });
    const verify = (text: string) => crypto.subtle.verify(RSA, publicKey, parsed.value.signature, new TextEncoder().encode(text));
    expect(await verify(base.ok ? base.value : "")).toBe(true);

    const moved = checkSignedRequest(parsed.value, facts({ ...headers, host: "evil.example" }), NOW);
    expect(await verify(moved.ok ? moved.value : "")).toBe(false);
    const otherPath = checkSignedRequest(parsed.value, facts(headers, "POST", "/inbox2"), NOW);
    expect(await verify(otherPath.ok ? otherPath.value : "")).toBe(false);
  });
});

describe("docs/api.md §11 checks", () => {
  const sig = (headers: string[]) => ({ keyId: "k", algorithm: "rsa-sha256", headers, signature: new Uint8Array([1]), created: null, expires: null });
  const request = facts({ host: "h", date: new Date(NOW).toUTCString(), digest: "SHA-256=x" });

  it("requires (request-target) host date digest to be signed", () => {
    for (const missing of ["(request-target)", "host", "date", "digest"]) {
      const headers = ["(request-target)", "host", "date", "digest"].filter((h) => h !== missing);
      expect(checkSignedRequest(sig(headers), request, NOW), missing).toEqual({ ok: false, reason: "missing_component" });
    }
    expect(checkSignedRequest(sig(["(request-target)", "host", "date", "digest"]), request, NOW).ok).toBe(true);
  });

  it("accepts a Date up to 1 h ahead and 12 h behind, no further", () => {
    const at = (ms: number) => checkDateWindow(new Date(ms).toUTCString(), NOW).ok;
    expect(at(NOW + 3600_000)).toBe(true);
    expect(at(NOW + 3601_000)).toBe(false);
    expect(at(NOW - 12 * 3600_000)).toBe(true);
    expect(at(NOW - 12 * 3600_000 - 1000)).toBe(false);
    expect(checkDateWindow("yesterday", NOW)).toEqual({ ok: false, reason: "bad_date" });
    expect(checkDateWindow(null, NOW)).toEqual({ ok: false, reason: "missing_header" });
  });

  it("refuses an expired signature", () => {
    const expired = { ...sig(["(request-target)", "host", "date", "digest"]), expires: NOW / 1000 - 1 };
    expect(checkSignedRequest(expired, request, NOW)).toEqual({ ok: false, reason: "expired" });
  });

  it("checks the Digest's SHA-256 against the body, among other algorithms too", async () => {
    const sha = await digestOf(BODY);
    expect(checkDigest(`SHA-256=${encodeBase64(sha)}`, sha).ok).toBe(true);
    expect(checkDigest(`sha-512=AAAA,SHA-256=${encodeBase64(sha)}`, sha).ok).toBe(true);
    expect(checkDigest(`SHA-256=${encodeBase64(await digestOf(BODY + " "))}`, sha)).toEqual({ ok: false, reason: "digest_mismatch" });
    expect(checkDigest("MD5=AAAA", sha)).toEqual({ ok: false, reason: "digest_missing" });
    expect(checkDigest(null, sha)).toEqual({ ok: false, reason: "digest_missing" });
    expect(sha256FromDigestHeader("SHA-256=AAAA")).toBeNull();
  });
});
