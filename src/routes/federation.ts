/**
 * PROTOCOL.md §11: federation. WebFinger and the actor are public discovery
 * documents (CORS *, no cookies); the logic is in domain/actor.ts.
 */
import { Hono } from "hono";
import { actorContentType, actorDocument, JRD_JSON, matchWebfingerResource, webfingerDocument } from "../domain/actor";
import { ApiError } from "../errors";
import { publicCors } from "../http/middleware";
import type { AppEnv } from "../http/types";
import { loadFederationKey } from "../lib/federationKey";

/** Mounted at /.well-known. */
export const webfingerRoutes = new Hono<AppEnv>();

webfingerRoutes.use("/webfinger", publicCors);

webfingerRoutes.get("/webfinger", (c) => {
  const origin = c.get("origin");
  const handle = c.get("settings").ownerHandle;
  const match = matchWebfingerResource(c.req.query("resource"), origin, handle);
  if (!match.ok) {
    throw match.reason === "malformed"
      ? new ApiError("invalid_request", "resource must be acct:<handle>@<host>.", { reason: "webfinger resource malformed" })
      : new ApiError("not_found", "This instance has no such account.");
  }
  c.header("Content-Type", JRD_JSON);
  c.header("Cache-Control", "public, max-age=300");
  return c.body(JSON.stringify(webfingerDocument(origin, handle)));
});

/** Mounted at /. */
export const actorRoutes = new Hono<AppEnv>();

actorRoutes.use("/actor", publicCors);

actorRoutes.get("/actor", async (c) => {
  const origin = c.get("origin");
  const key = await loadFederationKey(c.env.FEDERATION_KEY);
  c.header("Content-Type", actorContentType(c.req.header("accept")));
  c.header("Cache-Control", "public, max-age=300");
  c.header("Vary", "Accept");
  return c.body(JSON.stringify(actorDocument(origin, c.get("settings").ownerHandle, key.publicKeyPem)));
});
