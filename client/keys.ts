/**
 * The owner's key pairs (docs/api.md §1): Ed25519 for signing login assertions and
 * X25519 for ECDH-ES+A256KW message encryption, made in the browser with WebCrypto
 * through jose. Public JWKs carry kid = the RFC 7638 SHA-256 thumbprint and `use`.
 *
 * Private keys exist in two forms only:
 *  - a private JWK (with "d"), in memory, while the escrow is being sealed or opened;
 *  - a non-extractable CryptoKey, which is what the device keeps (client/keystore.ts).
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
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

export async function publicJwkOf(jwk: { kty?: string; crv?: string; x?: string }, use: KeyUse): Promise<PublicOkpJwk> {
  if (jwk.kty !== "OKP" || jwk.crv !== curveFor(use) || typeof jwk.x !== "string") {
    throw new IndieError("escrow_unreadable", `A ${use} key is not an ${curveFor(use)} key.`);
  }
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "sha256");
  return { kty: "OKP", crv: jwk.crv, x: jwk.x, kid, use };
}

/**
 * A fresh key pair, returned as a private JWK. The extractable CryptoKey jose makes
 * is dropped here, so the only exportable form left is the JWK the caller seals
 * into the escrow and then lets go of.
 */
export async function generatePrivateJwk(use: KeyUse): Promise<PrivateOkpJwk> {
  const { privateKey } = await generateKeyPair(algFor(use), { crv: curveFor(use), extractable: true });
  const jwk = await exportJWK(privateKey);
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
 * the server allows.
 */
export async function signAssertion(
  key: { privateKey: CryptoKey; kid: string },
  audience: string,
  nonce: string,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ nonce })
    .setProtectedHeader({ alg: SIGNING_ALG, typ: "JWT", kid: key.kid })
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 120)
    .sign(key.privateKey);
}

export type { JWK };
