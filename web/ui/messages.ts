/** What the person reads when something fails: the SDK's codes, in plain words. */
import { isIndieError } from "../../client/errors";

export function describeError(err: unknown): string {
  // RecoveryError (client/recovery/errors.ts, loaded lazily) and StepUpCancelled
  // (./stepUp.ts, which imports this module): their messages are written for people.
  if (err instanceof Error && (err.name === "RecoveryError" || err.name === "StepUpCancelled")) return err.message;
  if (!isIndieError(err)) {
    console.error(err);
    return "Something went wrong. Try again, and reload the page if it keeps happening.";
  }
  switch (err.code) {
    case "wrong_password":
      return "That password does not unlock your keys. Check it and try again.";
    case "invalid_code":
      // A passkey standing in for a code: the server's message says what was wrong with it.
      if (/passkey/i.test(err.message)) return err.message;
      return "That code is wrong, expired or already used. Wait for the next code in your app, or use another backup code.";
    case "mfa_required":
      return "Enter the code from your authenticator app (or a backup code).";
    case "rate_limited":
      return `Too many attempts. Try again in ${err.retryAfterS ?? 30} seconds.`;
    case "forbidden":
      return err.message;
    case "session_revoked":
    case "logged_out":
      return "Your session has ended. Log in again.";
    case "step_up_required":
      return "This needs a fresh confirmation that it's you.";
    case "network_error":
      return "The server could not be reached. Check your connection and try again.";
    case "weak_password":
      return `That password is too easy to guess. ${err.message}`;
    case "password_check_unavailable":
      return "The password check could not load its word lists, so no password can be accepted yet. Check your connection and try again.";
    case "already_claimed":
      return "This instance already has an owner.";
    case "passkey_cancelled":
      return "The passkey prompt was closed or timed out. Try again, and choose your passkey when asked.";
    case "version_conflict":
      return "Your keys were changed from another device meanwhile. Reload and try again.";
    default:
      return err.message;
  }
}
