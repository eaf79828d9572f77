/**
 * The §4/§8 request bodies with the `"passkey"` member PROTOCOL.md §12 adds wherever
 * a code is accepted. They are built from the bodies in ./api.ts (their fields, so a
 * field added there arrives here too) and count every second-factor field in one
 * rule: a request names at most one factor (exactly one where a factor is required).
 */
import * as z from "zod";
import {
  backupCodeSchema,
  backupCodesRegenerateRequestSchema,
  escrowFetchRequestSchema,
  loginRequestSchema,
  reauthRequestSchema,
  totpCodeSchema,
} from "./api";
import { passkeyFactorField } from "./passkeys";

/** Every field that carries a second factor, under any of the names the routes use. */
export const SECOND_FACTOR_FIELDS = ["totp", "code", "backupCode", "mfaTicket", "passkey"] as const;
const factorCount = (body: object) =>
  SECOND_FACTOR_FIELDS.filter((f) => (body as Record<string, unknown>)[f] !== undefined).length;
const atMostOne = { message: "send at most one second factor (totp, backupCode, mfaTicket or passkey)" };
const exactlyOne = { message: "send exactly one second factor (code, backupCode or passkey)" };

export const loginWithFactorRequestSchema = z
  .object({ ...loginRequestSchema.shape, ...passkeyFactorField })
  .refine((b) => factorCount(b) <= 1, atMostOne);

export const escrowFetchWithFactorRequestSchema = z
  .object({ ...escrowFetchRequestSchema.shape, ...passkeyFactorField })
  .refine((b) => factorCount(b) <= 1, atMostOne);

export const reauthWithFactorRequestSchema = z
  .object({ ...reauthRequestSchema.shape, ...passkeyFactorField })
  .refine((b) => factorCount(b) <= 1, atMostOne);

/** `DELETE /api/2fa/totp`: a code, a backup code or a passkey. */
export const totpDisableWithFactorRequestSchema = z
  .object({ code: totpCodeSchema.optional(), backupCode: backupCodeSchema.optional(), ...passkeyFactorField })
  .refine((b) => factorCount(b) === 1, exactlyOne);

/** `POST /api/2fa/backup-codes`: a code or a passkey. */
export const backupCodesWithFactorRequestSchema = z
  .object({ code: backupCodesRegenerateRequestSchema.shape.code.optional(), ...passkeyFactorField })
  .refine((b) => factorCount(b) === 1, { message: "send exactly one of code and passkey" });
