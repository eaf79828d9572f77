/**
 * Crockford's base32 (https://www.crockford.com/base32.html): digits and upper-case
 * letters without I, L, O and U, so what a person writes down reads back. Decoding
 * ignores case, spaces and hyphens and reads O as 0 and I, L as 1, as Crockford
 * specifies. No check symbol here: the sheet and share formats carry their own
 * checksums (a SHA-256 prefix).
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const VALUES = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));
for (const [alias, canonical] of [
  ["O", "0"],
  ["I", "1"],
  ["L", "1"],
] as const) {
  VALUES.set(alias, VALUES.get(canonical)!);
}

/** Big-endian bits, 5 per character; the last character is padded with zero bits. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Removes what a person may add while typing: whitespace and hyphens; upper-cases. */
export function normalizeBase32(text: string): string {
  return text.replace(/[\s-]+/g, "").toUpperCase();
}

/**
 * Decodes exactly `byteLength` bytes. Returns null for a wrong length, a character
 * outside the alphabet, or non-zero padding bits (a typo in the last character).
 * `text` must be normalized (normalizeBase32).
 */
export function decodeBase32(text: string, byteLength: number): Uint8Array<ArrayBuffer> | null {
  if (text.length !== Math.ceil((byteLength * 8) / 5)) return null;
  const out = new Uint8Array(byteLength);
  let buffer = 0;
  let bits = 0;
  let i = 0;
  for (const c of text) {
    const v = VALUES.get(c);
    if (v === undefined) return null;
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[i++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return buffer === 0 ? out : null;
}

/** Groups of `size` characters joined by `separator`, for printing. */
export function groups(text: string, size = 4, separator = "-"): string {
  return text.match(new RegExp(`.{1,${size}}`, "g"))?.join(separator) ?? "";
}

/** The first character that is not in the alphabet (nor one of its aliases), if any. `text` must be normalized. */
export function firstInvalidBase32Char(text: string): string | undefined {
  return [...text].find((c) => !VALUES.has(c));
}
