/**
 * RFC 9421 HTTP Message Signatures as domain/messageSignatures.ts implements them:
 * Signature-Input / Signature dictionaries (RFC 8941), the signature base (§2.5),
 * Content-Digest (RFC 9530) and docs/api.md §11's coverage and time checks. The
 * vector is made here with WebCrypto (rsa-v1_5-sha256).
 */
import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../src/domain/httpSignatures";
import {
  buildSignatureBase,
  checkMessageSignature,
  parseMessageSignature,
  sha256FromContentDigest,
  type MessageFacts,
} from "../../src/domain/messageSignatures";

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const NOW = Date.parse("2026-11-22T12:00:00Z");
const CREATED = NOW / 1000 - 30;
const DIGEST = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";

function facts(headers: Record<string, string>, url = "https://id.example.org/inbox", method = "POST"): MessageFacts {
  const u = new URL(url);
  return { method, url: u, authority: headers.host ?? u.host, header: (n) => headers[n] ?? null };
}

describe("Signature-Input and Signature", () => {
  it("parse into components, parameters and the raw @signature-params", () => {
    const input = `sig1=("@method" "@target-uri" "content-digest");created=${CREATED};keyid="https://peer.example/users/alice#main-key";alg="rsa-v1_5-sha256"`;
    const parsed = parseMessageSignature(input, "sig1=:AQID:");
    expect(parsed).toEqual({
      ok: true,
      value: {
        label: "sig1",
        components: ["@method", "@target-uri", "content-digest"],
        keyId: "https://peer.example/users/alice#main-key",
        algorithm: "rsa-v1_5-sha256",
        created: CREATED,
        expires: null,
        signatureParams: `("@method" "@target-uri" "content-digest");created=${CREATED};keyid="https://peer.example/users/alice#main-key";alg="rsa-v1_5-sha256"`,
        signature: new Uint8Array([1, 2, 3]),
      },
    });
  });

  it("picks the first signature it can check among several", () => {
    const input = `a=("@method");created=1;keyid="k";alg="ed25519", b=("@method");created=${CREATED};keyid="k2"`;
    const parsed = parseMessageSignature(input, "a=:AQID:, b=:BAUG:");
    expect(parsed.ok && parsed.value.label).toBe("b");
  });

  it.each([
    ["no Signature-Input", null, "sig1=:AQID:"],
    ["no Signature", 'sig1=("@method");created=1;keyid="k"', null],
    ["no matching label", 'sig1=("@method");created=1;keyid="k"', "sig2=:AQID:"],
    ["no keyid", 'sig1=("@method");created=1', "sig1=:AQID:"],
    ["a component with parameters", 'sig1=("@query-param";name="x");created=1;keyid="k"', "sig1=:AQID:"],
    ["an unknown derived component", 'sig1=("@status");created=1;keyid="k"', "sig1=:AQID:"],
    ["junk", "sig1=(((", "sig1=:AQID:"],
  ])("refuses %s", (_name, input, signature) => {
    expect(parseMessageSignature(input, signature).ok).toBe(false);
  });

  it("refuses algorithms other than rsa-v1_5-sha256, and a missing created", () => {
    expect(parseMessageSignature('s=("@method");created=1;keyid="k";alg="rsa-pss-sha512"', "s=:AQID:")).toEqual({ ok: false, reason: "unsupported_algorithm" });
    expect(parseMessageSignature('s=("@method");keyid="k"', "s=:AQID:")).toEqual({ ok: false, reason: "missing_component" });
  });
});

describe("the signature base (§2.5)", () => {
  it("lists each component quoted, then @signature-params", () => {
    const parsed = parseMessageSignature(
      `sig1=("@method" "@target-uri" "@authority" "@path" "@query" "content-digest");created=${CREATED};keyid="k"`,
      "sig1=:AQID:",
    );
    if (!parsed.ok) throw new Error(parsed.reason);
    const base = buildSignatureBase(parsed.value, facts({ "content-digest": ` ${DIGEST} `, host: "ID.example.org" }, "https://id.example.org/inbox"));
    expect(base).toEqual({
      ok: true,
      value: [
        '"@method": POST',
        '"@target-uri": https://id.example.org/inbox',
        '"@authority": id.example.org',
        '"@path": /inbox',
        '"@query": ?',
        `"content-digest": ${DIGEST}`,
        `"@signature-params": ("@method" "@target-uri" "@authority" "@path" "@query" "content-digest");created=${CREATED};keyid="k"`,
      ].join("\n"),
    });
  });

  it("needs @method, the target and content-digest covered, and created within the window", () => {
    const check = (components: string, created = CREATED) => {
      const parsed = parseMessageSignature(`s=(${components});created=${created};keyid="k"`, "s=:AQID:");
      if (!parsed.ok) throw new Error(parsed.reason);
      return checkMessageSignature(parsed.value, facts({ "content-digest": DIGEST }), NOW);
    };
    expect(check('"@method" "@target-uri" "content-digest"').ok).toBe(true);
    expect(check('"@method" "@authority" "@path" "content-digest"').ok).toBe(true);
    expect(check('"@target-uri" "content-digest"')).toEqual({ ok: false, reason: "missing_component" });
    expect(check('"@method" "@target-uri"')).toEqual({ ok: false, reason: "missing_component" });
    expect(check('"@method" "@authority" "content-digest"')).toEqual({ ok: false, reason: "missing_component" });
    expect(check('"@method" "@target-uri" "content-digest"', NOW / 1000 - 13 * 3600)).toEqual({ ok: false, reason: "date_out_of_window" });
    expect(check('"@method" "@target-uri" "content-digest"', NOW / 1000 + 2 * 3600)).toEqual({ ok: false, reason: "date_out_of_window" });
    expect(check('"@method" "@target-uri" "content-digest" "date"')).toEqual({ ok: false, reason: "missing_header" });
  });
});

describe("a message signature, end to end with WebCrypto (the vector)", () => {
  it("verifies with the signer's key, and not for another target", async () => {
    const { privateKey, publicKey } = (await crypto.subtle.generateKey(
      { ...RSA, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      false,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const params = `("@method" "@target-uri" "content-digest");created=${CREATED};keyid="https://peer.example/users/alice#main-key";alg="rsa-v1_5-sha256"`;
    const expected = `"@method": POST\n"@target-uri": https://id.example.org/inbox\n"content-digest": ${DIGEST}\n"@signature-params": ${params}`;
    const signature = new Uint8Array(await crypto.subtle.sign(RSA, privateKey, new TextEncoder().encode(expected)));
    const parsed = parseMessageSignature(`sig1=${params}`, `sig1=:${encodeBase64(signature)}:`);
    if (!parsed.ok) throw new Error(parsed.reason);
    const base = checkMessageSignature(parsed.value, facts({ "content-digest": DIGEST }), NOW);
    expect(base).toEqual({ ok: true, value: expected });
    const verify = (text: string) => crypto.subtle.verify(RSA, publicKey, parsed.value.signature, new TextEncoder().encode(text));
    expect(await verify(expected)).toBe(true);
    const moved = checkMessageSignature(parsed.value, facts({ "content-digest": DIGEST }, "https://evil.example/inbox"), NOW);
    expect(await verify(moved.ok ? moved.value : "")).toBe(false);
  });
});

describe("Content-Digest (RFC 9530)", () => {
  it("reads the sha-256 member among others", () => {
    expect(sha256FromContentDigest(DIGEST)).toHaveLength(32);
    expect(sha256FromContentDigest(`sha-512=:${"A".repeat(86)}==:, ${DIGEST}`)).toHaveLength(32);
    expect(sha256FromContentDigest("sha-512=:AAAA:")).toBeNull();
    expect(sha256FromContentDigest("SHA-256=abc")).toBeNull();
    expect(sha256FromContentDigest(null)).toBeNull();
  });
});
