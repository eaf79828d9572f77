/**
 * The recovery status and the pending request (docs/api.md §13), apart from the key
 * code: the web app checks for a pending recovery on every start and cancels it from
 * a banner, without loading the recovery key and shares code.
 */
import * as z from "zod/mini";
import type { OwnerClient } from "../owner";

/** GET /api/recovery. */
export const recoveryStatusSchema = z.object({
  configured: z.boolean(),
  configuredAt: z.optional(z.number()),
  request: z.optional(z.object({ id: z.union([z.string(), z.number()]), createdAt: z.number(), readyAt: z.number() })),
});
export type RecoveryStatus = z.infer<typeof recoveryStatusSchema>;

/** POST /auth/recovery → 202. */
export const recoveryStartedSchema = z.object({ readyAt: z.number() });

export function recoveryStatus(client: OwnerClient): Promise<RecoveryStatus> {
  return client.api("/api/recovery", recoveryStatusSchema);
}

/** DELETE /api/recovery/request: any session of the owner stops a pending recovery. */
export function cancelRecoveryRequest(client: OwnerClient): Promise<void> {
  return client.apiNoContent("/api/recovery/request", { method: "DELETE" });
}
