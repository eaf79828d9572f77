/**
 * Password strength, estimated with zxcvbn-ts. The password protects the escrow
 * against an offline attack by whoever gets the blob (a server operator, a backup
 * thief, anyone at all while 2FA is off), so the bar is zxcvbn's score 3 or more
 * and at least 12 characters.
 *
 * The estimator is code (a lazy chunk); its word lists are data that the app
 * provides through a loader (client/passwordLists.ts), fetched on first use. Until
 * they are loaded nothing is accepted: a check whose lists failed to load rejects
 * with `password_check_unavailable`, and the next call tries the loader again.
 */
import type { ZxcvbnFactory } from "@zxcvbn-ts/core";
import { IndieError, isIndieError } from "./errors";
import { assertPasswordLists, type PasswordListsLoader } from "./passwordLists";

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

export type PasswordCheckerState = "idle" | "loading" | "ready" | "failed";

export interface PasswordChecker {
  /** "failed" after a load that failed, until the next attempt. */
  readonly state: PasswordCheckerState;
  /**
   * Loads the estimator and the word lists (once; again after a failure). Rejects
   * with an IndieError `password_check_unavailable` when either cannot be loaded.
   */
  load(): Promise<void>;
  /** `userInputs`: words the password should not be built from (the site's host name, say). */
  check(password: string, userInputs?: string[]): Promise<PasswordVerdict>;
}

/** A checker whose word lists come from `loadLists`. */
export function createPasswordChecker(loadLists: PasswordListsLoader): PasswordChecker {
  let estimator: Promise<ZxcvbnFactory> | null = null;
  let state: PasswordCheckerState = "idle";

  function start(): Promise<ZxcvbnFactory> {
    if (estimator) return estimator;
    state = "loading";
    const attempt = (async () => {
      try {
        const [{ createEstimator }, lists] = await Promise.all([import("./passwordEstimator"), loadLists()]);
        assertPasswordLists(lists);
        return createEstimator(lists);
      } catch (err) {
        throw new IndieError(
          "password_check_unavailable",
          isIndieError(err, "password_check_unavailable") ? err.message : "The password check could not load its word lists.",
          { cause: err },
        );
      }
    })();
    estimator = attempt;
    attempt.then(
      () => {
        if (estimator === attempt) state = "ready";
      },
      () => {
        if (estimator === attempt) {
          estimator = null;
          state = "failed";
        }
      },
    );
    return attempt;
  }

  return {
    get state() {
      return state;
    },
    async load() {
      await start();
    },
    async check(password, userInputs = []) {
      const zxcvbn = await start();
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
    },
  };
}
