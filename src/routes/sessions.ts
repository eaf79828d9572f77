/** docs/api.md §6: sessions and the activity log (Bearer). */
import { Hono } from "hono/tiny";
import { instanceStub } from "../durable/stub";
import type { AppEnv } from "../http/types";
import { readQuery } from "../http/validate";
import { noSuchSession } from "../instanceErrors";
import { activityQuerySchema } from "../schemas/api";
import type { Reply } from "../schemas/routes";

export const sessionRoutes = new Hono<AppEnv>();

sessionRoutes.get("/sessions", async (c) => {
  const sessions = await instanceStub(c.env).listSessions(c.get("auth").sid, c.get("settings").sessionPolicy);
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

sessionRoutes.get("/activity", async (c) => {
  const query = readQuery(c, activityQuerySchema);
  return c.json({ entries: await instanceStub(c.env).listActivity(query.before, query.limit) } satisfies Reply<"GET /api/activity">);
});
