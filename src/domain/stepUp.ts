/**
 * Step-up (docs/api.md §4): a sensitive route needs a recent signed-challenge login
 * (auth_time at most STEP_UP_MAX_AGE_S old) and, once two-factor authentication is
 * on, a second factor in that login (amr contains "otp", "hwk" or "swk", or "rcv"
 * after a recovery).
 */
import type { AuthMethod } from "./accessToken";

/** The amr values that stand for a second factor (docs/api.md §4, §12, §13). */
const SECOND_FACTORS: readonly AuthMethod[] = ["otp", "hwk", "swk", "rcv"];

/** Whether a login's amr includes a second factor. */
export function hasSecondFactor(amr: readonly AuthMethod[]): boolean {
  return amr.some((m) => SECOND_FACTORS.includes(m));
}

export type StepUpVerdict = { ok: true } | { ok: false; reason: "stale" | "otp_missing" };

export function checkStepUp(
  token: { authTimeS: number; amr: readonly AuthMethod[] },
  context: { nowMs: number; maxAgeS: number; mfaEnabled: boolean },
): StepUpVerdict {
  if (context.nowMs / 1000 - token.authTimeS > context.maxAgeS) return { ok: false, reason: "stale" };
  if (context.mfaEnabled && !hasSecondFactor(token.amr)) return { ok: false, reason: "otp_missing" };
  return { ok: true };
}
