/**
 * PROTOCOL.md §13: the recovery routes' shapes. Classic zod for now: readJson and
 * the route table take classic schemas until the zod/mini conversion lands.
 */
import * as z from "zod";
import { LIMITS, signingJwkSchema } from "./api";

/** PUT /api/recovery: the verifier to set (an Ed25519 public JWK, kid its thumbprint), or null to remove it. */
export const recoveryConfigureRequestSchema = z.object({ verifier: signingJwkSchema.nullable() });

/** POST /auth/recovery: a §4 assertion signed by the recovery verifier. */
export const recoveryStartRequestSchema = z.object({ assertion: z.string().min(1).max(LIMITS.assertionChars) });

export const recoveryStartResponseSchema = z.object({ readyAt: z.number() });

export const recoveryStatusResponseSchema = z.object({
  configured: z.boolean(),
  configuredAt: z.number().optional(),
  request: z.object({ id: z.string(), createdAt: z.number(), readyAt: z.number() }).optional(),
});
