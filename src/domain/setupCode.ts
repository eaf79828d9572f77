/**
 * How strong a configured setup code is (docs/api.md §0: "The setup code has at
 * least 128 bits of entropy"). The server cannot know how a code was made, so it
 * estimates the most a code of its length and character classes could hold: every
 * character (dashes and whitespace, used for grouping, do not count) drawn from the
 * pool its classes imply. A long code from one small class (all digits) or a short
 * one fails; the generator's codes (32 characters of A-Z and 2-9, 160 bits) pass.
 * It is an upper bound: "password-password-password" passes too. Pure.
 */
export const SETUP_CODE_MIN_BITS = 128;

/** Pool sizes of the character classes: lowercase, uppercase, digits, the rest. */
const CLASSES: Array<[RegExp, number]> = [
  [/[a-z]/, 26],
  [/[A-Z]/, 26],
  [/[0-9]/, 10],
  [/[^a-zA-Z0-9]/, 32],
];

/** Estimated bits: characters (ignoring '-' and whitespace) x log2(pool of the classes used). */
export function estimateSetupCodeBits(code: string): number {
  const chars = [...code.replace(/[-\s]/g, "")];
  if (chars.length === 0) return 0;
  let pool = 0;
  for (const [pattern, size] of CLASSES) if (chars.some((ch) => pattern.test(ch))) pool += size;
  return chars.length * Math.log2(pool);
}

export function isSetupCodeStrongEnough(code: string): boolean {
  return estimateSetupCodeBits(code) >= SETUP_CODE_MIN_BITS;
}

/**
 * A presented setup code and the configured one, as they are compared (docs/api.md
 * §3): both without the dashes and whitespace that group a code (the strength
 * estimate above does not count them either), and, when the configured code has no
 * lower-case letter (as every generated one: A-Z and 2-9), the presented code's
 * letters upper-cased, so that a code typed as `abcd efgh…` is the printed
 * `ABCD-EFGH-…`. A configured code with lower-case letters is compared case and
 * all: its case is part of its entropy. Neither changes what a guess can hit: one
 * code is right. Pure.
 */
export function comparableSetupCodes(presented: string, configured: string): { presented: string; configured: string } {
  const ungrouped = (code: string) => code.replace(/[-\s]/g, "");
  const foldCase = !/[a-z]/.test(configured);
  const typed = ungrouped(presented);
  return {
    presented: foldCase ? typed.replace(/[a-z]+/g, (letters) => letters.toUpperCase()) : typed,
    configured: ungrouped(configured),
  };
}

/**
 * The setup code of a POST /auth/restore, read from `Authorization: Setup <code>`
 * (docs/export-restore.md). A header, not a body field, so that the code can be
 * checked (and the attempt counted) before a body of up to 16 MiB is read: a
 * stranger without the code never makes the server parse an archive. The scheme
 * name is case-insensitive, as for Bearer (RFC 7235 §2.1). Null when the header is
 * missing, of another scheme, or empty.
 */
export function setupCodeFromAuthorization(header: string | null | undefined): string | null {
  const match = /^Setup[ \t]+(\S(?:.*\S)?)[ \t]*$/i.exec(header ?? "");
  return match ? match[1]! : null;
}
