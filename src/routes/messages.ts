/**
 * PROTOCOL.md §9: private messages. POST /messages is public (anyone holding the
 * owner's published key may write); reading and deleting are the owner's (Bearer).
 */
import { Hono } from "hono";
import { ApiError } from "../errors";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson, readQuery } from "../http/validate";
import { messageIdParamSchema, messageSubmitRequestSchema, messagesQuerySchema, type MessageUsage } from "../schemas/messages";
import { acceptMessage, pushStoredMessage } from "../services/messages";
import { deleteMessage, pageMessages, pageMessagesBefore, readMessageUsage } from "../storage/messageStore";
import type { Reply } from "../schemas/routes";

/**
 * Mounted at /messages. CORS (publicCors) and the 64 KiB body limit (413) are
 * applied in src/app.ts, around every middleware, so refusals carry CORS too.
 */
export const publicMessageRoutes = new Hono<AppEnv>();

publicMessageRoutes.post("/", async (c) => {
  await enforceRateLimit(c, "messages");
  const body = await readJson(c, messageSubmitRequestSchema);
  const message = await acceptMessage(c.env.DB, {
    jwe: body.jwe,
    from: body.from ?? null,
    verified: false,
    nowMs: Date.now(),
    quota: c.get("settings").messageQuota,
  });
  // Stored: now tell the live channel, after the answer (services/messages.ts).
  pushStoredMessage(c.env, (p) => c.executionCtx.waitUntil(p), message.id);
  return c.json({ id: message.id } satisfies Reply<"POST /messages", 202>, 202);
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
