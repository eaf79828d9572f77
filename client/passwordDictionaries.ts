/**
 * The zxcvbn-ts dictionaries, in their own module so the bundler puts them in a
 * chunk of their own that loads only when a password is being chosen. Kept: the
 * common-passwords and diceware lists, keyboard graphs, English common words and
 * first names. Left out to keep the chunk near 450 KiB: English last names and
 * Wikipedia words (about 380 KiB more, gzipped).
 */
import { adjacencyGraphs, dictionary as common } from "@zxcvbn-ts/language-common";
import commonWords from "@zxcvbn-ts/language-en/dist/commonWords.json.mjs";
import firstnames from "@zxcvbn-ts/language-en/dist/firstnames.json.mjs";
import translationsEn from "@zxcvbn-ts/language-en/dist/translations.mjs";

export const dictionary = { ...common, "commonWords-en": commonWords, "firstnames-en": firstnames };
export const translations = translationsEn;
export { adjacencyGraphs };
