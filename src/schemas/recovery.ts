/** docs/api.md §13: the recovery routes' shapes. */
import * as z from "zod/mini";
import { LIMITS, signingJwkSchema } from "./api";
import "./zodLocale";

/** PUT /api/recovery: the verifier to set (an Ed25519 public JWK, kid its thumbprint), or null to remove it. */
export const recoveryConfigureRequestSchema = z.object({ verifier: z.nullable(signingJwkSchema) });

/** POST /auth/recovery: a §4 assertion signed by the recovery verifier. */
export const recoveryStartRequestSchema = z.object({
  assertion: z.string().check(z.minLength(1), z.maxLength(LIMITS.assertionChars)),
});

export const recoveryStartResponseSchema = z.object({ readyAt: z.number() });

export const recoveryStatusResponseSchema = z.object({
  configured: z.boolean(),
  configuredAt: z.optional(z.number()),
  request: z.optional(z.object({ id: z.string(), createdAt: z.number(), readyAt: z.number() })),
});
