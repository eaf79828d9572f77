/**
 * Keys for data kept at rest, derived with HKDF-SHA-256 from the DATA_KEY secret
 * (32 random bytes, base64url). Each purpose gets its own key, so a key can never be
 * used for something it was not made for:
 * - `totpSecretKey` (AES-256-GCM) encrypts TOTP secrets;
 * - `mfaHashKey` (HMAC-SHA-256) hashes backup codes and mfa tickets. A keyed hash,
 *   not a plain one: a stolen copy of the storage does not let anyone test guesses
 *   of the (50-bit) backup codes offline.
 * Derived once per isolate.
 */
import { base64urlDecode, base64urlEncode, utf8 } from "./bytes";
import { importSecretOnce } from "./importOnce";

export interface DataKeys {
  totpSecretKey: CryptoKey;
  mfaHashKey: CryptoKey;
}

const HKDF_SALT = "indienet/data-key/v1";
export const loadDataKeys = importSecretOnce("DATA_KEY", deriveDataKeys);

async function deriveDataKeys(secret: string): Promise<DataKeys> {
  const raw = base64urlDecode(secret);
  if (!raw || raw.length !== 32) throw new Error("DATA_KEY must be 32 bytes, base64url");
  const master = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  const hkdf = (info: string) => ({ name: "HKDF", hash: "SHA-256", salt: utf8(HKDF_SALT), info: utf8(info) });
  const [totpSecretKey, mfaHashKey] = await Promise.all([
    crypto.subtle.deriveKey(hkdf("totp-secret/aes-256-gcm"), master, { name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]),
    crypto.subtle.deriveKey(hkdf("mfa-hash/hmac-sha-256"), master, { name: "HMAC", hash: "SHA-256", length: 256 }, false, [
      "sign",
    ]),
  ]);
  return { totpSecretKey, mfaHashKey };
}

const TOTP_SECRET_AAD = utf8("indienet/totp-secret/v1");
const IV_BYTES = 12;

/** AES-256-GCM with a random 96-bit IV: base64url(iv || ciphertext+tag). */
export async function sealTotpSecret(keys: DataKeys, secret: Uint8Array<ArrayBuffer>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: TOTP_SECRET_AAD }, keys.totpSecretKey, secret),
  );
  const out = new Uint8Array(IV_BYTES + sealed.length);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return base64urlEncode(out);
}

/** Throws if the value was not sealed under this DATA_KEY: that is corruption or a config bug. */
export async function openTotpSecret(keys: DataKeys, sealed: string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = base64urlDecode(sealed);
  if (!bytes || bytes.length <= IV_BYTES) throw new Error("sealed TOTP secret is malformed");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.slice(0, IV_BYTES), additionalData: TOTP_SECRET_AAD },
    keys.totpSecretKey,
    bytes.slice(IV_BYTES),
  );
  return new Uint8Array(plain);
}

/** HMAC-SHA-256 under the mfa hash key, with a purpose prefix, base64url. */
export async function mfaHash(keys: DataKeys, purpose: "backup-code" | "mfa-ticket", value: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", keys.mfaHashKey, utf8(`${purpose}:${value}`));
  return base64urlEncode(new Uint8Array(mac));
}
