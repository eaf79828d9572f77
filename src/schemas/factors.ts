/**
 * The §4/§8 request bodies with the `"passkey"` member docs/api.md §12 adds wherever
 * a code is accepted. They are built from the fields in ./api.ts (so a field added
 * there arrives here too) and count every second-factor field in one rule: a request
 * names at most one factor (exactly one where a factor is required).
 */
import * as z from "zod/mini";
import "./zodLocale";
import { backupCodeSchema, escrowFetchFields, loginFields, reauthFields, totpCodeSchema } from "./api";
import { passkeyFactorField } from "./passkeys";

/**
 * Every field that carries a second factor, under any of the names the routes use
 * (`recovery`, §13, stands in for one at /auth/escrow).
 */
export const SECOND_FACTOR_FIELDS = ["totp", "code", "backupCode", "mfaTicket", "recovery", "passkey"] as const;
const factorCount = (body: object) =>
  SECOND_FACTOR_FIELDS.filter((f) => (body as Record<string, unknown>)[f] !== undefined).length;
const atMostOne = { message: "send at most one second factor (totp, backupCode, mfaTicket, recovery or passkey)" };
const exactlyOne = { message: "send exactly one second factor (code, backupCode or passkey)" };

export const loginWithFactorRequestSchema = z
  .object({ ...loginFields, ...passkeyFactorField })
  .check(z.refine((b) => factorCount(b) <= 1, atMostOne));

export const escrowFetchWithFactorRequestSchema = z
  .object({ ...escrowFetchFields, ...passkeyFactorField })
  .check(z.refine((b) => factorCount(b) <= 1, atMostOne));

export const reauthWithFactorRequestSchema = z
  .object({ ...reauthFields, ...passkeyFactorField })
  .check(z.refine((b) => factorCount(b) <= 1, atMostOne));

/** `DELETE /api/2fa/totp`: a code, a backup code or a passkey. */
export const totpDisableWithFactorRequestSchema = z
  .object({ code: z.optional(totpCodeSchema), backupCode: z.optional(backupCodeSchema), ...passkeyFactorField })
  .check(z.refine((b) => factorCount(b) === 1, exactlyOne));

/** `POST /api/2fa/backup-codes`: a code or a passkey. */
export const backupCodesWithFactorRequestSchema = z
  .object({ code: z.optional(totpCodeSchema), ...passkeyFactorField })
  .check(z.refine((b) => factorCount(b) === 1, { message: "send exactly one of code and passkey" }));
