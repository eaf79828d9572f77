/**
 * Shapes of docs/api.md §9 (private messages) and §10 (the live channel's frames).
 * Routes and the Durable Object build their output from these types; tests and the
 * browser client parse what they receive with the same schemas.
 */
import * as z from "zod/mini";
import "./zodLocale";
import { STORED_MESSAGE_LIMITS } from "./messageLimits";

export const MESSAGE_LIMITS = {
  /**
   * A compact JWE (ASCII) and `from`: the limits of every stored message, the same at
   * every door and at restore (src/schemas/messageLimits.ts).
   */
  ...STORED_MESSAGE_LIMITS,
  pageMax: 100,
  pageDefault: 50,
} as const;

/** The live channel's subprotocol (docs/api.md §10). */
export const SOCKET_PROTOCOL = "indie.v1";
/** Prefix of the second subprotocol entry, which carries the access token. */
export const SOCKET_BEARER_PREFIX = "bearer.";
/** Close codes: the token expired without a re-auth / the session was revoked. */
export const SOCKET_CLOSE_TOKEN_EXPIRED = 4401;
export const SOCKET_CLOSE_REVOKED = 4403;

// --- §9 requests ----------------------------------------------------------------

export const messageSubmitRequestSchema = z.object({
  jwe: z.string().check(z.minLength(1), z.maxLength(MESSAGE_LIMITS.jweChars)),
  from: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(MESSAGE_LIMITS.fromChars))),
});

/**
 * `after=<id>`: messages with larger ids, oldest first (catch-up). `before=<id>`:
 * messages with smaller ids, newest first, so a client can show the newest page
 * and fetch older ones on demand instead of everything ever received (pass
 * Number.MAX_SAFE_INTEGER for the newest page). Not both at once.
 */
export const messagesQuerySchema = z
  .object({
    after: z.optional(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER))),
    before: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER))),
    limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MESSAGE_LIMITS.pageMax)), MESSAGE_LIMITS.pageDefault),
  })
  .check(z.refine((q) => q.after === undefined || q.before === undefined, { message: "Use either after or before, not both." }));

export const messageIdParamSchema = z.object({
  id: z.coerce.number().check(z.int(), z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER)),
});

// --- §9 responses ---------------------------------------------------------------

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

// --- §10 frames -----------------------------------------------------------------

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

export const clientFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth"), accessToken: z.string().check(z.minLength(1), z.maxLength(4096)) }),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;
