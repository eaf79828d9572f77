/**
 * The secret generators shared by `npm run dev` and `npm run deploy`
 * (scripts/lib/secrets.mjs), and the .dev.vars format they are written in.
 */
import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM helper shared with the dev and deploy scripts
import { formatDotenvLine, generateFederationKey, generateIntrospectionSecret, parseDotenv, SECRET_GENERATORS } from "../../scripts/lib/secrets.mjs";

describe("secret generators", () => {
  it("makes every secret the instance needs, each different every time", async () => {
    expect(Object.keys(SECRET_GENERATORS)).toEqual(["SETUP_CODE", "INSTANCE_SIGNING_KEY", "DATA_KEY", "FEDERATION_KEY", "INDIEAUTH_INTROSPECTION_SECRET"]);
    for (const generate of Object.values(SECRET_GENERATORS) as (() => Promise<string>)[]) {
      const [a, b] = await Promise.all([generate(), generate()]);
      expect(typeof a).toBe("string");
      expect(a).not.toBe(b);
    }
  });

  it("makes the IndieAuth introspection secret 32 random bytes, base64url: a Bearer token as RFC 6750 spells one", () => {
    const secret: string = generateIntrospectionSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
  });

  it("makes the federation key an RSA-2048 private key in PKCS#8 PEM", async () => {
    const pem: string = await generateFederationKey();
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PRIVATE KEY-----\n$/);
    const key = createPrivateKey(pem);
    expect(key.asymmetricKeyType).toBe("rsa");
    expect(key.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });
  });
});

describe(".dev.vars lines", () => {
  it("keeps single-line values in single quotes, as before", () => {
    expect(formatDotenvLine("DATA_KEY", "abc_-123")).toBe("DATA_KEY='abc_-123'");
    const jwk = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x", d: "d" });
    expect(parseDotenv(formatDotenvLine("INSTANCE_SIGNING_KEY", jwk)).get("INSTANCE_SIGNING_KEY")).toBe(jwk);
  });

  it("writes a PEM on one line with \\n escapes, and reads it back unchanged", async () => {
    const pem: string = await generateFederationKey();
    const line: string = formatDotenvLine("FEDERATION_KEY", pem);
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toMatch(/^FEDERATION_KEY="-----BEGIN PRIVATE KEY-----\\n/);
    const vars: Map<string, string> = parseDotenv(`SETUP_CODE='AAAA'\n${line}\nDATA_KEY='k'\n`);
    expect(vars.get("FEDERATION_KEY")).toBe(pem);
    expect(vars.get("DATA_KEY")).toBe("k");
  });

  it("refuses a multi-line value that dotenv could not read back", () => {
    expect(() => formatDotenvLine("X", 'a\n"b"')).toThrow();
  });
});
