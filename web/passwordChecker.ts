/**
 * The app's password checker: the SDK's estimator, with the word lists fetched from
 * the data file the build writes next to the app (scripts/build-web.mjs names it
 * after its content and defines __PASSWORD_LISTS_URL__, and its sha384 for
 * Subresource Integrity, __PASSWORD_LISTS_INTEGRITY__). Created at start-up but
 * loads nothing until a screen where a password is chosen asks for it (claim,
 * change password); the Worker serves the file with a year-long immutable cache.
 */
import { createPasswordChecker } from "../client/password";
import { fetchPasswordLists } from "../client/passwordLists";

declare const __PASSWORD_LISTS_URL__: string;
declare const __PASSWORD_LISTS_INTEGRITY__: string;

export const passwordChecker = createPasswordChecker(fetchPasswordLists(__PASSWORD_LISTS_URL__, undefined, __PASSWORD_LISTS_INTEGRITY__));
