import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../errors";
import { LIMITS } from "../schemas/api";
import { ARCHIVE_LIMITS } from "../schemas/archive";
import { readSettings } from "../settings";
import type { AppEnv } from "./types";

/**
 * The path as the router matches it: hono's PatternRouter takes one trailing slash as
 * the same route, so every rule keyed by path (the Bearer reads, the body limits, the
 * live channel, a page's CSP) looks it up without one, or `/x/` would skip it.
 */
export const routePath = (c: Context): string => c.req.path.replace(/(.)\/$/, "$1");

/** Settings and the effective ORIGIN, for every request. */
export const withSettings: MiddlewareHandler<AppEnv> = async (c, next) => {
  const settings = readSettings(c.env);
  c.set("settings", settings);
  c.set("origin", settings.origin ?? new URL(c.req.url).origin);
  await next();
};

/**
 * The Content-Security-Policy of a page. 'wasm-unsafe-eval' lets the owner app
 * compile Argon2id's WebAssembly (the key backup's KDF); it allows no JavaScript
 * eval. Trusted Types (docs/threat-model.md): every DOM-XSS sink refuses plain
 * strings; the app builds its DOM with text nodes and needs one policy, for one
 * sink: the Argon2id worker's script URL (`new Worker(url)`, client/escrow/worker.ts).
 */
const csp = (scriptSrc: string, trustedTypes: string, imgSrc = "'self' data:") =>
  `default-src 'self'; script-src ${scriptSrc}; style-src 'self'; img-src ${imgSrc}; connect-src 'self'; object-src 'none'; ` +
  `base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types ${trustedTypes}`;

const OWNER_APP_CSP = csp("'self' 'wasm-unsafe-eval'", "argon2id");
/**
 * The public contact page only seals a message (jose, WebCrypto): it runs no
 * WebAssembly, so its page gets no 'wasm-unsafe-eval', and starts no worker, so it
 * may create no Trusted Types policy at all. The page is where strangers are
 * invited, so it gets the least.
 */
const CONTACT_PAGE_CSP = csp("'self'", "'none'");
export const CONTACT_PAGE_PATHS: ReadonlySet<string> = new Set(["/contact", "/contact.html"]);

/**
 * The IndieAuth consent page (docs/api.md §14) shows the client's logo, an https URL
 * from the client's metadata document: its images may come from any https origin.
 * Nothing else changes (scripts, connections and framing as on every owner page).
 */
const CONSENT_PAGE_CSP = csp("'self' 'wasm-unsafe-eval'", "argon2id", "'self' data: https:");
export const CONSENT_PAGE_PATH = "/indieauth/authorize";

/**
 * The other security headers, fixed: hono/secure-headers' defaults (helmet's) with
 * a two-year HSTS, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`, and no
 * Cross-Origin-Resource-Policy (discovery and the IndieAuth endpoints are read
 * cross-origin). Written out rather than configured through the middleware: 1 KiB
 * less in the Worker (docs/benchmarks.md, "Worker size").
 */
const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["Referrer-Policy", "no-referrer"],
  ["Strict-Transport-Security", "max-age=63072000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Frame-Options", "DENY"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

/** Security headers on every response (error answers included); the CSP depends on the page (see above). */
export const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const headers = c.res.headers;
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
  const path = routePath(c);
  headers.set("Content-Security-Policy", CONTACT_PAGE_PATHS.has(path) ? CONTACT_PAGE_CSP : path === CONSENT_PAGE_PATH ? CONSENT_PAGE_CSP : OWNER_APP_CSP);
  headers.delete("X-Powered-By");
};

/**
 * docs/api.md §0: state-changing browser routes refuse a request whose Origin is
 * present and differs from ORIGIN. Hono's csrf() only looks at form posts, and
 * these routes take JSON, so the check is ours. The WebSocket upgrade is a GET and
 * is checked by its own route.
 */
export const checkOrigin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const method = c.req.method;
  if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") refuseForeignOrigin(c);
  await next();
};

/** `403 forbidden` when the request carries an Origin other than the instance's. */
export function refuseForeignOrigin(c: Context<AppEnv>, message = "Cross-origin requests are not allowed here."): void {
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== c.get("origin")) throw new ApiError("forbidden", message);
}

function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
    },
  });
}

const defaultLimit = limitBody(LIMITS.bodyBytes);
const escrowLimit = limitBody(LIMITS.escrowBodyBytes);
/**
 * Routes allowed more than the default. The escrow routes carry a blob of up to
 * 64 KiB plus keys and an assertion, 400 KiB in all because JSON escaping can make
 * the blob six times longer (LIMITS.escrowBodyBytes); restore carries a whole export archive
 * (ARCHIVE_LIMITS.restoreBodyBytes, 16 MiB; docs/export-restore.md).
 */
const LARGER_LIMITS = new Map<string, MiddlewareHandler<AppEnv>>([
  ["POST /auth/setup", escrowLimit],
  ["PUT /api/escrow", escrowLimit],
  ["POST /auth/restore", limitBody(ARCHIVE_LIMITS.restoreBodyBytes)],
]);

/**
 * docs/api.md §0: bodies over 64 KiB are `413 payload_too_large`, checked before
 * anything reads them, except on the routes above.
 */
export const limitBodies: MiddlewareHandler<AppEnv> = (c, next) =>
  (LARGER_LIMITS.get(`${c.req.method} ${routePath(c)}`) ?? defaultLimit)(c, next);

/** Responses that must never be cached: tokens, escrow, owner data. */
export const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
};

/** Credential-free CORS (`*`) allowing these request headers, preflights answered here. */
const corsAllowing =
  (allowHeaders: string): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    if (c.req.method === "OPTIONS") {
      return c.body(null, 204, {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": allowHeaders,
        "Access-Control-Max-Age": "86400",
      });
    }
    await next();
    c.header("Access-Control-Allow-Origin", "*");
  };

/** Public, credential-free CORS for discovery and message submission. */
export const publicCors = corsAllowing("Content-Type");

/**
 * docs/api.md §14: the IndieAuth endpoints a browser client calls (token,
 * authorization POST, revocation, userinfo). Still credential-free (no cookies):
 * userinfo's Bearer token is a header the page sets itself.
 */
export const oauthCors = corsAllowing("Authorization, Content-Type");
