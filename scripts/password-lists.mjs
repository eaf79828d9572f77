// The word lists behind the password-strength check, as a data file: the web app
// fetches it only on the screens where a password is chosen, and its JavaScript
// keeps only the estimator and the keyboard graphs. scripts/build-web.mjs writes it
// into dist/web under a content-hashed name (password-lists.<sha256 prefix>.json);
// the SDK's unit tests (client/test/password.test.ts) read the same text from here.
//
// The lists are whole and in their upstream order, which for the ranked lists
// (common passwords, English words) is their rank: zxcvbn estimates a dictionary
// match by its position. English last names and Wikipedia words are left out, as
// they were when the lists were JavaScript; see docs/client.md ("Password lists").
import { createHash } from "node:crypto";
import { dictionary as common } from "@zxcvbn-ts/language-common";
import commonWords from "@zxcvbn-ts/language-en/dist/commonWords.json.mjs";
import firstnames from "@zxcvbn-ts/language-en/dist/firstnames.json.mjs";

/** The file's format; client/passwordLists.ts refuses any other. */
export const PASSWORD_LISTS_FORMAT = 1;

/** The lists, as arrays, in their upstream order. */
export function passwordLists() {
  return {
    /** @zxcvbn-ts/language-common, ranked by how often they leak. */
    passwords: common["passwords-common"],
    /** @zxcvbn-ts/language-common, the EFF diceware list (alphabetical). */
    diceware: common["diceware-common"],
    /** @zxcvbn-ts/language-en, ranked by frequency. */
    commonWords,
    /** @zxcvbn-ts/language-en, alphabetical. */
    firstnames,
  };
}

/**
 * zxcvbn-ts's own packing (its dictionary-compression package): each entry is an
 * upper-case letter for how many leading characters it shares with the one before
 * (A = none, at most 25), then the rest. Entries are lower case, so the letters
 * separate them. Decoded by `unpack` in client/passwordLists.ts. It makes the file
 * 8 % smaller gzipped than plain arrays (436 against 472 KiB).
 */
export function pack(list) {
  let last = "";
  return list
    .map((entry) => {
      if (/[A-Z]/.test(entry)) throw new Error(`password list entry with an upper-case letter: ${JSON.stringify(entry)}`);
      let shared = 0;
      const max = Math.min(entry.length, last.length, 25);
      while (shared < max && entry[shared] === last[shared]) shared++;
      last = entry;
      return String.fromCharCode(65 + shared) + entry.slice(shared);
    })
    .join("");
}

/** The data file's text: `{ format, lists: { name: packed string } }`. */
export function passwordListsJson() {
  const lists = Object.fromEntries(Object.entries(passwordLists()).map(([name, list]) => [name, pack(list)]));
  return JSON.stringify({ format: PASSWORD_LISTS_FORMAT, lists });
}

/**
 * The file as the build writes it: a name that changes whenever its content does,
 * and its Subresource Integrity metadata (sha384, as `fetch`'s `integrity` takes it),
 * which the app fetches it with: a file whose bytes differ is refused.
 */
export function passwordListsAsset() {
  const contents = passwordListsJson();
  const hash = createHash("sha256").update(contents).digest("hex").slice(0, 16);
  const integrity = `sha384-${createHash("sha384").update(contents).digest("base64")}`;
  return { fileName: `password-lists.${hash}.json`, contents, integrity };
}
