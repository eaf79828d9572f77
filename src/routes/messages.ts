/**
 * PROTOCOL.md §9: private messages. POST /messages is public (anyone holding the
 * owner's published key may write); reading and deleting are the owner's (Bearer).
 */
import { Hono } from "hono";
import { ApiError } from "../errors";
import { instanceStub } from "../http/instance";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson, readQuery } from "../http/validate";
import { messageIdParamSchema, messageSubmitRequestSchema, messagesQuerySchema } from "../schemas/messages";
import { acceptMessage } from "../services/messages";
import { deleteMessage, pageMessages } from "../storage/messageStore";

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
  // Stored: now tell the live channel. The push runs after the answer, and its
  // failure must not turn an accepted message into an error (the sender would
  // retry and the owner would get it twice); a socket that missed it catches up
  // with GET /api/messages?after=.
  c.executionCtx.waitUntil(
    instanceStub(c.env)
      .publishMessages(message.id)
      .catch((err: unknown) => console.error(JSON.stringify({ event: "message_push_failed", id: message.id, error: String(err) }))),
  );
  return c.json({ id: message.id }, 202);
});

/** Mounted at /api (Bearer). */
export const messageRoutes = new Hono<AppEnv>();

messageRoutes.get("/messages", async (c) => {
  const query = readQuery(c, messagesQuerySchema);
  return c.json(await pageMessages(c.env.DB, query.after, query.limit));
});

messageRoutes.delete("/messages/:id", async (c) => {
  const parsed = messageIdParamSchema.safeParse(c.req.param());
  if (!parsed.success || !(await deleteMessage(c.env.DB, parsed.data.id))) {
    throw new ApiError("not_found", "No message has this id.");
  }
  return c.body(null, 204);
});
