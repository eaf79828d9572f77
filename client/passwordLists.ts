/**
 * The word lists behind the password-strength check: their shape, the data file
 * they travel in, and a loader that fetches that file.
 *
 * They are data, not code: about 440 KiB gzipped, more than four times the web
 * app's budget for all of its JavaScript. The app serves them as a static JSON file
 * under a content-hashed name (built by scripts/password-lists.mjs) and fetches it
 * only where a password is chosen; the SDK takes the lists from whatever loader the
 * app gives `createPasswordChecker` (client/password.ts), so it holds no URL.
 */
import { IndieError } from "./errors";
import type { FetchLike } from "./http";

/**
 * The lists, whole. Order matters in the ranked ones: zxcvbn estimates a password
 * found in a list by its position (1 = most common).
 */
export interface PasswordLists {
  /** Leaked passwords, most common first (@zxcvbn-ts/language-common). */
  passwords: string[];
  /** The EFF diceware words (@zxcvbn-ts/language-common). */
  diceware: string[];
  /** English words, most frequent first (@zxcvbn-ts/language-en). */
  commonWords: string[];
  /** English first names (@zxcvbn-ts/language-en). */
  firstnames: string[];
}

/** Where the checker gets the lists: called on first use, and again after a failure. */
export type PasswordListsLoader = () => Promise<PasswordLists>;

export const PASSWORD_LIST_NAMES = ["passwords", "diceware", "commonWords", "firstnames"] as const satisfies readonly (keyof PasswordLists)[];

/** The data file's format (scripts/password-lists.mjs writes it). */
export const PASSWORD_LISTS_FORMAT = 1;

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

/**
 * Throws unless `lists` has every list, each a non-empty array of strings: a check
 * against empty or missing lists must fail, not quietly pass weak passwords.
 */
export function assertPasswordLists(lists: unknown): asserts lists is PasswordLists {
  if (typeof lists !== "object" || lists === null) throw new TypeError("The password lists are not an object.");
  for (const name of PASSWORD_LIST_NAMES) {
    const list = (lists as Record<string, unknown>)[name];
    if (!Array.isArray(list) || list.length === 0 || !list.every((entry) => typeof entry === "string")) {
      throw new TypeError(`The password list "${name}" is missing, empty or not all strings.`);
    }
  }
}

/** The data file, parsed: `{ format: 1, lists: { name: packed string } }`. */
export function parsePasswordListsFile(json: unknown): PasswordLists {
  if (typeof json !== "object" || json === null || (json as { format?: unknown }).format !== PASSWORD_LISTS_FORMAT) {
    throw new TypeError(`The password lists file is not in format ${PASSWORD_LISTS_FORMAT}.`);
  }
  const packed = (json as { lists?: unknown }).lists;
  if (typeof packed !== "object" || packed === null) throw new TypeError("The password lists file has no lists.");
  const lists: Partial<PasswordLists> = {};
  for (const name of PASSWORD_LIST_NAMES) {
    const value = (packed as Record<string, unknown>)[name];
    if (typeof value !== "string") throw new TypeError(`The password lists file has no list "${name}".`);
    lists[name] = unpack(value);
  }
  assertPasswordLists(lists);
  return lists;
}

/**
 * A loader that fetches the data file from `url` (the app knows where it serves
 * it). With `integrity` (Subresource Integrity metadata, e.g. `sha384-…`, which the
 * app's build computes), the browser refuses a file whose bytes differ: a changed
 * list could pass weak passwords. A failure rejects; the checker reports it as
 * `password_check_unavailable`.
 */
export function fetchPasswordLists(url: string | URL, fetchFn: FetchLike = (input, init) => fetch(input, init), integrity?: string): PasswordListsLoader {
  return async () => {
    const res = await fetchFn(url, { headers: { accept: "application/json" }, integrity });
    if (!res.ok) {
      await res.body?.cancel();
      throw new IndieError("password_check_unavailable", `The password lists could not be loaded (HTTP ${res.status}).`, { status: res.status });
    }
    return parsePasswordListsFile(await res.json());
  };
}
