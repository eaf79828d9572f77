/**
 * The answers of docs/api.md §3-§8 (sessions, escrow, two-factor authentication,
 * activity), whose requests are in api.ts. The Worker builds them and imports their
 * types only, so they stay out of its bundle (responses.ts says why); the browser
 * client parses them.
 */
import * as z from "zod/mini";
import "./zodLocale";
import { ACTIVITY_TYPES, publicKeysSchema } from "./api";

export const challengeResponseSchema = z.object({
  challenge: z.string(),
  expiresAt: z.number(),
  mfa: z.boolean(),
  claimed: z.boolean(),
});

export const loginResponseSchema = z.object({
  accessToken: z.string(),
  tokenType: z.literal("Bearer"),
  expiresIn: z.number(),
  sessionId: z.string(),
});

export const refreshResponseSchema = z.object({
  accessToken: z.string(),
  expiresIn: z.number(),
  sessionId: z.string(),
});

export const escrowResponseSchema = z.object({
  version: z.number().check(z.int()),
  blob: z.string(),
  publicKeys: publicKeysSchema,
  mfaTicket: z.optional(z.string()),
});

export const twoFactorStatusResponseSchema = z.object({
  enabled: z.boolean(),
  backupCodesRemaining: z.number().check(z.int(), z.minimum(0)),
});

export type TwoFactorStatus = z.infer<typeof twoFactorStatusResponseSchema>;

export const totpEnrolmentResponseSchema = z.object({
  secret: z.string().check(z.regex(/^[A-Z2-7]+$/, "base32")),
  uri: z.string().check(z.startsWith("otpauth://totp/")),
  qrSvg: z.string().check(z.startsWith("<svg")),
});

export const backupCodesResponseSchema = z.object({ backupCodes: z.array(z.string().check(z.length(10))).check(z.length(10)) });

/**
 * `POST /api/2fa/totp/confirm`: the backup codes only when the confirmation turned
 * two-factor authentication on; `{}` when it was already on (a passkey, or the
 * secret this one replaced), whose backup codes stay valid (docs/api.md §8, §12).
 */
export const totpConfirmResponseSchema = z.object({ backupCodes: z.optional(backupCodesResponseSchema.shape.backupCodes) });

const sessionSchema = z.object({
  id: z.string(),
  deviceName: z.nullable(z.string()),
  createdAt: z.number(),
  lastUsedAt: z.number(),
  current: z.boolean(),
});
export type SessionSummary = z.infer<typeof sessionSchema>;
export const sessionsResponseSchema = z.object({ sessions: z.array(sessionSchema) });

const activityEntrySchema = z.object({
  id: z.number().check(z.int()),
  type: z.enum(ACTIVITY_TYPES),
  at: z.number(),
  sessionId: z.optional(z.string()),
  detail: z.optional(z.record(z.string(), z.unknown())),
});
export type ActivityEntry = z.infer<typeof activityEntrySchema>;
export const activityResponseSchema = z.object({ entries: z.array(activityEntrySchema) });
