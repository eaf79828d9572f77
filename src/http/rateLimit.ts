import type { Context } from "hono";
import { instanceStub } from "../durable/stub";
import { throwIfRateLimited } from "../instanceErrors";
import { clientAddress } from "./clientAddress";
import type { AppEnv } from "./types";

/** Route groups with their own per-address budget of RATE_LIMIT_PER_MIN a minute. */
export type RateLimitGroup =
  | "challenge"
  | "setup"
  | "login"
  | "escrow"
  | "refresh"
  // Its own budget: anyone behind the same address can spend `refresh`'s, and a
  // logout refused with 429 would leave the session alive.
  | "logout"
  | "reauth"
  | "recovery"
  | "messages"
  | "inbox"
  | "2fa"
  // POST /auth/passkey/options, and the passkey routes of /api.
  | "passkey"
  // docs/api.md §14: the IndieAuth form endpoints (token, authorization POST,
  // introspection, userinfo); revocation has its own budget, as logout does.
  | "indieauth"
  | "indieauth-revoke";

/**
 * Counts this request against the client address's budget for `group` and throws
 * `429 rate_limited` with Retry-After once it is spent. The counter lives in the
 * Durable Object, so it is exact; KV could not count reliably.
 */
export async function enforceRateLimit(c: Context<AppEnv>, group: RateLimitGroup): Promise<void> {
  const { key, limit, windowMs } = rateLimitFor(c, group);
  throwIfRateLimited(await instanceStub(c.env).hitRateLimit(key, limit, windowMs));
}

/** The counter a request from this client address hits for `group`: RATE_LIMIT_PER_MIN a minute. */
export function rateLimitFor(c: Context<AppEnv>, group: RateLimitGroup) {
  return { key: `rl:${group}:${clientAddress(c)}`, limit: c.get("settings").rateLimitPerMin, windowMs: 60_000 };
}

/**
 * For a route whose one object call counts its rate-limit hit together with its
 * work: runs the work that comes before that call (reading the body, checks that
 * need no state), and if it fails, counts the hit here before the failure goes out.
 * So every request spends the budget exactly once, and a spent budget answers 429
 * before any other refusal, as if the hit had come first.
 */
export async function countingFailures<T>(c: Context<AppEnv>, group: RateLimitGroup, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await enforceRateLimit(c, group);
    throw err;
  }
}
