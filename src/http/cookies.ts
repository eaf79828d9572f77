import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "./types";

/**
 * The refresh cookie `__Secure-rt` (docs/api.md §4): HttpOnly, Secure,
 * SameSite=Strict, sent only to /auth, so page scripts and /api never see it.
 */
const NAME = "rt";
const OPTIONS = { prefix: "secure", httpOnly: true, secure: true, sameSite: "Strict", path: "/auth" } as const;

export function readRefreshCookie(c: Context<AppEnv>): string | undefined {
  return getCookie(c, NAME, "secure");
}

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); hono refuses more. */
const MAX_COOKIE_AGE_S = 400 * 86_400;

export function setRefreshCookie(c: Context<AppEnv>, token: string): void {
  setCookie(c, NAME, token, { ...OPTIONS, maxAge: Math.min(c.get("settings").refreshIdleTtlS, MAX_COOKIE_AGE_S) });
}

export function clearRefreshCookie(c: Context<AppEnv>): void {
  deleteCookie(c, NAME, OPTIONS);
}
