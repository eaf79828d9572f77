/**
 * The zxcvbn-ts dictionaries, in their own module so the bundler puts them in a
 * chunk of their own that loads only when a password is being chosen.
 *
 * The word lists come from "virtual:password-lists", which the build generates
 * (scripts/password-lists.mjs): the top 1,000 common passwords and top 1,000
 * English words, in rank order, and the first names of eight letters or more. The
 * rest of those lists, the diceware list, English last names and Wikipedia words
 * are left out to keep all of the app's JavaScript within its 100 KiB budget; see
 * docs/client.md. The keyboard graphs ship whole.
 */
/// <reference path="./zxcvbn-data.d.ts" />
import { adjacencyGraphs } from "@zxcvbn-ts/language-common";
import translationsEn from "@zxcvbn-ts/language-en/dist/translations.mjs";
import { commonWords, firstnames, passwords } from "virtual:password-lists";

/** Reverses `pack` in scripts/password-lists.mjs (zxcvbn-ts's prefix packing). */
export function unpack(packed: string): string[] {
  const parts = packed.split(/([A-Z])/);
  const out: string[] = [];
  let last = "";
  for (let i = 1; i < parts.length; i += 2) {
    last = last.slice(0, parts[i]!.charCodeAt(0) - 65) + parts[i + 1]!;
    out.push(last);
  }
  return out;
}

export const dictionary = {
  "passwords-common": unpack(passwords),
  "commonWords-en": unpack(commonWords),
  "firstnames-en": unpack(firstnames),
};
export const translations = translationsEn;
export { adjacencyGraphs };
