import * as z from "zod/mini";
import "./schemas/zodLocale";
import { DEFAULT_INDIEAUTH_ACCESS_TOKEN_TTL_S } from "./domain/indieauth/codes";
import type { RotationPolicy } from "./domain/rotation";
import { MESSAGE_QUOTA_DEFAULTS, type MessageQuota } from "./schemas/messageLimits";
import type { Env } from "./env";

/**
 * Typed settings read from Worker variables. Every limit the server enforces is
 * named here, so the README's settings table and the code cannot drift apart.
 */
export interface Settings {
  /** Public origin, or null in local development (then the request's origin is used). */
  origin: string | null;
  ownerHandle: string;
  accessTokenTtlS: number;
  refreshReuseGraceS: number;
  refreshIdleTtlS: number;
  sessionMaxTtlS: number;
  stepUpMaxAgeS: number;
  allowInsecureFederation: boolean;
  rateLimitPerMin: number;
  /** docs/api.md §13: how long a recovery request waits before it can be completed. */
  recoveryDelayS: number;
  /** docs/api.md §14: how long an IndieAuth access token lives. */
  indieAuthAccessTokenTtlS: number;
  /**
   * The session rules of docs/api.md §5 in milliseconds, from the three settings
   * above: the one policy every session check uses. The Worker passes it to the
   * Durable Object with each call (and in a socket's grant), so the object never
   * reads settings of its own.
   */
  sessionPolicy: RotationPolicy;
  /** The stored-message quota, per kind (verified or not): src/schemas/messageLimits.ts. */
  messageQuota: MessageQuota;
}

const seconds = (fallback: number, max = 10 * 365 * 86400, min = 0) =>
  z.pipe(
    z.transform((v: unknown) => (v === undefined || v === "" ? fallback : Number(v))),
    z.number().check(z.int(), z.minimum(min), z.maximum(max)),
  );

/**
 * The shortest access-token lifetime the server accepts. The browser SDK refreshes
 * a token 60 s before it expires (client/session.ts), and the live channel warns 60 s
 * before (TOKEN_EXPIRY_WARNING_MS): a lifetime under that margin would make every
 * API call and every socket refresh first. Twice the margin leaves each token at
 * least a minute of use.
 */
export const ACCESS_TOKEN_TTL_MIN_S = 120;

const settingsSchema = z.object({
  ORIGIN: z.pipe(
    z.optional(z.string()),
    z.transform((v) => (v ? new URL(v).origin : null)),
  ),
  OWNER_HANDLE: z.pipe(
    z.optional(z.string().check(z.regex(/^[a-z0-9_.-]{1,64}$/i))),
    z.transform((v) => v || "owner"),
  ),
  ACCESS_TOKEN_TTL_S: seconds(900, 86400, ACCESS_TOKEN_TTL_MIN_S),
  REFRESH_REUSE_GRACE_S: seconds(10, 300),
  REFRESH_IDLE_TTL_S: seconds(8_640_000),
  SESSION_MAX_TTL_S: seconds(31_536_000),
  STEP_UP_MAX_AGE_S: seconds(300, 86400),
  ALLOW_INSECURE_FEDERATION: z.pipe(
    z.optional(z.string()),
    z.transform((v) => v === "1" || v === "true"),
  ),
  RATE_LIMIT_PER_MIN: seconds(300, 1_000_000_000),
  RECOVERY_DELAY_S: seconds(259_200, 90 * 86400),
  // At least a minute (a token that expires on the way is no token), at most a year.
  INDIEAUTH_ACCESS_TOKEN_TTL_S: seconds(DEFAULT_INDIEAUTH_ACCESS_TOKEN_TTL_S, 365 * 86400, 60),
  MESSAGE_QUOTA: seconds(MESSAGE_QUOTA_DEFAULTS.count, 1_000_000_000),
  MESSAGE_QUOTA_BYTES: seconds(MESSAGE_QUOTA_DEFAULTS.bytes, Number.MAX_SAFE_INTEGER),
});

const cache = new WeakMap<object, Settings>();

/** Parses the settings once per env object; a bad value fails loudly at first use. */
export function readSettings(env: Env): Settings {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = settingsSchema.parse(env);
  const settings: Settings = {
    origin: parsed.ORIGIN,
    ownerHandle: parsed.OWNER_HANDLE,
    accessTokenTtlS: parsed.ACCESS_TOKEN_TTL_S,
    refreshReuseGraceS: parsed.REFRESH_REUSE_GRACE_S,
    refreshIdleTtlS: parsed.REFRESH_IDLE_TTL_S,
    sessionMaxTtlS: parsed.SESSION_MAX_TTL_S,
    stepUpMaxAgeS: parsed.STEP_UP_MAX_AGE_S,
    allowInsecureFederation: parsed.ALLOW_INSECURE_FEDERATION,
    rateLimitPerMin: parsed.RATE_LIMIT_PER_MIN,
    recoveryDelayS: parsed.RECOVERY_DELAY_S,
    indieAuthAccessTokenTtlS: parsed.INDIEAUTH_ACCESS_TOKEN_TTL_S,
    sessionPolicy: {
      graceMs: parsed.REFRESH_REUSE_GRACE_S * 1000,
      idleTtlMs: parsed.REFRESH_IDLE_TTL_S * 1000,
      maxTtlMs: parsed.SESSION_MAX_TTL_S * 1000,
    },
    messageQuota: { count: parsed.MESSAGE_QUOTA, bytes: parsed.MESSAGE_QUOTA_BYTES },
  };
  cache.set(env, settings);
  return settings;
}
