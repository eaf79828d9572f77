/**
 * Backup codes (docs/api.md §8): 10 single-use codes of 10 characters, at least 50
 * bits each, stored only as keyed hashes. Pure: the random bytes are passed in.
 *
 * The alphabet is Crockford's base32: digits and capitals without I, L, O and U. An
 * alphabet without 0, O, 1, I and L has only 31 symbols, and 31^10 is 2^49.5, short of
 * the 50 bits the protocol asks for; Crockford's 32 symbols give exactly 50 bits, and
 * its decoding rule (O reads as 0; I and L read as 1) means that a code copied with
 * the look-alike letters is still accepted.
 */

export const BACKUP_CODE_COUNT = 10;
export const BACKUP_CODE_LENGTH = 10;
export const BACKUP_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** log2(32) * 10. */
export const BACKUP_CODE_BITS = 50;

/** One code from BACKUP_CODE_LENGTH random bytes: 256 is a multiple of 32, so no bias. */
export function backupCodeFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== BACKUP_CODE_LENGTH) throw new Error(`need ${BACKUP_CODE_LENGTH} random bytes`);
  let code = "";
  for (const b of bytes) code += BACKUP_CODE_ALPHABET[b & 31];
  return code;
}

/**
 * The canonical form of what the owner typed: case, spaces and dashes ignored, look-
 * alike letters mapped to their digits. Null if it cannot be a backup code at all.
 */
export function normalizeBackupCode(input: string): string | null {
  const code = input
    .toUpperCase()
    .replace(/[\s-]+/g, "")
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
  if (code.length !== BACKUP_CODE_LENGTH) return null;
  for (const ch of code) if (!BACKUP_CODE_ALPHABET.includes(ch)) return null;
  return code;
}
