/** The answers of docs/api.md §13 (recovery), whose requests are in recovery.ts: out of the Worker's bundle (responses.ts says why). */
import * as z from "zod/mini";
import "./zodLocale";

export const recoveryStartResponseSchema = z.object({ readyAt: z.number() });

export const recoveryStatusResponseSchema = z.object({
  configured: z.boolean(),
  configuredAt: z.optional(z.number()),
  request: z.optional(z.object({ id: z.string(), createdAt: z.number(), readyAt: z.number() })),
});
