/**
 * Shape check of a compact JWE sealed to the owner (docs/api.md §9). The server never
 * holds the owner's private key, so it cannot decrypt; it checks instead that what it
 * stores is something the owner's client will be able to open: the compact
 * serialization (RFC 7516 §7.1), an algorithm pair from docs/api.md §1 and a `kid`.
 * Whether that kid is the owner's *current* encryption key is the caller's check
 * (it needs storage); this module is pure.
 */
import { base64urlDecode, parseJsonUtf8 } from "../lib/bytes";

export const MESSAGE_KEY_ALGS = ["ECDH-ES", "ECDH-ES+A256KW"] as const;
export type MessageKeyAlg = (typeof MESSAGE_KEY_ALGS)[number];
export const MESSAGE_CONTENT_ENC = "A256GCM";

/** RFC 7518 §5.3: AES-GCM uses a 96-bit IV and, in JWE, a 128-bit tag. */
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
/** RFC 3394: A256KW wraps the 32-byte A256GCM key into 40 bytes. */
const A256KW_WRAPPED_CEK_BYTES = 40;
/** A protected header is a few hundred bytes; this bounds what we JSON.parse. */
const MAX_HEADER_CHARS = 4096;

export interface MessageJweHeader {
  alg: MessageKeyAlg;
  enc: typeof MESSAGE_CONTENT_ENC;
  kid: string;
}

export type JweRejection =
  | "not_compact"
  | "not_base64url"
  | "header_not_json"
  | "unsupported_alg"
  | "unsupported_enc"
  | "missing_kid"
  | "bad_epk"
  | "unsupported_header"
  | "bad_encrypted_key"
  | "bad_iv"
  | "bad_tag";

export type JweInspection = { ok: true; header: MessageJweHeader } | { ok: false; reason: JweRejection };

/** Human sentences for the 400's message: a sender reads these to fix its client. */
export const JWE_REJECTION_MESSAGES: Record<JweRejection, string> = {
  not_compact: "jwe must be a compact JWE: five base64url parts separated by dots.",
  not_base64url: "Every part of the JWE must be base64url without padding.",
  header_not_json: "The JWE's protected header must be a JSON object.",
  unsupported_alg: `The JWE's alg must be one of ${MESSAGE_KEY_ALGS.join(", ")}.`,
  unsupported_enc: `The JWE's enc must be ${MESSAGE_CONTENT_ENC}.`,
  missing_kid: "The JWE's protected header must name the owner's encryption key in kid.",
  bad_epk: "The JWE's epk must be an X25519 public JWK (kty OKP, crv X25519).",
  unsupported_header: "The JWE's protected header may not use zip or crit: the owner's client would refuse it.",
  bad_encrypted_key: "The JWE's encrypted key must be empty for ECDH-ES and 40 bytes for ECDH-ES+A256KW.",
  bad_iv: "The JWE's IV must be 96 bits (A256GCM).",
  bad_tag: "The JWE's authentication tag must be 128 bits (A256GCM).",
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a compact JWE without decrypting it. Part sizes are checked too, because
 * they are fixed by the algorithms and cost nothing to check: a message that fails
 * them could never be opened, and accepting it would only fill the owner's inbox.
 */
export function inspectMessageJwe(jwe: string): JweInspection {
  const parts = jwe.split(".");
  if (parts.length !== 5) return { ok: false, reason: "not_compact" };
  const headerPart = parts[0]!;
  if (headerPart === "" || headerPart.length > MAX_HEADER_CHARS) return { ok: false, reason: "header_not_json" };

  const decoded = parts.map(base64urlDecode);
  if (decoded.some((d) => d === null)) return { ok: false, reason: "not_base64url" };
  // The ciphertext (part 4) may have any length: GCM output is as long as its input.
  const [headerBytes, encryptedKey, iv, , tag] = decoded as Uint8Array[];

  let header: unknown;
  try {
    header = parseJsonUtf8(headerBytes!);
  } catch {
    return { ok: false, reason: "header_not_json" };
  }
  if (!isObject(header)) return { ok: false, reason: "header_not_json" };

  const { alg, enc, kid, epk } = header;
  if (typeof alg !== "string" || !(MESSAGE_KEY_ALGS as readonly string[]).includes(alg)) {
    return { ok: false, reason: "unsupported_alg" };
  }
  if (enc !== MESSAGE_CONTENT_ENC) return { ok: false, reason: "unsupported_enc" };
  if (typeof kid !== "string" || kid === "") return { ok: false, reason: "missing_kid" };
  // RFC 7518 §4.6.1.1: ECDH-ES carries the sender's ephemeral public key. The owner's
  // key is X25519 (docs/api.md §1), so the ephemeral key must be on the same curve.
  if (!isObject(epk) || epk.kty !== "OKP" || epk.crv !== "X25519" || typeof epk.x !== "string" || "d" in epk) {
    return { ok: false, reason: "bad_epk" };
  }
  if ("zip" in header || "crit" in header) return { ok: false, reason: "unsupported_header" };

  // RFC 7518 §4.6: with direct key agreement the encrypted key is the empty octet
  // sequence; with key wrapping it is the wrapped CEK.
  const expectedKeyBytes = alg === "ECDH-ES" ? 0 : A256KW_WRAPPED_CEK_BYTES;
  if (encryptedKey!.length !== expectedKeyBytes) return { ok: false, reason: "bad_encrypted_key" };
  if (iv!.length !== GCM_IV_BYTES) return { ok: false, reason: "bad_iv" };
  if (tag!.length !== GCM_TAG_BYTES) return { ok: false, reason: "bad_tag" };

  return { ok: true, header: { alg: alg as MessageKeyAlg, enc: MESSAGE_CONTENT_ENC, kid } };
}
