/**
 * Unlock keys: the X25519 key pairs that open a format 2 escrow without the password
 * (docs/api.md §12 "Unlock without the password", §13). Each is derived from a
 * 32-byte seed (a passkey's PRF output, or the recovery key) with HKDF-SHA-256, and
 * only its public half ever leaves this module in a usable form: the private key is a
 * non-extractable CryptoKey from the moment it exists.
 *
 * WebCrypto cannot compute a public key from a private one. For X25519 it does not
 * need to: the public key is X25519(private, 9), the Diffie-Hellman function applied
 * to the curve's base point (RFC 7748 §6.1), and that is exactly what deriveBits
 * computes when the "peer" public key is the base point u = 9. So the private scalar
 * is imported non-extractable (PKCS#8) at once and no curve library is needed.
 */
import { base64urlEncode, utf8 } from "../../src/lib/bytes";
import { PASSKEY_KID_PREFIX, type EscrowRecipientJwk } from "./format";

/** A key that opens an escrow as one of its recipients. */
export interface UnlockKey {
  /** The recipient's kid: passkey:<credential id> or recovery:<verifier kid>. */
  kid: string;
  /** X25519, non-extractable, usage deriveBits (what ECDH-ES+A256KW needs). */
  privateKey: CryptoKey;
  /** The public key, as the escrow's manifest names it: what a re-seal needs. */
  publicJwk: EscrowRecipientJwk;
}

/**
 * The PRF extension's `eval.first` for escrow unlock: SHA-256("indienet escrow v1")
 * (docs/api.md §12), as a constant so WebAuthn options can be built synchronously; a
 * unit test recomputes it.
 */
export const PRF_EVAL_INPUT: Uint8Array<ArrayBuffer> = Uint8Array.from([
  0x93, 0xc6, 0xe0, 0x3c, 0xaf, 0x3e, 0xc3, 0x5a, 0x3a, 0xb9, 0xcd, 0x16, 0x63, 0x28, 0x16, 0x9f,
  0xd2, 0x2a, 0x45, 0x0f, 0x7e, 0x0e, 0xdb, 0x0a, 0xd0, 0x9f, 0x3f, 0x9c, 0x9d, 0x2c, 0x12, 0xdf,
]);

/** HKDF info for a passkey's unlock key (docs/api.md §12). */
export const PRF_UNLOCK_INFO = "indienet escrow unlock v1";

/** RFC 8410 §7: a PKCS#8 OneAsymmetricKey for X25519 (OID 1.3.101.110) or Ed25519 (1.3.101.112) is this prefix and the 32-byte private key. */
const PKCS8_PREFIX = {
  X25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20],
  Ed25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
} as const;

/** The 32-byte private key wrapped as PKCS#8. The caller zeroes the result after import. */
export function pkcs8Of(curve: "X25519" | "Ed25519", seed: Uint8Array): Uint8Array<ArrayBuffer> {
  if (seed.length !== 32) throw new RangeError("a private key is 32 bytes");
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX[curve]);
  der.set(seed, 16);
  return der;
}

/** HKDF-SHA-256 (RFC 5869) to 32 bytes, in WebCrypto. The caller zeroes the result when done. */
export async function hkdf32(ikm: Uint8Array<ArrayBuffer>, salt: Uint8Array<ArrayBuffer>, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: utf8(info) }, base, 256));
}

let basePoint: Promise<CryptoKey> | undefined;

/**
 * An X25519 key pair from a 32-byte seed (used as the private key, RFC 7748 clamps
 * it). Zeroes `seed` once the key is imported.
 */
export async function x25519FromSeed(seed: Uint8Array<ArrayBuffer>, kid: string): Promise<UnlockKey> {
  const der = pkcs8Of("X25519", seed);
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "X25519" }, false, ["deriveBits"]);
  } finally {
    der.fill(0);
    seed.fill(0);
  }
  basePoint ??= (() => {
    const u = new Uint8Array(32);
    u[0] = 9;
    return crypto.subtle.importKey("raw", u, { name: "X25519" }, true, []);
  })();
  const publicBytes = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: await basePoint } as EcdhKeyDeriveParams, privateKey, 256),
  );
  return { kid, privateKey, publicJwk: { kid, kty: "OKP", crv: "X25519", x: base64urlEncode(publicBytes) } };
}

/** The escrow recipient kid of a passkey: "passkey:" + its credential id, base64url. */
export function passkeyRecipientKid(credentialId: Uint8Array | ArrayBuffer): string {
  return PASSKEY_KID_PREFIX + base64urlEncode(new Uint8Array(credentialId));
}

/**
 * A passkey's unlock key (docs/api.md §12): HKDF-SHA-256(PRF output, salt = the
 * credential id, info = "indienet escrow unlock v1") → 32 bytes → X25519.
 *
 * `prfOutput` is `getClientExtensionResults().prf.results.first`. It is consumed:
 * zeroed once imported, as is every intermediate buffer here, so the only copy of the
 * secret left is the non-extractable key. (JavaScript gives no guarantee that an
 * engine did not copy a buffer; zeroing is what can be done.)
 */
export async function deriveUnlockKeyFromPrf(
  prfOutput: ArrayBuffer | Uint8Array<ArrayBuffer>,
  credentialId: ArrayBuffer | Uint8Array<ArrayBuffer>,
): Promise<UnlockKey> {
  const ikm = prfOutput instanceof Uint8Array ? prfOutput : new Uint8Array(prfOutput);
  if (ikm.length < 32) throw new RangeError("a PRF output is 32 bytes");
  const salt = new Uint8Array(credentialId);
  let seed: Uint8Array<ArrayBuffer>;
  try {
    seed = await hkdf32(ikm, salt, PRF_UNLOCK_INFO);
  } finally {
    ikm.fill(0);
  }
  return x25519FromSeed(seed, passkeyRecipientKid(salt));
}
