/** docs/api.md §6: sessions and the activity log (Bearer). */
import { Hono } from "hono/tiny";
import { instanceStub } from "../durable/stub";
import type { AppEnv } from "../http/types";
import { noSuchSession } from "../instanceErrors";
import type { Reply } from "../schemas/routes";

export const sessionRoutes = new Hono<AppEnv>();

// The list comes with the session check's call (http/auth.ts, BEARER_READS).
sessionRoutes.get("/sessions", (c) => {
  const sessions = c.get("bearerRead").sessions!;
  return c.json({ sessions } satisfies Reply<"GET /api/sessions">);
});

sessionRoutes.delete("/sessions/:id", async (c) => {
  const id = c.req.param("id");
  if (!(await instanceStub(c.env).revokeSession(id, c.get("auth").sid))) {
    throw noSuchSession();
  }
  return c.body(null, 204);
});

sessionRoutes.delete("/sessions", async (c) => {
  await instanceStub(c.env).revokeOtherSessions(c.get("auth").sid, "revoked_by_owner");
  return c.body(null, 204);
});

// The page comes with the session check's call (http/auth.ts, BEARER_READS).
sessionRoutes.get("/activity", (c) => {
  return c.json({ entries: c.get("bearerRead").activity! } satisfies Reply<"GET /api/activity">);
});
