/** docs/api.md §11's owner routes, the federation outbox: the requests (the answers: responses.ts). */
import * as z from "zod/mini";
import "./zodLocale";
import { MESSAGE_LIMITS } from "./messages";

export const outboxRequestSchema = z.object({
  /** An actor URL or acct:user@host. */
  to: z.string().check(z.trim(), z.minLength(1), z.maxLength(2048)),
  /** Sealed by the owner's client to the recipient's key: opaque to the server beyond its shape. */
  jwe: z.string().check(z.minLength(1), z.maxLength(MESSAGE_LIMITS.jweChars)),
});

export const outboxIdParamSchema = z.object({ id: z.string().check(z.regex(/^[A-Za-z0-9_-]{22}$/)) });
