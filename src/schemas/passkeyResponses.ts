/**
 * The answers of docs/api.md §12 (passkeys), whose requests are in passkeys.ts. The
 * Worker builds them and imports their types only, so they stay out of its bundle
 * (responses.ts says why); the route table and the tests parse them (the browser
 * client has leaner copies in client/passkeySchemas.ts).
 */
import * as z from "zod/mini";
import "./zodLocale";
import { base64urlString } from "./api";
import { backupCodesResponseSchema } from "./apiResponses";
import { MAX_PASSKEYS, PASSKEY_ALGORITHMS } from "./passkeys";

export const creationOptionsSchema = z.object({
  rp: z.object({ id: z.string(), name: z.string() }),
  user: z.object({ id: base64urlString, name: z.string(), displayName: z.string() }),
  challenge: base64urlString,
  pubKeyCredParams: z.array(
    z.object({ type: z.literal("public-key"), alg: z.union(PASSKEY_ALGORITHMS.map((a) => z.literal(a))) }),
  ),
  timeout: z.number().check(z.int()),
  excludeCredentials: z.array(z.object({ type: z.literal("public-key"), id: base64urlString })),
  authenticatorSelection: z.object({
    residentKey: z.literal("required"),
    requireResidentKey: z.literal(true),
    userVerification: z.literal("required"),
  }),
  attestation: z.literal("none"),
  extensions: z.object({ prf: z.object({}) }),
});
/** `POST /api/passkeys/options`. */
export const passkeyCreationOptionsResponseSchema = z.object({ options: creationOptionsSchema });

export const requestOptionsSchema = z.object({
  challenge: base64urlString,
  rpId: z.string(),
  timeout: z.number().check(z.int()),
  userVerification: z.literal("required"),
  allowCredentials: z.array(z.never()).check(z.length(0)),
});
/** `POST /auth/passkey/options`. */
export const passkeyRequestOptionsResponseSchema = z.object({ options: requestOptionsSchema });

/** One passkey as `GET /api/passkeys` lists it; `lastUsedAt` is null until first used. */
export const passkeySchema = z.object({
  id: base64urlString,
  name: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.nullable(z.number()),
  backedUp: z.boolean(),
  prf: z.boolean(),
});
export type PasskeyListing = z.infer<typeof passkeySchema>;

export const passkeysResponseSchema = z.object({ passkeys: z.array(passkeySchema).check(z.maxLength(MAX_PASSKEYS)) });

/** `POST /api/passkeys` → 201; backupCodes when this passkey turned two-factor on. */
export const passkeyRegisterResponseSchema = z.object({
  passkey: passkeySchema,
  backupCodes: z.optional(backupCodesResponseSchema.shape.backupCodes),
});

/** `PATCH /api/passkeys/:id` → the passkey. */
export const passkeyUpdateResponseSchema = passkeySchema;

/** `GET /api/2fa` once passkeys exist (§12). */
export const twoFactorStatusWithPasskeysResponseSchema = z.object({
  enabled: z.boolean(),
  totp: z.boolean(),
  passkeys: z.number().check(z.int(), z.minimum(0), z.maximum(MAX_PASSKEYS)),
  backupCodesRemaining: z.number().check(z.int(), z.minimum(0)),
});

/** `POST /auth/challenge` also says whether a passkey can be used (§12). */
export const challengeWithPasskeyResponseSchema = z.object({
  challenge: z.string(),
  expiresAt: z.number(),
  mfa: z.boolean(),
  claimed: z.boolean(),
  passkey: z.boolean(),
});
