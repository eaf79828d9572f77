/**
 * docs/api.md §9: private messages. POST /messages is public (anyone holding the
 * owner's published key may write); reading and deleting are the owner's (Bearer).
 */
import { Hono } from "hono/tiny";
import { ApiError } from "../errors";
import { instanceStub } from "../durable/stub";
import { countingFailures, rateLimitFor } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { messageIdParamSchema, messageSubmitRequestSchema } from "../schemas/messages";
import { checkMessage, storeMessage } from "../services/messages";
import type { Reply } from "../schemas/routes";
import type { MessageUsage } from "../schemas/messageResponses";

/**
 * Mounted at /messages. CORS (publicCors) and the 64 KiB body limit (413) are
 * applied in src/app.ts, around every middleware, so refusals carry CORS too.
 */
export const publicMessageRoutes = new Hono<AppEnv>();

publicMessageRoutes.post("/", async (c) => {
  // One object call: the rate-limit hit, the kid checked against the owner's current
  // key, the quota, the insert and then the live channel's push.
  const beforeCall = <T>(work: () => Promise<T>) => countingFailures(c, "messages", work);
  const body = await beforeCall(() => readJson(c, messageSubmitRequestSchema));
  const nowMs = Date.now();
  const insert = await beforeCall(async () =>
    checkMessage({ jwe: body.jwe, from: body.from ?? null, verified: false, nowMs, quota: c.get("settings").messageQuota }),
  );
  const message = await storeMessage(c.env, {
    build: () => insert,
    rateLimit: rateLimitFor(c, "messages"),
    inboxActivity: null,
    nowMs,
    beforeCall,
  });
  return c.json({ id: message.id } satisfies Reply<"POST /messages", 202>, 202);
});

/** Mounted at /api (Bearer). */
export const messageRoutes = new Hono<AppEnv>();

// The page and the usage come with the session check's call (http/auth.ts, bearerWork).
messageRoutes.get("/messages", (c) => {
  const { usage: stored, ...page } = c.get("bearerWork").messages!;
  const quota = c.get("settings").messageQuota;
  const usage = (kind: "unverified" | "verified"): MessageUsage => ({
    ...stored[kind],
    maxCount: quota.count,
    maxBytes: quota.bytes,
  });
  return c.json({ ...page, usage: { unverified: usage("unverified"), verified: usage("verified") } } satisfies Reply<"GET /api/messages">);
});

// The delete is done by the session check's call (http/auth.ts, bearerWork).
messageRoutes.delete("/messages/:id", (c) => {
  if (!c.get("bearerWork").written) throw new ApiError("not_found", "No message has this id.");
  return c.body(null, 204);
});
