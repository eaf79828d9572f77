/**
 * Delivery schedule of the federation outbox (docs/api.md §11: "retries with
 * backoff until delivered or 48 h pass"), pure. Time is passed in.
 */

/** docs/api.md §11. */
export const OUTBOX_GIVE_UP_AFTER_MS = 48 * 60 * 60 * 1000;
/** First retry after 30 s, doubling, at most every 4 h: about 16 attempts in 48 h. */
export const OUTBOX_FIRST_RETRY_MS = 30_000;
export const OUTBOX_MAX_RETRY_MS = 4 * 60 * 60 * 1000;

export type OutboxStatus = "pending" | "delivered" | "failed";

/** How long to wait after the `attempts`-th failed attempt (1-based). */
export function retryDelayMs(attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(OUTBOX_FIRST_RETRY_MS * 2 ** exponent, OUTBOX_MAX_RETRY_MS);
}

export interface AttemptResult {
  status: OutboxStatus;
  /** When to try again; null once delivered or failed. */
  nextAttemptAtMs: number | null;
}

/**
 * After attempt number `attempts` (already counted) ends at `nowMs`: delivered,
 * or a retry at now + backoff, or failed when that retry would fall after the
 * 48 h deadline (one last attempt is made at the deadline itself if it is still
 * ahead, so a peer that is down for exactly two days is not given up early).
 */
export function afterAttempt(input: { createdAtMs: number; attempts: number; nowMs: number; delivered: boolean }): AttemptResult {
  if (input.delivered) return { status: "delivered", nextAttemptAtMs: null };
  const deadlineMs = input.createdAtMs + OUTBOX_GIVE_UP_AFTER_MS;
  if (input.nowMs >= deadlineMs) return { status: "failed", nextAttemptAtMs: null };
  return { status: "pending", nextAttemptAtMs: Math.min(input.nowMs + retryDelayMs(input.attempts), deadlineMs) };
}
