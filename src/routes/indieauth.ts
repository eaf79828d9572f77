/**
 * docs/api.md §14: IndieAuth. The owner signs in to other sites as their instance.
 *
 * Three kinds of route, with the rules of src/domain/indieauth/ and the state of
 * src/durable/indieauthRequests.ts, indieauthGrants.ts and indieauthProfile.ts:
 *  - discovery: the `Link` headers and `<link>`s of `GET /` (homeRoute) and the RFC
 *    8414 metadata;
 *  - the OAuth endpoints other sites call (`/indieauth/*`): form bodies in, RFC 6749
 *    §5.2 errors out (OAuthFailure), one Durable Object call each, its rate-limit hit
 *    included;
 *  - the owner's JSON API (`/api/indieauth/*`, `/api/profile`), where the consent
 *    page asks for the request to be checked, then approves or denies it.
 * With an ORIGIN that IndieAuth forbids as a profile URL (a port, an IP address,
 * plain http) every one of them answers 404, unless ALLOW_INSECURE_FEDERATION.
 */
import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { decideAuthorizationRequest, parseAuthorizationRequest } from "../domain/indieauth/authorizationRequest";
import { oauthErrorStatus, parseTokenRequest, single, type OAuthError } from "../domain/indieauth/codes";
import { decideUserinfo, grantRotationPolicy } from "../domain/indieauth/grants";
import { buildMetadata, discoveryLinkHeader, discoveryLinks, indieAuthServerFor, type IndieAuthServer } from "../domain/indieauth/metadata";
import { codeRedirect, errorRedirect } from "../domain/indieauth/redirects";
import { introspectionResponse, profileFor, profileUrlResponse, tokenResponse, type OwnerProfile } from "../domain/indieauth/responses";
import { acceptRedirectUri } from "../domain/indieauth/urls";
import type { RateLimitRefusal } from "../durable/instance";
import { instanceStub } from "../durable/stub";
import { ApiError, OAuthFailure } from "../errors";
import { readBearerToken, requireSecondFactor, requireStepUpNow } from "../http/auth";
import { oauthCors } from "../http/middleware";
import { countingFailures, rateLimitFor } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { rateLimitRefused } from "../instanceErrors";
import { secretsEqual } from "../lib/bytes";
import { systemClock } from "../lib/clock";
import { indieAuthApproveBodySchema, indieAuthDenyBodySchema, indieAuthRequestBodySchema, profileBodySchema } from "../schemas/indieauth";
import type { Reply } from "../schemas/routes";
import { clientForConsent, discoverClient } from "../services/indieauthClient";

type C = Context<AppEnv>;

/** IndieAuth's parameters for this ORIGIN, or null where it is unavailable (§14). */
function serverOf(c: C): IndieAuthServer | null {
  const server = indieAuthServerFor(c.get("origin"), { allowInsecure: c.get("settings").allowInsecureFederation });
  return server.ok ? server.value : null;
}

function requireServer(c: C): IndieAuthServer {
  const server = serverOf(c);
  if (!server) {
    throw new ApiError("not_found", "IndieAuth is not available here: this instance's ORIGIN has a port, an IP address or plain http.");
  }
  return server;
}

/** The profile the `profile` scope shares: what the owner set, else the handle alone (docs/indieauth.md). */
const ownerProfile = (c: C, stored: OwnerProfile | null | undefined): OwnerProfile => stored ?? { name: c.get("settings").ownerHandle };

const refuse = (error: OAuthError): OAuthFailure => new OAuthFailure(error.error, error.error_description, oauthErrorStatus(error.error));

/** Is the body a form (RFC 6749 §3.2: application/x-www-form-urlencoded)? */
const isForm = (c: C) => /^application\/x-www-form-urlencoded\s*(;|$)/i.test(c.req.header("content-type") ?? "");

/** A form body, else `invalid_request`. */
async function readForm(c: C): Promise<URLSearchParams> {
  if (!isForm(c)) throw new OAuthFailure("invalid_request", "The body must be a form (Content-Type: application/x-www-form-urlencoded).");
  return new URLSearchParams(await c.req.text());
}

/** The one `token` of a revocation or introspection form, or null (absent, empty or repeated). */
function tokenOf(form: URLSearchParams): string | null {
  const token = single(form, "token");
  return token === "repeated" ? null : token;
}

/** The form of a POST to the token or authorization endpoint, parsed (codes.ts); a refusal spends the address's hit. */
const readTokenForm = <T>(c: C, parse: (form: URLSearchParams) => { ok: true; value: T } | { ok: false; error: OAuthError }) =>
  countingFailures(c, "indieauth", async () => {
    const parsed = parse(await readForm(c));
    if (!parsed.ok) throw refuse(parsed.error);
    return parsed.value;
  });

/** The object's refusal of a code or a refresh token: 429, or the OAuth error. */
const refusal = (result: RateLimitRefusal | { ok: false; error: OAuthError }) =>
  result.error === "rate_limited" ? rateLimitRefused(result) : refuse(result.error);

/** Introspection and userinfo: the token if it is active, and the profile, after the rate-limit hit. */
async function lookUpAccessToken(c: C, token: string) {
  const looked = await instanceStub(c.env).indieAuthAccessToken({ rateLimit: rateLimitFor(c, "indieauth"), token, policy: grantRotationPolicy(c.get("settings")) });
  if (!looked.ok) throw rateLimitRefused(looked);
  return looked;
}

/** HTML-escaped as numeric references (`&#60;` for `<`), which every HTML parser reads as the character. */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/**
 * The authorization endpoint's own error page: a request nobody can vouch for is
 * never redirected (RFC 6749 §4.1.2.1), only explained.
 */
function errorPage(c: C, status: 400 | 404, message: string) {
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<title>Sign-in request refused</title><link rel="stylesheet" href="/style.css"></head><body><main>` +
      `<h1>This sign-in request cannot be used</h1><p>${escapeHtml(message)}</p>` +
      `<p>Nothing was shared. Go back to the site you came from and try again, or tell its developers.</p></main></body></html>`,
    status,
  );
}

// --- discovery ----------------------------------------------------------------------------

/**
 * GET and HEAD / (hono answers HEAD with the GET handler): the owner web app's page,
 * with the IndieAuth discovery `Link` header and the same links in its `<head>`.
 */
export async function homeRoute(c: C): Promise<Response> {
  if (!c.env.ASSETS) return c.notFound();
  const server = serverOf(c);
  // The page served is rewritten (its links name this instance), so the file's ETag
  // does not describe it: asked unconditionally, answered without one (never a 304
  // for a body the client may not have).
  const asset = await c.env.ASSETS.fetch(server ? new Request(c.req.url, { method: c.req.method }) : c.req.raw);
  if (!server || asset.status === 404) return new Response(asset.body, asset);
  const headers = new Headers(asset.headers);
  headers.append("Link", discoveryLinkHeader(server.me));
  headers.delete("content-length");
  headers.delete("etag");
  const res = new Response(asset.body, { status: asset.status, headers });
  if (asset.status !== 200 || !(headers.get("content-type") ?? "").startsWith("text/html")) return res;
  const links = discoveryLinks(server.me)
    .map(([rel, href]) => `<link rel="${rel}" href="${escapeHtml(href)}">`)
    .join("");
  return new HTMLRewriter().on("head", { element: (head) => void head.append(links, { html: true }) }).transform(res);
}

/** Mounted at /.well-known (whose routes are CORS `*` already: routes/discovery.ts). */
export const indieAuthDiscoveryRoutes = new Hono<AppEnv>();

indieAuthDiscoveryRoutes.get("/oauth-authorization-server", (c) => {
  return c.json(buildMetadata(requireServer(c).me) satisfies Reply<"GET /.well-known/oauth-authorization-server">);
});

// --- the OAuth endpoints ---------------------------------------------------------------------

/** Mounted at /indieauth. */
export const indieAuthRoutes = new Hono<AppEnv>();

for (const path of ["/token", "/revoke", "/userinfo"]) indieAuthRoutes.use(path, oauthCors);
indieAuthRoutes.use("/authorize", (c, next) => (c.req.method === "GET" ? next() : oauthCors(c, next)));

/**
 * The consent page: the owner web app, which reads the query and shows the consent
 * screen (it posts the query to POST /api/indieauth/requests). Nothing is fetched
 * and nothing stored here; only a request that cannot name a trustworthy client and
 * redirect URI gets the error page instead. Never framed: the CSP of every page has
 * `frame-ancestors 'none'` (http/middleware.ts).
 */
indieAuthRoutes.get("/authorize", async (c) => {
  const server = serverOf(c);
  if (!server) return errorPage(c, 404, "This identity server cannot sign you in anywhere: IndieAuth is not available at its address.");
  const parsed = parseAuthorizationRequest(new URL(c.req.url).search, server.clientIdPolicy);
  if (!parsed.ok && parsed.kind === "untrusted") return errorPage(c, 400, parsed.description);
  const page = await c.env.ASSETS?.fetch(new URL("/", c.req.url));
  if (!page || page.status !== 200) return errorPage(c, 404, "The owner app is not installed on this server.");
  return new Response(page.body, { headers: { "Content-Type": page.headers.get("content-type") ?? "text/html; charset=utf-8" } });
});

/** The profile URL redemption (LS §5.3.2): a code for `me` (and the profile), never a token. */
indieAuthRoutes.post("/authorize", async (c) => {
  const server = requireServer(c);
  const request = await readTokenForm(c, (form) => parseTokenRequest(form, "authorization"));
  const settings = c.get("settings");
  const result = await instanceStub(c.env).redeemIndieAuthCode({
    rateLimit: rateLimitFor(c, "indieauth"),
    request,
    endpoint: "authorization",
    accessTtlS: settings.indieAuthAccessTokenTtlS,
    policy: grantRotationPolicy(settings),
  });
  if (!result.ok) throw refusal(result);
  return c.json(profileUrlResponse(server.me, result.scopes, ownerProfile(c, result.profile)) satisfies Reply<"POST /indieauth/authorize">);
});

indieAuthRoutes.post("/token", async (c) => {
  const server = requireServer(c);
  const request = await readTokenForm(c, (form) => parseTokenRequest(form, "token"));
  const stub = instanceStub(c.env);
  const settings = c.get("settings");
  if (request.grantType === "revoke") {
    // The legacy revocation (LS §7.1): as POST /indieauth/revoke.
    const revoked = await stub.revokeIndieAuthToken(rateLimitFor(c, "indieauth-revoke"), request.token);
    if (!revoked.ok) throw rateLimitRefused(revoked);
    return c.body(null, 200);
  }
  const common = { rateLimit: rateLimitFor(c, "indieauth"), accessTtlS: settings.indieAuthAccessTokenTtlS, policy: grantRotationPolicy(settings) };
  const result =
    request.grantType === "authorization_code"
      ? await stub.redeemIndieAuthCode({ ...common, request, endpoint: "token" })
      : await stub.refreshIndieAuthGrant({ ...common, refreshToken: request.refreshToken, clientId: request.clientId, scope: request.scope });
  if (!result.ok) throw refusal(result);
  const tokens = result.tokens!;
  return c.json(
    tokenResponse({
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      scopes: result.scopes,
      me: server.me,
      expiresInS: settings.indieAuthAccessTokenTtlS,
      owner: ownerProfile(c, result.profile),
    }) satisfies Reply<"POST /indieauth/token">,
  );
});

/**
 * RFC 7662 for the owner's resource servers, which authenticate with the
 * INDIEAUTH_INTROSPECTION_SECRET as a Bearer token. The owner's own JWTs are no
 * IndieAuth tokens: they introspect as inactive, like anything unknown.
 */
indieAuthRoutes.post("/introspect", async (c) => {
  const server = requireServer(c);
  const presented = readBearerToken(c.req.header("authorization"));
  if (!presented) {
    throw new OAuthFailure("invalid_token", "Introspection needs Authorization: Bearer <the introspection secret>.", 401, { "WWW-Authenticate": "Bearer" });
  }
  const secret = c.env.INDIEAUTH_INTROSPECTION_SECRET;
  if (!secret || !(await secretsEqual(presented, secret))) {
    throw new OAuthFailure("invalid_token", "The introspection secret is wrong.", 401, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
  const token = await countingFailures(c, "indieauth", async () => {
    const value = tokenOf(await readForm(c));
    if (value === null) throw new OAuthFailure("invalid_request", "The form needs exactly one token.");
    return value;
  });
  const active = (await lookUpAccessToken(c, token)).token;
  return c.json(introspectionResponse(active && { me: server.me, ...active }) satisfies Reply<"POST /indieauth/introspect">);
});

/** RFC 7009: 200 whatever the token was, or if there was none (§14: "always"). */
indieAuthRoutes.post("/revoke", async (c) => {
  requireServer(c);
  const token = isForm(c) ? tokenOf(new URLSearchParams(await c.req.text())) : null;
  if (token !== null) {
    const revoked = await instanceStub(c.env).revokeIndieAuthToken(rateLimitFor(c, "indieauth-revoke"), token);
    if (!revoked.ok) throw rateLimitRefused(revoked);
  }
  return c.body(null, 200);
});

/** LS §9: the profile, for an access token with the `profile` scope (errors: RFC 6750 §3). */
indieAuthRoutes.get("/userinfo", async (c) => {
  const server = requireServer(c);
  const token = readBearerToken(c.req.header("authorization"));
  // Without a token there is nothing to look up, and no call to the object.
  const looked = token ? await lookUpAccessToken(c, token) : null;
  const scopes = looked?.token?.scopes ?? [];
  const verdict = decideUserinfo(looked ? { active: looked.token !== null, scopes } : "absent");
  if (!verdict.ok) throw new OAuthFailure(verdict.error, verdict.description, verdict.status, { "WWW-Authenticate": verdict.wwwAuthenticate });
  return c.json(profileFor(scopes, server.me, ownerProfile(c, looked!.profile))! satisfies Reply<"GET /indieauth/userinfo">);
});

// --- the owner's API (Bearer, docs/api.md §0 errors) -------------------------------------------

/** Mounted at /api, behind requireBearer and the Origin check. */
export const indieAuthOwnerRoutes = new Hono<AppEnv>();

const noSuchRequest = () => new ApiError("not_found", "No open authorization request has this id: it expired, or was already answered.");

/**
 * The consent page's first call: the request is checked again, and only now, for
 * the owner, is the client's document fetched (services/indieauthClient.ts) to learn
 * its name and the redirect URIs it vouches for. Stored for 10 minutes if it holds.
 */
indieAuthOwnerRoutes.post("/indieauth/requests", async (c) => {
  const server = requireServer(c);
  requireSecondFactor(c);
  const { query } = await readJson(c, indieAuthRequestBodySchema);
  const parsed = parseAuthorizationRequest(query, server.clientIdPolicy);
  if (!parsed.ok && parsed.kind === "untrusted") throw new ApiError("invalid_request", parsed.description, { reason: parsed.reason });
  const { clientId, redirectUri } = parsed.ok ? parsed.request : parsed;
  // A defect the client must hear about, at a redirect URI on its own origin: nothing to fetch.
  const discovery =
    parsed.ok || !acceptRedirectUri(clientId, redirectUri, null)
      ? await discoverClient(clientId, { policy: server.clientIdPolicy, nowMs: systemClock.nowMs() })
      : null;
  const decision = decideAuthorizationRequest(parsed, discovery?.ok ? discovery.client.redirectUris : null, server.issuer);
  if (decision.kind === "untrusted") throw new ApiError("invalid_request", decision.description, { reason: decision.reason });
  if (decision.kind === "redirect_error") {
    throw new ApiError("invalid_request", decision.description, { reason: decision.reason, fields: { redirect: decision.redirect } });
  }
  const { request } = decision;
  const client = clientForConsent(clientId, discovery!);
  const requestId = await instanceStub(c.env).openIndieAuthRequest({
    clientId,
    clientName: client.name ?? null,
    redirectUri: request.redirectUri,
    state: request.state,
    codeChallenge: request.codeChallenge,
    scopes: request.grantableScopes,
  });
  return c.json({ requestId, client, redirectUri: request.redirectUri, scopes: request.grantableScopes } satisfies Reply<"POST /api/indieauth/requests">);
});

indieAuthOwnerRoutes.post("/indieauth/approve", async (c) => {
  const server = requireServer(c);
  requireSecondFactor(c);
  const { requestId, scope } = await readJson(c, indieAuthApproveBodySchema);
  const answered = await instanceStub(c.env).answerIndieAuthRequest(requestId, { approve: true, scope }, c.get("auth").sid);
  if (!answered.ok) {
    if (answered.error === "scope") throw new ApiError("invalid_request", "scope may only name scopes the app asked for.");
    throw noSuchRequest();
  }
  const redirect = codeRedirect({ redirectUri: answered.redirectUri, code: answered.code!, state: answered.state, issuer: server.issuer });
  return c.json({ redirect } satisfies Reply<"POST /api/indieauth/approve">);
});

indieAuthOwnerRoutes.post("/indieauth/deny", async (c) => {
  const server = requireServer(c);
  requireSecondFactor(c);
  const { requestId } = await readJson(c, indieAuthDenyBodySchema);
  const answered = await instanceStub(c.env).answerIndieAuthRequest(requestId, { approve: false }, c.get("auth").sid);
  if (!answered.ok) throw noSuchRequest();
  const redirect = errorRedirect({ redirectUri: answered.redirectUri, error: "access_denied", state: answered.state, issuer: server.issuer });
  return c.json({ redirect } satisfies Reply<"POST /api/indieauth/deny">);
});

indieAuthOwnerRoutes.get("/indieauth/grants", async (c) => {
  requireServer(c);
  const grants = await instanceStub(c.env).listIndieAuthGrants(grantRotationPolicy(c.get("settings")));
  return c.json({ grants } satisfies Reply<"GET /api/indieauth/grants">);
});

indieAuthOwnerRoutes.delete("/indieauth/grants/:id", async (c) => {
  requireServer(c);
  if (!(await instanceStub(c.env).revokeIndieAuthGrant(c.req.param("id"), c.get("auth").sid, grantRotationPolicy(c.get("settings"))))) {
    throw new ApiError("not_found", "No live grant has this id.");
  }
  return c.body(null, 204);
});

indieAuthOwnerRoutes.get("/profile", async (c) => {
  requireServer(c);
  return c.json(ownerProfile(c, await instanceStub(c.env).indieAuthProfile()) satisfies Reply<"GET /api/profile">);
});

indieAuthOwnerRoutes.put("/profile", async (c) => {
  requireServer(c);
  requireStepUpNow(c);
  const profile = await readJson(c, profileBodySchema);
  await instanceStub(c.env).setIndieAuthProfile(profile);
  return c.json(profile satisfies Reply<"PUT /api/profile">);
});
