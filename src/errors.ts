import type { ErrorCode as WireErrorCode } from "./schemas/errors";

/** Codes an ApiError may carry: every protocol code but internal_error, which only app.onError sends. */
export type ErrorCode = Exclude<WireErrorCode, "internal_error">;

/**
 * The status each protocol error code travels with (docs/api.md §0). The codes are
 * the enum's in src/schemas/errors.ts; `satisfies` keeps this table exhaustive both
 * ways (a code without a status, or a status for no code, fails the typecheck) while
 * the import stays type-only, so the Worker does not bundle the enum for it.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  invalid_assertion: 401,
  mfa_required: 401,
  invalid_code: 401,
  session_revoked: 401,
  forbidden: 403,
  step_up_required: 403,
  not_claimed: 404,
  not_found: 404,
  already_claimed: 409,
  version_conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
} as const satisfies Record<ErrorCode, number>;

export interface ApiErrorOptions {
  headers?: Record<string, string>;
  /** zod issues, sent with invalid_request. */
  issues?: unknown[];
  /** Internal reason: logged, never sent. */
  reason?: string;
  /** More fields of the body, after error and message (docs/api.md §14: the `redirect` of a refused request). */
  fields?: Record<string, string>;
}

/**
 * The one error that goes on the wire. app.onError turns it into
 * {"error", "message"[, "issues"]}; anything else thrown is a bug and becomes a 500.
 */
export class ApiError extends Error {
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  readonly headers: Record<string, string>;
  readonly issues?: unknown[];
  readonly reason?: string;
  readonly fields?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = ERROR_STATUS[code];
    this.headers = options.headers ?? {};
    this.issues = options.issues;
    this.reason = options.reason;
    this.fields = options.fields;
  }

  toJSON(): Record<string, unknown> {
    // Absent issues are undefined, which JSON leaves out (c.json in app.onError).
    return { error: this.code, message: this.message, issues: this.issues, ...this.fields };
  }
}

/**
 * An error of the IndieAuth form endpoints (docs/api.md §14), which answer as OAuth
 * does: RFC 6749 §5.2 `{"error", "error_description"}` (RFC 6750 §3 on userinfo), 400
 * for most codes, 401 for a failed client or token authentication (with
 * `WWW-Authenticate`), 403 for too little scope. app.onError sends it.
 */
export class OAuthFailure extends Error {
  constructor(
    readonly code: string,
    description: string,
    readonly status: 400 | 401 | 403 = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export function notClaimed(): ApiError {
  return new ApiError("not_claimed", "This instance has not been claimed yet.");
}

export function alreadyClaimed(): ApiError {
  return new ApiError("already_claimed", "This instance already has an owner.");
}

export function rateLimited(retryAfterS: number, message = "Too many requests; try again later."): ApiError {
  return new ApiError("rate_limited", message, {
    headers: { "Retry-After": String(Math.max(1, Math.ceil(retryAfterS))) },
  });
}
