import type { Context, MiddlewareHandler } from "hono";
import { tryDecodeURIComponent } from "hono/utils/url";
import { AccessTokenError, verifyAccessToken } from "../domain/accessToken";
import { checkStepUp, hasSecondFactor } from "../domain/stepUp";
import type { BearerWork } from "../durable/instance";
import { instanceStub } from "../durable/stub";
import { ApiError } from "../errors";
import { sessionNotActive } from "../instanceErrors";
import { systemClock } from "../lib/clock";
import { loadInstanceKey } from "../lib/instanceKey";
import { activityQuerySchema } from "../schemas/api";
import { messageIdParamSchema, messagesQuerySchema } from "../schemas/messages";
import { routePath } from "./middleware";
import type { AppEnv } from "./types";
import { readQuery } from "./validate";

const challengeHeader = (error: string) => ({ "WWW-Authenticate": `Bearer error="${error}"` });

/**
 * Bearer authentication for /api: verify the instance-signed JWT, then ask the
 * Durable Object whether its session is still live, so a revoked session's tokens
 * stop working on the very next request instead of at expiry.
 */
export const requireBearer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = readBearerToken(c.req.header("authorization"));
  if (!token) {
    throw new ApiError("unauthorized", "An access token is required (Authorization: Bearer).", {
      headers: { "WWW-Authenticate": "Bearer" },
    });
  }
  c.set("auth", await authenticateAccessToken(c, token));
  await next();
};

/**
 * The token of `Authorization: Bearer <token>`, or null. The scheme name is
 * case-insensitive and followed by one or more spaces (RFC 7235 §2.1); the token
 * is what a JWT can hold (base64url and dots).
 */
export function readBearerToken(header: string | undefined): string | null {
  return header?.match(/^bearer +([A-Za-z0-9_.-]+)$/i)?.[1] ?? null;
}

export async function authenticateAccessToken(c: Context<AppEnv>, token: string) {
  const key = await loadInstanceKey(c.env.INSTANCE_SIGNING_KEY);
  let claims;
  try {
    claims = await verifyAccessToken(token, key, c.get("origin"), systemClock.nowMs());
  } catch (err) {
    if (!(err instanceof AccessTokenError)) throw err;
    throw new ApiError("unauthorized", "The access token is invalid or expired.", {
      headers: challengeHeader("invalid_token"),
      reason: err.reason,
    });
  }
  const { status, twoFactor, ...results } = await instanceStub(c.env).authorizeSession(
    claims.sid,
    c.get("settings").sessionPolicy,
    bearerWork(c),
  );
  c.set("twoFactor", twoFactor);
  c.set("bearerWork", results);
  if (status !== "active") throw sessionNotActive(status);
  return claims;
}

/**
 * What rides in the session check's call, so that these routes make one object call
 * (docs/benchmarks.md, "Durable Object calls") and take the result from
 * `c.get("bearerWork")`: a GET's read, by path (hono answers HEAD with the GET
 * route), or the one write of three DELETEs. The router takes one trailing slash as
 * the same route (hono's PatternRouter), and so does `routePath`. A query the route
 * would refuse is refused here, after the token and before the call; a message id
 * that is not one names nothing, and the route answers 404.
 */
function bearerWork(c: Context<AppEnv>): BearerWork | undefined {
  const path = routePath(c);
  if (/^(GET|HEAD)$/.test(c.req.method)) return BEARER_READS[path]?.(c);
  if (c.req.method !== "DELETE") return undefined;
  const [, what, raw] = /^\/api\/(messages|sessions)(?:\/([^/]+))?$/.exec(path) ?? [];
  // Decoded as the router decodes `:id` (c.req.param), so both name the same thing.
  const id = raw && tryDecodeURIComponent(raw);
  if (what === "sessions") return id === undefined ? { revokeOthers: true } : { revokeSession: id };
  const message = messageIdParamSchema.safeParse({ id });
  return what === "messages" && message.success ? { deleteMessage: message.data.id } : undefined;
}

const BEARER_READS: Record<string, (c: Context<AppEnv>) => BearerWork> = {
  "/api/messages": (c) => ({ messages: readQuery(c, messagesQuerySchema) }),
  "/api/activity": (c) => ({ activity: readQuery(c, activityQuerySchema) }),
  "/api/sessions": () => ({ sessions: true }),
  "/api/passkeys": () => ({ passkeys: true }),
};

/**
 * Step-up (docs/api.md §4) on a Bearer route: throws `403 step_up_required` unless
 * the token's login is fresh, with "otp" in it once 2FA is on. The 2FA status came
 * with the session check, so this costs no call.
 */
export function requireStepUpNow(c: Context<AppEnv>): void {
  const verdict = checkStepUp(c.get("auth"), {
    nowMs: systemClock.nowMs(),
    maxAgeS: c.get("settings").stepUpMaxAgeS,
    mfaEnabled: c.get("twoFactor").enabled,
  });
  if (!verdict.ok) {
    throw new ApiError(
      "step_up_required",
      verdict.reason === "stale"
        ? "This action needs a recent login: sign the challenge again (POST /auth/reauth)."
        : "This action needs a login with your second factor (POST /auth/reauth with a code).",
      { reason: verdict.reason },
    );
  }
}

/**
 * docs/api.md §14: the owner's consent needs a login with its second factor once 2FA
 * is on (a session that turned 2FA on began without one), however old the login.
 */
export function requireSecondFactor(c: Context<AppEnv>): void {
  if (c.get("twoFactor").enabled && !hasSecondFactor(c.get("auth").amr)) {
    throw new ApiError("step_up_required", "This needs a login with your second factor (POST /auth/reauth with a code).", {
      reason: "otp_missing",
    });
  }
}
