/**
 * Text that someone else chose, made safe to show next to the app's own words.
 * A message's `from` is whatever its sender typed: it must not be able to pass for
 * the app's labels (a "verified" that the app did not say) or reorder what is
 * around it. It goes into a `<bdi>` (its direction cannot leak out) after this.
 */

/**
 * Control characters (C0, DEL, C1), format characters (which include every bidi
 * control: LRM, RLM, ALM, LRE…PDF, LRI…PDI, and the zero-width ones) and line or
 * paragraph separators. The zero-width joiner stays: emoji sequences need it and it
 * moves nothing.
 */
const HIDDEN_OR_REORDERING = /(?!\u200D)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** `from` without hidden or reordering characters, whitespace collapsed, at most `maxChars` characters. */
export function displaySender(from: string | null, maxChars = 120): string {
  if (from === null) return "";
  // Line breaks and tabs become spaces first (they are controls too, but separate words).
  const clean = from.replace(/\s+/gu, " ").replace(HIDDEN_OR_REORDERING, "").replace(/ {2,}/g, " ").trim();
  const chars = Array.from(clean);
  return chars.length > maxChars ? `${chars.slice(0, maxChars).join("")}…` : clean;
}
