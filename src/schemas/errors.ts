/**
 * The protocol's error codes (docs/api.md §0): the one list from which the server's
 * status table (ERROR_STATUS in src/errors.ts, checked against it by type), the error
 * body's schema and the browser client's error type (client/errors.ts) are derived,
 * so a code cannot be added in one place and forgotten in another.
 */
import * as z from "zod/mini";
import "./zodLocale";

export const errorCodeSchema = z.enum([
  "invalid_request",
  "unauthorized",
  "invalid_assertion",
  "mfa_required",
  "invalid_code",
  "session_revoked",
  "forbidden",
  "step_up_required",
  "not_claimed",
  "not_found",
  "already_claimed",
  "version_conflict",
  "payload_too_large",
  "rate_limited",
  /** Not an ApiError: what app.onError answers for anything else thrown, a bug. */
  "internal_error",
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

/** `{"error", "message"[, "issues"]}`: every error the server answers (docs/api.md §0). */
export const errorResponseSchema = z.object({
  error: errorCodeSchema,
  message: z.string(),
  /** zod's issues, with invalid_request for a body or query that failed validation. */
  issues: z.optional(z.array(z.unknown())),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;
