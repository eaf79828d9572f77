/**
 * The recovery key (docs/api.md §13): 32 random bytes made in the browser. From it,
 * with HKDF-SHA-256 (empty salt: the input is already uniformly random, RFC 5869
 * §3.1) and one `info` string per purpose:
 *
 *  - an X25519 key pair, one more escrow recipient (kid "recovery:<verifier kid>");
 *  - an Ed25519 recovery verifier key pair: its public JWK goes to PUT /api/recovery,
 *    its private key signs the assertions of POST /auth/recovery and POST /auth/escrow;
 *  - a 4-byte key check value that every share carries, so a combination of shares
 *    that yields another key is caught (client/recovery/shares.ts).
 *
 * The recovery sheet (below) is the whole key as 56 Crockford base32 characters: the
 * key and a 3-byte checksum. Format: docs/recovery-format.md.
 */
import type * as z from "zod/mini";
import type { signingJwkSchema } from "../../src/schemas/api";
import { randomBytes, sha256, utf8 } from "../../src/lib/bytes";
import { RECOVERY_KID_PREFIX } from "../escrow/format";
import { hkdf32, pkcs8Of, x25519FromSeed, type UnlockKey } from "../escrow/unlockKeys";
import { okpThumbprint, signAssertion } from "../keys";
import { decodeBase32, encodeBase32, firstInvalidBase32Char, groups, normalizeBase32 } from "./base32";
import { RecoveryError } from "./errors";

export const RECOVERY_KEY_BYTES = 32;
export const RECOVERY_INFO = {
  escrow: "indienet recovery escrow x25519 v1",
  verifier: "indienet recovery verifier ed25519 v1",
  check: "indienet recovery key check v1",
} as const;
/** Bytes of the key check value carried by every share. */
export const KEY_CHECK_BYTES = 4;

/** The recovery verifier as PUT /api/recovery takes it: an Ed25519 public JWK with kid = its RFC 7638 thumbprint. */
export type VerifierJwk = z.infer<typeof signingJwkSchema>;

export interface RecoveryVerifier {
  kid: string;
  /** Ed25519, non-extractable, usage sign. */
  privateKey: CryptoKey;
  publicJwk: VerifierJwk;
}

export interface RecoveryKeys {
  /** The escrow recipient; its publicJwk goes into SealOptions.recipients. */
  unlockKey: UnlockKey;
  verifier: RecoveryVerifier;
  keyCheck: Uint8Array<ArrayBuffer>;
}

export function generateRecoveryKey(): Uint8Array<ArrayBuffer> {
  return randomBytes(RECOVERY_KEY_BYTES);
}

function assertKey(key: Uint8Array) {
  if (!(key instanceof Uint8Array) || key.length !== RECOVERY_KEY_BYTES) throw new RangeError("a recovery key is 32 bytes");
}

const EMPTY_SALT = new Uint8Array(0);

/** The key check value: HKDF(key, info "indienet recovery key check v1"), first 4 bytes. */
export async function recoveryKeyCheck(key: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  assertKey(key);
  const full = await hkdf32(key, EMPTY_SALT, RECOVERY_INFO.check);
  const check = full.slice(0, KEY_CHECK_BYTES);
  full.fill(0);
  return check;
}

/**
 * The verifier key pair from its seed. WebCrypto cannot compute an Ed25519 public
 * key from the private one and, unlike X25519 (client/escrow/unlockKeys.ts), there
 * is no DH trick for it: the seed is imported once as an extractable key, exported
 * as a JWK only to read "x" (the implementation computes it), and imported again
 * non-extractable. The JWK's "d" is a string we cannot zero; it is the same secret
 * the recovery sheet already holds as text, and it is dropped at once.
 */
async function ed25519FromSeed(seed: Uint8Array<ArrayBuffer>): Promise<RecoveryVerifier> {
  const der = pkcs8Of("Ed25519", seed);
  try {
    const transient = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    const { x } = await crypto.subtle.exportKey("jwk", transient);
    if (typeof x !== "string") throw new Error("WebCrypto exported an Ed25519 key without x");
    const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    const kid = await okpThumbprint("Ed25519", x);
    return { kid, privateKey, publicJwk: { kty: "OKP", crv: "Ed25519", x, kid, use: "sig" } };
  } finally {
    der.fill(0);
    seed.fill(0);
  }
}

/** Everything the recovery key stands for. `key` is left as it is (the sheet or the shares still need it). */
export async function deriveRecoveryKeys(key: Uint8Array<ArrayBuffer>): Promise<RecoveryKeys> {
  assertKey(key);
  const verifier = await ed25519FromSeed(await hkdf32(key, EMPTY_SALT, RECOVERY_INFO.verifier));
  const unlockKey = await x25519FromSeed(await hkdf32(key, EMPTY_SALT, RECOVERY_INFO.escrow), RECOVERY_KID_PREFIX + verifier.kid);
  return { unlockKey, verifier, keyCheck: await recoveryKeyCheck(key) };
}

/**
 * The assertion of POST /auth/recovery and POST /auth/escrow {recovery}: a
 * docs/api.md §4 assertion (compact JWS over {aud, nonce, iat, exp}) signed by the
 * recovery verifier, made exactly as login assertions are (client/keys.ts).
 */
export function signRecoveryAssertion(
  verifier: Pick<RecoveryVerifier, "privateKey" | "kid">,
  input: { aud: string; nonce: string; nowMs?: number },
): Promise<string> {
  return signAssertion(verifier, input.aud, input.nonce, input.nowMs);
}

// --- the recovery sheet --------------------------------------------------------------------

const SHEET_DOMAIN = "indienet-recovery-key-1";
const SHEET_CHECKSUM_BYTES = 3;
/** 32 key bytes + 3 checksum bytes = 280 bits = exactly 56 base32 characters. */
export const SHEET_CODE_LENGTH = 56;

async function sheetChecksum(key: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(SHEET_DOMAIN.length + 1 + key.length);
  input.set(utf8(SHEET_DOMAIN));
  input.set(key, SHEET_DOMAIN.length + 1);
  const digest = await sha256(input);
  input.fill(0);
  return digest.slice(0, SHEET_CHECKSUM_BYTES);
}

/** The 56 characters to write down or type back, in groups of four: "ABCD-EFGH-…". */
export async function formatRecoveryKey(key: Uint8Array<ArrayBuffer>): Promise<string> {
  assertKey(key);
  const bytes = new Uint8Array(RECOVERY_KEY_BYTES + SHEET_CHECKSUM_BYTES);
  bytes.set(key);
  bytes.set(await sheetChecksum(key), RECOVERY_KEY_BYTES);
  const code = encodeBase32(bytes);
  bytes.fill(0);
  return groups(code);
}

/**
 * Reads a recovery key typed back from the sheet. Spaces, hyphens and case do not
 * matter (nor O/0, I/L/1, which Crockford's alphabet reads alike); a typo is refused
 * by the checksum, never turned into another key.
 */
export async function parseRecoveryKey(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const code = normalizeBase32(text);
  if (code.length !== SHEET_CODE_LENGTH) {
    throw new RecoveryError(
      "malformed",
      `A recovery key has ${SHEET_CODE_LENGTH} letters and digits; this has ${code.length}. Check for a missing or extra group.`,
    );
  }
  const bad = firstInvalidBase32Char(code);
  if (bad !== undefined) {
    throw new RecoveryError("malformed", `"${bad}" does not occur in recovery keys: it is a typo (U, for one, is never used).`);
  }
  const bytes = decodeBase32(code, RECOVERY_KEY_BYTES + SHEET_CHECKSUM_BYTES);
  if (!bytes) throw new RecoveryError("checksum", "This recovery key has a typo: the last group does not check out.");
  const key = bytes.slice(0, RECOVERY_KEY_BYTES);
  const expected = await sheetChecksum(key);
  const ok = expected.every((b, i) => b === bytes[RECOVERY_KEY_BYTES + i]);
  bytes.fill(0);
  if (!ok) {
    key.fill(0);
    throw new RecoveryError("checksum", "This recovery key has a typo somewhere: its checksum does not match. Compare it with the sheet, group by group.");
  }
  return key;
}

export interface RecoverySheet {
  host: string;
  /** YYYY-MM-DD (UTC). */
  createdOn: string;
  /** The key in 14 groups of four characters. */
  groups: string[];
  /** The whole sheet as plain text, ready to print. */
  text: string;
}

/**
 * The printable recovery sheet: the key, the instance it recovers (its origin, as the
 * address to go to, e.g. `https://id.example.org`), the date, and how to use it.
 */
export async function recoverySheet(key: Uint8Array<ArrayBuffer>, input: { origin: string; nowMs?: number }): Promise<RecoverySheet> {
  const { host, origin } = new URL(input.origin);
  const code = await formatRecoveryKey(key);
  const codeGroups = code.split("-");
  const createdOn = new Date(input.nowMs ?? Date.now()).toISOString().slice(0, 10);
  const rows: string[] = [];
  for (let i = 0; i < codeGroups.length; i += 4) rows.push("    " + codeGroups.slice(i, i + 4).join("  "));
  const text = [
    `Indienet recovery key for ${host}`,
    `Made on ${createdOn}.`,
    "",
    ...rows,
    "",
    `With this key you can recover your keys at ${origin} if you lose your password`,
    "and every device. Anyone who has it can start a recovery (which you can stop during the",
    "waiting period from any signed-in device): keep it private and safe, like a passport.",
    "Spaces, dashes and capital letters do not matter when you type it back.",
  ].join("\n");
  return { host, createdOn, groups: codeGroups, text };
}

