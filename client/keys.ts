/**
 * The owner's key pairs (docs/api.md §1): Ed25519 for signing login assertions and
 * X25519 for ECDH-ES+A256KW message encryption, made in the browser with WebCrypto
 * and used through jose. Public JWKs carry kid = the RFC 7638 SHA-256 thumbprint and
 * `use`.
 *
 * Private keys exist in two forms only:
 *  - a private JWK (with "d"), in memory, while the escrow is being sealed or opened;
 *  - a non-extractable CryptoKey, which is what the device keeps (client/keystore.ts).
 */
import { CompactSign, importJWK, type JWK } from "jose";
import { base64urlEncode, sha256, utf8 } from "../src/lib/bytes";
import type { PublicKeys } from "../src/schemas/api";
import { IndieError } from "./errors";

export type KeyUse = "sig" | "enc";

/** JWS alg of the owner's signing key; "EdDSA" is accepted too, but this is the registered name. */
export const SIGNING_ALG = "Ed25519";
/** JWE alg for messages to the owner (docs/api.md §9). */
export const MESSAGE_ALG = "ECDH-ES+A256KW";
export const MESSAGE_ENC = "A256GCM";

export interface PublicOkpJwk {
  kty: "OKP";
  crv: "Ed25519" | "X25519";
  x: string;
  kid: string;
  use: KeyUse;
}

/** A private key as the escrow holds it: the public members plus "d". */
export interface PrivateOkpJwk extends PublicOkpJwk {
  d: string;
}

/** A key the device holds: non-extractable, with the public half for reference. */
export interface DeviceKey {
  kid: string;
  use: KeyUse;
  privateKey: CryptoKey;
  publicJwk: PublicOkpJwk;
  status: "current" | "retired";
}

const curveFor = (use: KeyUse) => (use === "sig" ? "Ed25519" : "X25519");
const algFor = (use: KeyUse) => (use === "sig" ? SIGNING_ALG : MESSAGE_ALG);

/**
 * RFC 7638 §3: SHA-256 over the required members in lexicographic order, which for
 * an OKP key (RFC 8037 §2) are crv, kty and x; base64url. What jose's
 * calculateJwkThumbprint computes for these keys (client/test/messages.test.ts checks
 * both, and RFC 8037's example), written out so the web app does not bundle jose's
 * every-key-type version (~0.4 KiB gzipped) for the one key type it hashes.
 */
export async function okpThumbprint(crv: string, x: string): Promise<string> {
  return base64urlEncode(await sha256(JSON.stringify({ crv, kty: "OKP", x })));
}

export async function publicJwkOf(jwk: { kty?: string; crv?: string; x?: string }, use: KeyUse): Promise<PublicOkpJwk> {
  if (jwk.kty !== "OKP" || jwk.crv !== curveFor(use) || typeof jwk.x !== "string") {
    throw new IndieError("escrow_unreadable", `A ${use} key is not an ${curveFor(use)} key.`);
  }
  const kid = await okpThumbprint(jwk.crv, jwk.x);
  return { kty: "OKP", crv: jwk.crv, x: jwk.x, kid, use };
}

/**
 * A fresh key pair, returned as a private JWK. The extractable CryptoKey WebCrypto
 * makes is dropped here, so the only exportable form left is the JWK the caller seals
 * into the escrow and then lets go of. (The usages are the ones jose's generateKeyPair
 * asks for, which this called before; only the exported JWK is kept anyway.)
 */
export async function generatePrivateJwk(use: KeyUse): Promise<PrivateOkpJwk> {
  const usages: KeyUsage[] = use === "sig" ? ["sign", "verify"] : ["deriveBits"];
  const { privateKey } = (await crypto.subtle.generateKey({ name: curveFor(use) }, true, usages)) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.d !== "string") throw new Error("WebCrypto exported a private key without d");
  const pub = await publicJwkOf(jwk, use);
  return { ...pub, d: jwk.d };
}

/** Imports a private JWK as a non-extractable CryptoKey: exportKey on it fails. */
export async function importDeviceKey(jwk: PrivateOkpJwk, status: "current" | "retired"): Promise<DeviceKey> {
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, algFor(jwk.use), { extractable: false });
  if (!(key instanceof CryptoKey) || key.extractable) throw new Error("expected a non-extractable CryptoKey");
  const { kty, crv, x, kid, use } = jwk;
  return { kid, use, privateKey: key, publicJwk: { kty, crv, x, kid, use }, status };
}

export function publicKeysOf(sig: PublicOkpJwk, enc: PublicOkpJwk): PublicKeys {
  return {
    sig: { kty: "OKP", crv: "Ed25519", x: sig.x, kid: sig.kid, use: "sig" },
    enc: { kty: "OKP", crv: "X25519", x: enc.x, kid: enc.kid, use: "enc" },
  };
}

/**
 * A login assertion (docs/api.md §4): a compact JWS over {aud, nonce, iat, exp}
 * signed by the owner's current signing key. Lifetime 120 s, well under the 300 s
 * the server allows. The claims are written out in the order jose's SignJWT wrote
 * them (nonce, aud, iat, exp) and signed with jose's CompactSign: the same bytes
 * (Ed25519 is deterministic; client/test/messages.test.ts compares), without jose's
 * JWT claims builder in the web app.
 */
export async function signAssertion(
  key: { privateKey: CryptoKey; kid: string },
  audience: string,
  nonce: string,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  if (!Number.isFinite(iat)) throw new TypeError("Invalid setIssuedAt input"); // as SignJWT refused it
  return new CompactSign(utf8(JSON.stringify({ nonce, aud: audience, iat, exp: iat + 120 })))
    .setProtectedHeader({ alg: SIGNING_ALG, typ: "JWT", kid: key.kid })
    .sign(key.privateKey);
}

export type { JWK };
