/**
 * docs/api.md §9: private messages. POST /messages is public (anyone holding the
 * owner's published key may write); reading and deleting are the owner's (Bearer).
 */
import { Hono } from "hono/tiny";
import { ApiError } from "../errors";
import { instanceStub } from "../durable/stub";
import { countingFailures, rateLimitFor } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson, readQuery } from "../http/validate";
import { messageIdParamSchema, messageSubmitRequestSchema, messagesQuerySchema } from "../schemas/messages";
import { rateLimitRefused } from "../instanceErrors";
import { checkMessage, messageRefusal } from "../services/messages";
import { deleteMessage, pageMessages, pageMessagesBefore, readMessageUsage } from "../storage/messageStore";
import type { Reply } from "../schemas/routes";
import type { MessageUsage } from "../schemas/messageResponses";

/**
 * Mounted at /messages. CORS (publicCors) and the 64 KiB body limit (413) are
 * applied in src/app.ts, around every middleware, so refusals carry CORS too.
 */
export const publicMessageRoutes = new Hono<AppEnv>();

publicMessageRoutes.post("/", async (c) => {
  // One object call: the rate-limit hit, the D1 insert and the live channel's push.
  const insert = await countingFailures(c, "messages", async () => {
    const body = await readJson(c, messageSubmitRequestSchema);
    return checkMessage({ jwe: body.jwe, from: body.from ?? null, verified: false, nowMs: Date.now(), quota: c.get("settings").messageQuota });
  });
  const result = await instanceStub(c.env).acceptPublicMessage(rateLimitFor(c, "messages"), insert);
  if (result.ok) return c.json({ id: result.message.id } satisfies Reply<"POST /messages", 202>, 202);
  if (result.error === "rate_limited") throw rateLimitRefused(result);
  throw await messageRefusal(c.env.DB, insert);
});

/** Mounted at /api (Bearer). */
export const messageRoutes = new Hono<AppEnv>();

messageRoutes.get("/messages", async (c) => {
  const query = readQuery(c, messagesQuerySchema);
  const [page, stored] = await Promise.all([
    query.before !== undefined
      ? pageMessagesBefore(c.env.DB, query.before, query.limit)
      : pageMessages(c.env.DB, query.after ?? 0, query.limit),
    readMessageUsage(c.env.DB),
  ]);
  const quota = c.get("settings").messageQuota;
  const usage = (kind: "unverified" | "verified"): MessageUsage => ({
    ...stored[kind],
    maxCount: quota.count,
    maxBytes: quota.bytes,
  });
  return c.json({ ...page, usage: { unverified: usage("unverified"), verified: usage("verified") } } satisfies Reply<"GET /api/messages">);
});

messageRoutes.delete("/messages/:id", async (c) => {
  const parsed = messageIdParamSchema.safeParse(c.req.param());
  if (!parsed.success || !(await deleteMessage(c.env.DB, parsed.data.id))) {
    throw new ApiError("not_found", "No message has this id.");
  }
  return c.body(null, 204);
});
