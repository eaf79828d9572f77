/**
 * The wire errors for the Durable Object's refusals, in one place. The object
 * answers with plain results (a verdict, a status, `{ ok: false, error }`), never an
 * ApiError, since RPC would not carry the class across; the Worker's http/,
 * services/ and routes/ turn those results into ApiErrors only through here, so one
 * refusal always reads the same on the wire.
 */
import type { RateLimitVerdict, RefreshResult, SessionStatus } from "./durable/instance";
import { isPasskeyRefusal, PASSKEY_REFUSAL_MESSAGES, type PasskeyRefusal } from "./durable/passkeyRefusals";
import type { FactorFailure } from "./durable/factors";
import type { TurnOffRefused } from "./durable/twoFactor";
import { ApiError, rateLimited } from "./errors";

/** `429 rate_limited` with Retry-After, for a hit the object refused. */
export function rateLimitRefused(verdict: { retryAfterS: number }, message?: string): ApiError {
  return rateLimited(verdict.retryAfterS, message);
}

/** Throws `429 rate_limited` (Retry-After) when the object refused the hit. */
export function throwIfRateLimited(verdict: RateLimitVerdict, message?: string): void {
  if (!verdict.allowed) throw rateLimitRefused(verdict, message);
}

/**
 * A session the object no longer holds as active (revoked, expired, unknown), or
 * that ended between two calls. `reason` is logged only.
 */
export function sessionEnded(options: { reason?: string; headers?: Record<string, string> } = {}): ApiError {
  return new ApiError("session_revoked", "This session has ended; log in again.", options);
}

/** The Bearer check's refusal (RFC 6750 §3.1: invalid_token). */
export function sessionNotActive(status: Exclude<SessionStatus, "active">): ApiError {
  return sessionEnded({ headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' }, reason: `session ${status}` });
}

/** A refused refresh (docs/api.md §5): revoked sessions and theft say so, the rest is `unauthorized`. */
export function refreshRefused(error: Extract<RefreshResult, { ok: false }>["error"]): ApiError {
  if (error === "theft" || error === "revoked") {
    return new ApiError("session_revoked", "This session has been revoked; log in again.", { reason: error });
  }
  return new ApiError("unauthorized", "The refresh token is unknown or its session has expired.", { reason: error });
}

export function mfaRequired(): ApiError {
  return new ApiError(
    "mfa_required",
    "Two-factor authentication is on: send a code from your authenticator app, a passkey or a backup code.",
  );
}

/**
 * The wire error for a refused factor, or for a change a factor was sent for that
 * the object refused (turning 2FA off while a recovery key is set up, or while the
 * escrow opens with more than the password). `off` is the
 * caller's business and never reaches here.
 */
export function factorError(failure: Exclude<FactorFailure, { error: "off" }> | TurnOffRefused): ApiError {
  if (failure.error === "recovery_configured") return recoveryNeedsTwoFactor();
  if (failure.error === "escrow_opens_with_keys") {
    // docs/threat-model.md, finding 21: with 2FA off anyone may download the escrow.
    return new ApiError(
      "forbidden",
      "Your key backup still opens with a passkey or a recovery key: save it for your password alone first (turn passkey unlock off, or change your password).",
    );
  }
  if (failure.error === "locked") {
    return rateLimited(
      failure.retryAfterS,
      "Too many wrong codes: authenticator codes are refused for now. Wait, or use a backup code.",
    );
  }
  // A passkey standing in for a code says what was wrong with it (docs/api.md §12).
  const message = isPasskeyRefusal(failure.reason)
    ? PASSKEY_REFUSAL_MESSAGES[failure.reason]
    : "The code is wrong, expired or already used.";
  return new ApiError("invalid_code", message, { reason: failure.reason });
}

/**
 * factorError for the public routes (POST /auth/login, POST /auth/escrow): a refused
 * passkey gets one message whatever the reason, so a stranger cannot test credential
 * ids or learn whether a passkey is synced (docs/api.md §12). The reason is logged.
 */
export function publicFactorError(failure: Exclude<FactorFailure, { error: "off" }>): ApiError {
  if (failure.error === "invalid" && isPasskeyRefusal(failure.reason)) {
    return new ApiError("invalid_code", "The passkey was not accepted.", { reason: failure.reason });
  }
  return factorError(failure);
}

/** A refused passkey registration (docs/api.md §12): `400 invalid_request`. */
export function passkeyRegistrationRefused(reason: PasskeyRefusal): ApiError {
  return new ApiError("invalid_request", PASSKEY_REFUSAL_MESSAGES[reason], { reason });
}

export function noSuchPasskey(): ApiError {
  return new ApiError("not_found", "No passkey has this id.");
}

/** POST /auth/passkey/options while none is registered. */
export function noPasskeys(): ApiError {
  return new ApiError("not_found", "No passkey is registered on this instance.");
}

/** Removing the last second factor needs one in the body, as DELETE /api/2fa/totp does. */
export function lastFactorNeedsFactor(): ApiError {
  return new ApiError(
    "invalid_request",
    "This is your last second factor: removing it turns two-factor authentication off, so send a code, a backup code or a passkey with the request.",
  );
}

/**
 * Removing the last second factor while a recovery key is set up (docs/recovery.md,
 * "Where this differs from the protocol"): with 2FA off the recovery key would open
 * the escrow at once, with no wait for the owner to cancel.
 */
export function recoveryNeedsTwoFactor(): ApiError {
  return new ApiError(
    "forbidden",
    "Remove the recovery key first: it needs two-factor authentication on.",
  );
}

/** PUT /api/recovery with a verifier while 2FA is off (docs/recovery.md, "Where this differs from the protocol"). */
export function recoveryNeedsTwoFactorOn(): ApiError {
  return new ApiError(
    "forbidden",
    "Turn on two-factor authentication first: a recovery key needs it.",
  );
}

/** A 2FA change with nothing to act on: 2FA is off. */
export function twoFactorNotEnabled(): ApiError {
  return new ApiError("not_found", "Two-factor authentication is not on.");
}

/** DELETE /api/2fa/totp while passkeys alone keep 2FA on (docs/api.md §8, §12): nothing changes. */
export function totpNotEnrolled(): ApiError {
  return new ApiError(
    "not_found",
    "No authenticator app is set up, so there is none to remove. Two-factor authentication stays on with your passkeys.",
  );
}

/** A confirmation without a pending enrolment of this session (also the losers of racing confirms). */
export function noPendingEnrolment(): ApiError {
  return new ApiError(
    "not_found",
    "There is no pending setup for this session, or it expired: start again with POST /api/2fa/totp.",
  );
}

export function noSuchSession(): ApiError {
  return new ApiError("not_found", "No live session has this id.");
}

/** The restore lease is held by another restore. */
export function restoreInProgress(): ApiError {
  return new ApiError("already_claimed", "Another restore of this instance is under way.");
}

/** Another delivery of the same activity holds its claim. */
export function inboxActivityInProgress(retryAfterMs: number): ApiError {
  return rateLimited(retryAfterMs / 1000, "This activity is being delivered by another request; retry shortly.");
}
