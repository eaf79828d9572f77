/** docs/api.md §6: sessions and the activity log (Bearer). */
import { Hono } from "hono/tiny";
import type { AppEnv } from "../http/types";
import { noSuchSession } from "../instanceErrors";
import type { Reply } from "../schemas/routes";

export const sessionRoutes = new Hono<AppEnv>();

// The list comes with the session check's call (http/auth.ts, bearerWork).
sessionRoutes.get("/sessions", (c) => {
  const sessions = c.get("bearerWork").sessions!;
  return c.json({ sessions } satisfies Reply<"GET /api/sessions">);
});

// Both revocations are done by the session check's call (http/auth.ts, bearerWork).
sessionRoutes.delete("/sessions/:id", (c) => {
  if (!c.get("bearerWork").written) throw noSuchSession();
  return c.body(null, 204);
});

sessionRoutes.delete("/sessions", (c) => {
  if (!c.get("bearerWork").written) throw new Error("DELETE /api/sessions: not revoked");
  return c.body(null, 204);
});

// The page comes with the session check's call (http/auth.ts, bearerWork).
sessionRoutes.get("/activity", (c) => {
  return c.json({ entries: c.get("bearerWork").activity! } satisfies Reply<"GET /api/activity">);
});
