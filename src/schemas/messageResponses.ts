/**
 * The answers of docs/api.md §9 (messages) and the server's frames of §10 (the live
 * channel), whose requests and client frame are in messages.ts. The Worker builds
 * them and imports their types only, so they stay out of its bundle (responses.ts
 * says why); the browser client parses them.
 */
import * as z from "zod/mini";
import "./zodLocale";

export const messageSchema = z.object({
  id: z.number().check(z.int()),
  receivedAt: z.number(),
  from: z.nullable(z.string()),
  jwe: z.string(),
  verified: z.boolean(),
});
export type Message = z.infer<typeof messageSchema>;

export const messageAcceptedResponseSchema = z.object({ id: z.number().check(z.int()) });

/** How full one kind of stored messages is, against its quota (MESSAGE_QUOTA, MESSAGE_QUOTA_BYTES). */
export const messageUsageSchema = z.object({
  count: z.number().check(z.int()),
  maxCount: z.number().check(z.int()),
  bytes: z.number().check(z.int()),
  maxBytes: z.number().check(z.int()),
});
export type MessageUsage = z.infer<typeof messageUsageSchema>;

export const messagesResponseSchema = z.object({
  messages: z.array(messageSchema),
  /**
   * The id to pass as `after` (or, for a `before` page, as `before`) for the next
   * page, or null when this page is the last.
   */
  next: z.nullable(z.number().check(z.int())),
  /**
   * The mailbox's fill level, for the owner (docs/messages.md, "Quota"): unverified
   * messages (POST /messages) and verified ones (POST /inbox) have separate quotas.
   * When one is full, new messages of that kind get 429 until the owner deletes some.
   * Optional so that clients keep parsing answers of servers that predate it.
   */
  usage: z.optional(z.object({ unverified: messageUsageSchema, verified: messageUsageSchema })),
});

export const serverFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), sessionId: z.string(), expiresAt: z.number() }),
  z.object({ type: z.literal("message"), message: messageSchema }),
  z.object({ type: z.literal("token_expiring"), expiresAt: z.number() }),
  z.object({ type: z.literal("token_expired") }),
  z.object({ type: z.literal("revoked") }),
  z.object({ type: z.literal("authed"), expiresAt: z.number() }),
  /** docs/api.md §13: someone holding the recovery key started a recovery; cancel it if it is not you. */
  z.object({ type: z.literal("recovery_requested"), readyAt: z.number() }),
  /** Not in docs/api.md §10's list: the answer to a frame the server cannot use. */
  z.object({ type: z.literal("error"), error: z.string(), message: z.string() }),
]);
export type ServerFrame = z.infer<typeof serverFrameSchema>;
