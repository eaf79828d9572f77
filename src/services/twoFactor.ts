/**
 * What the routes share about second factors (PROTOCOL.md §4, §8): whether 2FA is
 * on, step-up with the real answer to that, picking the one factor of a request,
 * and turning the Durable Object's verdicts into wire errors.
 */
import type { Context } from "hono";
import type { FactorFailure, SecondFactor } from "../durable/twoFactor";
import { ApiError, rateLimited } from "../errors";
import { requireStepUp } from "../http/auth";
import { instanceStub } from "../http/instance";
import type { AppEnv } from "../http/types";

export async function isTwoFactorOn(c: Context<AppEnv>): Promise<boolean> {
  return instanceStub(c.env).twoFactorEnabled();
}

/**
 * Step-up (PROTOCOL.md §4): a recent login, with "otp" in it once 2FA is on. On
 * Bearer routes the 2FA flag came with the session check, so this costs no call.
 */
export async function requireStepUpNow(c: Context<AppEnv>): Promise<void> {
  requireStepUp(c, c.get("mfaEnabled") ?? (await isTwoFactorOn(c)));
}

/** The one factor a request carries, or null. The schemas already refuse several. */
export function pickFactor(body: { totp?: string; backupCode?: string; mfaTicket?: string }): SecondFactor | null {
  if (body.totp !== undefined) return { totp: body.totp };
  if (body.backupCode !== undefined) return { backupCode: body.backupCode };
  if (body.mfaTicket !== undefined) return { mfaTicket: body.mfaTicket };
  return null;
}

export function mfaRequired(): ApiError {
  return new ApiError(
    "mfa_required",
    "Two-factor authentication is on: send a code from your authenticator app or a backup code.",
  );
}

/** The wire error for a refused factor. `off` is the caller's business and never reaches here. */
export function factorError(failure: Exclude<FactorFailure, { error: "off" }>): ApiError {
  if (failure.error === "locked") {
    return rateLimited(
      failure.retryAfterS,
      "Too many wrong codes: authenticator codes are refused for now. Wait, or use a backup code.",
    );
  }
  return new ApiError("invalid_code", "The code is wrong, expired or already used.", { reason: failure.reason });
}
