/**
 * PROTOCOL.md §9: private messages. POST /messages is public (anyone holding the
 * owner's published key may write); reading and deleting are the owner's (Bearer).
 */
import { Hono } from "hono";
import { ApiError } from "../errors";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson, readQuery } from "../http/validate";
import { messageIdParamSchema, messageSubmitRequestSchema, messagesQuerySchema } from "../schemas/messages";
import { acceptMessage, pushStoredMessage } from "../services/messages";
import { deleteMessage, pageMessages, pageMessagesBefore } from "../storage/messageStore";

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
  });
  // Stored: now tell the live channel, after the answer (services/messages.ts).
  pushStoredMessage(c.env, (p) => c.executionCtx.waitUntil(p), message.id);
  return c.json({ id: message.id }, 202);
});

/** Mounted at /api (Bearer). */
export const messageRoutes = new Hono<AppEnv>();

messageRoutes.get("/messages", async (c) => {
  const query = readQuery(c, messagesQuerySchema);
  if (query.before !== undefined) return c.json(await pageMessagesBefore(c.env.DB, query.before, query.limit));
  return c.json(await pageMessages(c.env.DB, query.after ?? 0, query.limit));
});

messageRoutes.delete("/messages/:id", async (c) => {
  const parsed = messageIdParamSchema.safeParse(c.req.param());
  if (!parsed.success || !(await deleteMessage(c.env.DB, parsed.data.id))) {
    throw new ApiError("not_found", "No message has this id.");
  }
  return c.body(null, 204);
});
