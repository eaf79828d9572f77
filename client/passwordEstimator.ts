/**
 * zxcvbn-ts's estimator with what ships as code: the keyboard adjacency graphs and
 * the English feedback texts. In its own module so the bundler puts it in a lazy
 * chunk, loaded with the word lists only where a password is chosen. The word lists
 * are data, handed in by the app's loader (client/passwordLists.ts).
 */
/// <reference path="./zxcvbn-data.d.ts" />
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import { adjacencyGraphs } from "@zxcvbn-ts/language-common";
import translations from "@zxcvbn-ts/language-en/dist/translations.mjs";
import type { PasswordLists } from "./passwordLists";

export function createEstimator(lists: PasswordLists): ZxcvbnFactory {
  return new ZxcvbnFactory({
    // zxcvbn-ts's own dictionary names: its feedback tells a leaked password
    // ("passwords") and a name ("names") apart by them.
    dictionary: {
      "passwords-common": lists.passwords,
      "diceware-common": lists.diceware,
      "commonWords-en": lists.commonWords,
      "firstnames-en": lists.firstnames,
    },
    graphs: adjacencyGraphs,
    translations,
    useLevenshteinDistance: true,
  });
}
