// Generating the instance's secrets. Shared by `npm run dev` (local .dev.vars) and,
// later, `npm run deploy` (wrangler secret bulk). Uses Node's WebCrypto only.
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

export const SECRET_GENERATORS = {
  SETUP_CODE: async () => generateSetupCode(),
  INSTANCE_SIGNING_KEY: generateInstanceSigningKey,
  DATA_KEY: async () => generateDataKey(),
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
  // Single quotes keep JSON (the signing key) verbatim.
  return `${name}='${value}'`;
}
