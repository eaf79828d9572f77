/** docs/api.md §13: the recovery routes' requests (the answers: recoveryResponses.ts). */
import * as z from "zod/mini";
import { LIMITS, signingJwkSchema } from "./api";
import "./zodLocale";

/** PUT /api/recovery: the verifier to set (an Ed25519 public JWK, kid its thumbprint), or null to remove it. */
export const recoveryConfigureRequestSchema = z.object({ verifier: z.nullable(signingJwkSchema) });

/** POST /auth/recovery: a §4 assertion signed by the recovery verifier. */
export const recoveryStartRequestSchema = z.object({
  assertion: z.string().check(z.minLength(1), z.maxLength(LIMITS.assertionChars)),
});
