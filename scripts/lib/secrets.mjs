// Generating the instance's secrets. Shared by `npm run dev` (local .dev.vars) and
// `npm run deploy` (wrangler secret bulk). Uses Node's WebCrypto only.
import { webcrypto } from "node:crypto";

const BASE32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"; // no 0/O, 1/I: easy to read aloud

/** A setup code of 160 bits (>= 128 required), grouped for reading: XXXX-XXXX-... */
export function generateSetupCode() {
  const bytes = webcrypto.getRandomValues(new Uint8Array(32));
  // 32 characters from a 32-symbol alphabet = 160 bits.
  const chars = [...bytes].map((b) => BASE32[b & 31]).join("");
  return chars.match(/.{4}/g).join("-");
}

/** The Ed25519 private JWK that signs access tokens, as JSON. */
export async function generateInstanceSigningKey() {
  const { privateKey } = await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const jwk = await webcrypto.subtle.exportKey("jwk", privateKey);
  return JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d });
}

/** 32 random bytes, base64url: the key for data encrypted or keyed-hashed at rest. */
export function generateDataKey() {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

/**
 * The instance's RSA-2048 private key for ActivityPub HTTP signatures (docs/api.md
 * §11: RSA is the key type Mastodon verifies), as PKCS#8 PEM. It is made for
 * RSASSA-PKCS1-v1_5 with SHA-256: `rsa-sha256` in draft-cavage, `rsa-v1_5-sha256` in
 * RFC 9421.
 */
export async function generateFederationKey() {
  const { privateKey } = await webcrypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", privateKey)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${der.match(/.{1,64}/g).join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/**
 * The Bearer token resource servers present to POST /indieauth/introspect
 * (docs/api.md §14): 32 random bytes, base64url. Give it to the servers that check
 * the owner's IndieAuth tokens; nothing else ever needs it.
 */
export function generateIntrospectionSecret() {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export const SECRET_GENERATORS = {
  SETUP_CODE: async () => generateSetupCode(),
  INSTANCE_SIGNING_KEY: generateInstanceSigningKey,
  DATA_KEY: async () => generateDataKey(),
  FEDERATION_KEY: generateFederationKey,
  INDIEAUTH_INTROSPECTION_SECRET: async () => generateIntrospectionSecret(),
};

/** Parses a .dev.vars / .env style file into a Map (KEY=value, "quoted" or bare). */
export function parseDotenv(text) {
  const vars = new Map();
  for (const line of text.split(/\r?\n/)) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/);
    if (!m) continue;
    let value = m[2];
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    else if (value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value);
    vars.set(m[1], value);
  }
  return vars;
}

export function formatDotenvLine(name, value) {
  // A multi-line value (the federation key's PEM) goes in double quotes with \n
  // escapes: wrangler's dotenv turns them back into newlines, and parseDotenv reads
  // the line as JSON. dotenv unescapes nothing else, so such a value must hold no
  // quote or backslash (PEM never does).
  if (value.includes("\n")) {
    if (/["\\]/.test(value)) throw new Error(`${name}: a multi-line value cannot contain " or \\`);
    return `${name}="${value.replaceAll("\r", "").replaceAll("\n", "\\n")}"`;
  }
  // Single quotes keep JSON (the signing key) verbatim.
  return `${name}='${value}'`;
}
