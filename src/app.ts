/**
 * The Worker's HTTP surface. The layout follows docs/api.md: discovery (§2),
 * /auth (§3-5), /api (§6-7). Cross-cutting rules (security headers, Origin check,
 * body limits, one error shape) are applied here, once.
 */
import { Hono } from "hono/tiny";
import { requireBearer } from "./http/auth";
import { checkOrigin, limitBodies, noStore, publicCors, routePath, securityHeaders, withSettings } from "./http/middleware";
import { homeRoute, indieAuthDiscoveryRoutes, indieAuthOwnerRoutes, indieAuthRoutes } from "./routes/indieauth";
import { ApiError, OAuthFailure } from "./errors";
import type { AppEnv } from "./http/types";
import { archiveRoutes } from "./routes/archive";
import { authRoutes } from "./routes/auth";
import { discoveryRoutes } from "./routes/discovery";
import { escrowRoutes } from "./routes/escrow";
import { actorRoutes, webfingerRoutes } from "./routes/federation";
import { liveRoutes } from "./routes/live";
import { messageRoutes, publicMessageRoutes } from "./routes/messages";
import { outboxRoutes } from "./routes/outbox";
import { passkeyRoutes } from "./routes/passkeys";
import { recoveryAuthRoutes, recoveryRoutes } from "./routes/recovery";
import { sessionRoutes } from "./routes/sessions";
import { twoFactorRoutes } from "./routes/twoFactor";

/** Routes that take a Bearer access token. */
const BEARER_PATH = /^\/(api\/|auth\/reauth$)/;

/** Paths that belong to the protocol: never served from the web app's assets. */
const API_PATH = /^\/(api|auth|\.well-known|messages|actor|inbox|indieauth)(\/|$)/;

/**
 * Web app files whose names carry a hash of their content (scripts/build-web.mjs):
 * esbuild's lazy chunks and the password lists' data file. A new build gives them
 * new names, so they can be cached for a year; everything else keeps the assets'
 * default (revalidate every time), since the pages and entry points keep their names.
 */
export const IMMUTABLE_ASSET_PATH = /^\/(chunks\/[\w-]+-[A-Z0-9]{8}\.js|password-lists\.[0-9a-f]{16}\.json)$/;

export function createApp() {
  const app = new Hono<AppEnv>();

  // Outermost for the public message endpoint, so that even a refusal from the
  // middleware below (413 from limitBodies) carries CORS and a sender's page can read it.
  app.use("/messages", publicCors);
  app.use("*", securityHeaders, withSettings, limitBodies);
  app.use("/auth/*", checkOrigin);
  // Tokens, escrow blobs and owner data must not sit in any cache (RFC 6749 §5.1).
  app.use("/auth/*", noStore);
  app.use("/api/*", noStore);
  // docs/api.md §14: the IndieAuth endpoints and their metadata are never cached
  // either. They take no Origin check: other sites' pages call them (CORS, no cookies).
  app.use("/indieauth/*", noStore);
  app.use("/.well-known/oauth-authorization-server", noStore);
  // The live channel authenticates its upgrade itself: a browser cannot put an
  // Authorization header on a WebSocket (routes/live.ts).
  // (A path check rather than hono/combine's except(), which bundles a second router.)
  app.use("/api/*", checkOrigin, (c, next) => (routePath(c) === "/api/ws" ? next() : requireBearer(c, next)));

  app.route("/.well-known", discoveryRoutes);
  app.route("/.well-known", webfingerRoutes);
  app.route("/", actorRoutes);
  app.route("/auth", authRoutes);
  app.route("/api", sessionRoutes);
  app.route("/api", escrowRoutes);
  app.route("/messages", publicMessageRoutes);
  app.route("/api", messageRoutes);
  app.route("/api", liveRoutes);
  app.route("/api", twoFactorRoutes);
  app.route("/api", archiveRoutes);
  app.route("/api", outboxRoutes);
  app.route("/api", passkeyRoutes);
  app.route("/auth", recoveryAuthRoutes);
  app.route("/api", recoveryRoutes);
  app.get("/", homeRoute);
  app.route("/.well-known", indieAuthDiscoveryRoutes);
  app.route("/indieauth", indieAuthRoutes);
  app.route("/api", indieAuthOwnerRoutes);

  app.notFound(async (c) => {
    // Pages and files of the owner web app (web/, wrangler.toml [assets]) for any
    // other GET; API paths keep their JSON 404. A copy of the response, so the
    // security headers middleware can add its headers to it.
    if ((c.req.method === "GET" || c.req.method === "HEAD") && c.env.ASSETS && !API_PATH.test(c.req.path)) {
      const asset = await c.env.ASSETS.fetch(c.req.raw);
      if (asset.status !== 404) {
        const res = new Response(asset.body, asset);
        if (res.status === 200 && IMMUTABLE_ASSET_PATH.test(c.req.path)) res.headers.set("Cache-Control", "public, max-age=31536000, immutable");
        return res;
      }
    }
    return c.json({ error: "not_found", message: `No route for ${c.req.method} ${c.req.path}.` }, 404);
  });

  app.onError((err, c) => {
    if (err instanceof OAuthFailure) {
      return c.json({ error: err.code, error_description: err.message }, err.status, err.headers);
    }
    if (err instanceof ApiError) {
      if (err.reason) console.log(JSON.stringify({ event: "api_error", code: err.code, reason: err.reason, path: c.req.path }));
      const headers = { ...err.headers };
      // RFC 6750 §3: every 401 from a Bearer-protected route names the scheme.
      if (err.status === 401 && !headers["WWW-Authenticate"] && BEARER_PATH.test(routePath(c))) {
        headers["WWW-Authenticate"] = "Bearer";
      }
      return c.json(err.toJSON(), err.status, headers);
    }
    // Anything else is a bug: log it whole, tell the client nothing about it.
    console.error(JSON.stringify({ event: "internal_error", path: c.req.path, error: String(err), stack: (err as Error)?.stack }));
    return c.json({ error: "internal_error", message: "Something went wrong on the server." }, 500);
  });

  return app;
}
