/**
 * Password strength, estimated with zxcvbn-ts. The password protects the escrow
 * against an offline attack by whoever gets the blob (a server operator, a backup
 * thief), so the bar is zxcvbn's score 3 or more and at least 12 characters. The
 * dictionaries are large: they load on first use (the claim and change-password
 * screens), never with the rest of the app.
 */
import type { ZxcvbnFactory } from "@zxcvbn-ts/core";

export const MIN_PASSWORD_LENGTH = 12;
export const MIN_PASSWORD_SCORE = 3;

export interface PasswordVerdict {
  /** zxcvbn's score: 0 (guessable in moments) to 4 (very unguessable). */
  score: 0 | 1 | 2 | 3 | 4;
  acceptable: boolean;
  /** One sentence for the person, empty when there is nothing to say. */
  warning: string;
  suggestions: string[];
  /** Estimated time to guess offline against a slow hash, in words. */
  crackTime: string;
}

let factory: Promise<ZxcvbnFactory> | null = null;

/** Starts loading the estimator and its dictionaries; safe to call repeatedly. */
export function preloadPasswordChecker(): Promise<ZxcvbnFactory> {
  factory ??= (async () => {
    const [{ ZxcvbnFactory }, data] = await Promise.all([import("@zxcvbn-ts/core"), import("./passwordDictionaries")]);
    return new ZxcvbnFactory({
      dictionary: data.dictionary,
      graphs: data.adjacencyGraphs,
      translations: data.translations,
      useLevenshteinDistance: true,
    });
  })();
  factory.catch(() => {
    factory = null;
  });
  return factory;
}

/** `userInputs`: words the password should not be built from (the site's host name, say). */
export async function checkPassword(password: string, userInputs: string[] = []): Promise<PasswordVerdict> {
  const zxcvbn = await preloadPasswordChecker();
  const result = zxcvbn.check(password, userInputs);
  const tooShort = password.length < MIN_PASSWORD_LENGTH;
  const suggestions = [...result.feedback.suggestions];
  if (tooShort) suggestions.unshift(`Use at least ${MIN_PASSWORD_LENGTH} characters.`);
  return {
    score: result.score,
    acceptable: !tooShort && result.score >= MIN_PASSWORD_SCORE,
    warning: result.feedback.warning ?? "",
    suggestions,
    crackTime: result.crackTimes.offlineSlowHashingXPerSecond.display,
  };
}
