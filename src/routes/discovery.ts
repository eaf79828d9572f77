/** docs/api.md §2: public discovery documents (CORS *, no cookies). */
import { Hono } from "hono/tiny";
import { notClaimed } from "../errors";
import { publicCors } from "../http/middleware";
import type { AppEnv } from "../http/types";
import { getJwks } from "../storage/jwksCache";
import { isClaimed } from "../storage/ownerStore";
import type { Reply } from "../schemas/routes";

export const discoveryRoutes = new Hono<AppEnv>();

discoveryRoutes.use("*", publicCors);

discoveryRoutes.get("/jwks.json", async (c) => {
  const jwks = await getJwks(c.env, (p) => c.executionCtx.waitUntil(p));
  if (!jwks) throw notClaimed();
  c.header("Cache-Control", "public, max-age=300");
  return c.json(jwks satisfies Reply<"GET /.well-known/jwks.json">);
});

discoveryRoutes.get("/indienet", async (c) => {
  const origin = c.get("origin");
  return c.json({
    protocol: "indienet/1",
    origin,
    claimed: await isClaimed(c.env.DB),
    jwks_uri: `${origin}/.well-known/jwks.json`,
    messages_endpoint: `${origin}/messages`,
    inbox: `${origin}/inbox`,
  } satisfies Reply<"GET /.well-known/indienet">);
});
