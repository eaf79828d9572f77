/**
 * Second-factor rules (docs/api.md §8), pure: no I/O, and `now` is always passed in.
 *
 * - TOTP per RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps, window ±1 step. otpauth
 *   computes the codes; which step a code is accepted for, and whether that step may
 *   be accepted at all (replay), is decided here.
 * - otpauth's "bare" build carries no hash code of its own (the default build bundles
 *   SHA-1, SHA-2 and SHA-3: 25 KiB minified, 7.5 KiB without); it is handed the
 *   HMAC-SHA-1 of @noble/hashes, the same audited code the default build bundles, and
 *   nothing else (docs/benchmarks.md, "Worker size").
 * - Lockout: failures are counted per counter; 5 consecutive failures lock the
 *   counter for 30 s, each further failure while still at or past the threshold
 *   locks it again for twice as long (at most 3600 s). A success resets everything.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { HOTP, Secret, TOTP } from "otpauth/bare";
import { constantTimeEqual } from "../lib/bytes";

export const TOTP_ALGORITHM = "SHA1";
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_S = 30;
/** Accepted clock drift, in steps either side of the current one (RFC 6238 §5.2). */
export const TOTP_WINDOW = 1;
/** RFC 4226 §4 asks for at least 128 bits; 160 is what RFC 6238's SHA-1 examples use. */
export const TOTP_SECRET_BYTES = 20;

export interface TotpParams {
  digits: number;
  periodS: number;
  window: number;
}

const DEFAULT_PARAMS: TotpParams = { digits: TOTP_DIGITS, periodS: TOTP_PERIOD_S, window: TOTP_WINDOW };

/** RFC 6238 §4.2: T = floor((unix time - T0) / X) with T0 = 0. */
export function totpStepAt(nowMs: number, periodS: number = TOTP_PERIOD_S): number {
  return Math.floor(nowMs / 1000 / periodS);
}

/** The code for one time step. */
export function totpCodeForStep(secret: Uint8Array, step: number, digits: number = TOTP_DIGITS): string {
  return HOTP.generate({
    secret: toSecret(secret),
    algorithm: TOTP_ALGORITHM,
    digits,
    counter: step,
    hmac: hmacSha1,
  });
}

/** The code at a moment (what an authenticator app shows at `nowMs`). */
export function totpCodeAt(secret: Uint8Array, nowMs: number, params: Partial<TotpParams> = {}): string {
  const p = { ...DEFAULT_PARAMS, ...params };
  return totpCodeForStep(secret, totpStepAt(nowMs, p.periodS), p.digits);
}

/**
 * Every time step within the window whose code equals `code`, oldest first. Usually
 * zero or one; two only when codes of neighbouring steps collide (about one in a
 * million), and then the caller can still pick a step that was not used yet.
 */
export function findTotpSteps(
  secret: Uint8Array,
  code: string,
  nowMs: number,
  params: Partial<TotpParams> = {},
): number[] {
  const p = { ...DEFAULT_PARAMS, ...params };
  if (code.length !== p.digits || !/^\d+$/.test(code)) return [];
  const current = totpStepAt(nowMs, p.periodS);
  const steps: number[] = [];
  for (let step = current - p.window; step <= current + p.window; step++) {
    if (step >= 0 && constantTimeEqual(totpCodeForStep(secret, step, p.digits), code)) steps.push(step);
  }
  return steps;
}

/**
 * Replay protection: a step is accepted only if it is later than the last accepted
 * one. A code is valid for three steps (the window), so "not this exact step again"
 * would not be enough: an observed code could be replayed at the next step. Keeping
 * the steps strictly increasing makes every code single use across every route.
 */
export function acceptTotpStep(lastStep: number | null, step: number): boolean {
  return lastStep === null || step > lastStep;
}

/** The first of `steps` that may still be accepted after `lastStep`, or null. */
export function pickAcceptableStep(lastStep: number | null, steps: readonly number[]): number | null {
  return steps.find((step) => acceptTotpStep(lastStep, step)) ?? null;
}

// --- lockout -----------------------------------------------------------------

export const LOCKOUT_THRESHOLD = 5;
export const LOCKOUT_BASE_S = 30;
export const LOCKOUT_MAX_S = 3600;

export interface LockoutState {
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** While now < lockedUntilMs, TOTP attempts on this counter are refused unseen. */
  lockedUntilMs: number;
  /** Lockouts since the last success: sets the length of the next one. */
  lockouts: number;
}

export const UNLOCKED: LockoutState = { consecutiveFailures: 0, lockedUntilMs: 0, lockouts: 0 };

export type LockoutVerdict = { locked: false } | { locked: true; retryAfterS: number };

export function checkLockout(state: LockoutState, nowMs: number): LockoutVerdict {
  if (nowMs >= state.lockedUntilMs) return { locked: false };
  return { locked: true, retryAfterS: Math.ceil((state.lockedUntilMs - nowMs) / 1000) };
}

/** The length of the n-th lockout (n >= 1): 30 s, 60 s, 120 s, ... at most 3600 s. */
export function lockoutSeconds(n: number): number {
  // Capped exponent: 2 ** 7 * 30 > 3600 already, and a huge n must not overflow.
  return Math.min(LOCKOUT_BASE_S * 2 ** Math.min(Math.max(n - 1, 0), 16), LOCKOUT_MAX_S);
}

/**
 * Counts one failure (only ever called when not locked). Reaching the threshold
 * locks; every further failure before a success locks again, twice as long, so after
 * the first five guesses an attacker gets one guess per lockout period.
 */
export function registerFailure(
  state: LockoutState,
  nowMs: number,
): { next: LockoutState; lockedForS: number | null } {
  const consecutiveFailures = state.consecutiveFailures + 1;
  if (consecutiveFailures < LOCKOUT_THRESHOLD) {
    return { next: { ...state, consecutiveFailures }, lockedForS: null };
  }
  const lockouts = state.lockouts + 1;
  const lockedForS = lockoutSeconds(lockouts);
  return { next: { consecutiveFailures, lockedUntilMs: nowMs + lockedForS * 1000, lockouts }, lockedForS };
}

// --- helpers -----------------------------------------------------------------

/** otpauth's HMAC hook: SHA-1 only, the one algorithm the server uses (TOTP_ALGORITHM). */
function hmacSha1(algorithm: string, key: Uint8Array, message: Uint8Array): Uint8Array {
  if (algorithm !== TOTP_ALGORITHM) throw new Error(`unsupported TOTP algorithm: ${algorithm}`);
  return hmac(sha1, key, message);
}

function toSecret(bytes: Uint8Array): Secret {
  return new Secret({ buffer: bytes.slice().buffer });
}

// --- enrolment ---------------------------------------------------------------

/** RFC 4648 base32, unpadded: how authenticator apps take a secret by hand. */
export function totpSecretToBase32(secret: Uint8Array): string {
  return toSecret(secret).base32;
}

/**
 * The key URI that authenticator apps scan (Google Authenticator's "Key Uri Format"):
 * otpauth://totp/<issuer>:<account>?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30.
 * The issuer is both in the label (older apps) and a parameter (newer ones); neither
 * part may contain a colon, which would make the label ambiguous.
 */
export function totpKeyUri(input: { secretBase32: string; issuer: string; account: string }): string {
  if (input.issuer.includes(":") || input.account.includes(":")) {
    throw new Error("a TOTP issuer or account name cannot contain a colon");
  }
  return new TOTP({
    issuer: input.issuer,
    label: input.account,
    issuerInLabel: true,
    secret: Secret.fromBase32(input.secretBase32),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_S,
  }).toString();
}
