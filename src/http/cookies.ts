import type { Context } from "hono";
import { parse } from "hono/utils/cookie";
import type { AppEnv } from "./types";

/**
 * The refresh cookie `__Secure-rt` (docs/api.md §4): HttpOnly, Secure,
 * SameSite=Strict, sent only to /auth, so page scripts and /api never see it.
 *
 * Read with hono's cookie parser (what `getCookie(c, "rt", "secure")` calls);
 * written as the fixed string hono's `setCookie` made for these options, since it
 * never varies but for the token and Max-Age: hono's serializer (option checks,
 * prefixes, Domain, Expires, Priority, Partitioned) is 0.8 KiB gzipped of the
 * Worker (docs/benchmarks.md, "Worker size"). test/workers/refresh.test.ts pins
 * both strings.
 */
const NAME = "__Secure-rt";
const ATTRIBUTES = "; Path=/auth; HttpOnly; Secure; SameSite=Strict";

export function readRefreshCookie(c: Context<AppEnv>): string | undefined {
  const header = c.req.header("cookie");
  return header ? parse(header, NAME)[NAME] : undefined;
}

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis). */
const MAX_COOKIE_AGE_S = 400 * 86_400;

export function setRefreshCookie(c: Context<AppEnv>, token: string): void {
  const maxAge = Math.min(c.get("settings").refreshIdleTtlS, MAX_COOKIE_AGE_S);
  c.header("Set-Cookie", `${NAME}=${encodeURIComponent(token)}; Max-Age=${maxAge}${ATTRIBUTES}`, { append: true });
}

export function clearRefreshCookie(c: Context<AppEnv>): void {
  c.header("Set-Cookie", `${NAME}=; Max-Age=0${ATTRIBUTES}`, { append: true });
}
