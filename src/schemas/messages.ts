/**
 * What the Worker parses of docs/api.md §9 (private messages) and §10 (the live
 * channel): the requests, the client's frame, the limits. The answers and the
 * server's frames, which it only builds, are in messageResponses.ts (responses.ts
 * says why they live apart); tests and the browser client parse them from there.
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

// --- §10: the client's frame (the server's: messageResponses.ts) ------------------

export const clientFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth"), accessToken: z.string().check(z.minLength(1), z.maxLength(4096)) }),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;
