/**
 * Request and response shapes of PROTOCOL.md, and nothing else: routes validate
 * with these, the tests and the browser client parse responses with them.
 */
import * as z from "zod";

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

export const LIMITS = {
  /** Default JSON body limit (PROTOCOL.md §0). */
  bodyBytes: 64 * 1024,
  /**
   * Routes that carry an escrow blob of up to 64 KiB plus keys and an assertion.
   * The blob is counted in UTF-8 bytes of the string, but it travels JSON-escaped:
   * a control character is 1 UTF-8 byte and 6 as `\u0001`, the worst case
   * (JSON.stringify writes `"` and `\` as 2 bytes; a client that escapes all
   * non-ASCII as `\uXXXX` at most triples it). So 6 x 64 KiB, plus 16 KiB for the
   * other fields: any blob the server would store fits in the body (400 KiB).
   */
  escrowBodyBytes: 6 * 64 * 1024 + 16 * 1024,
  escrowBlobBytes: 64 * 1024,
  assertionChars: 4096,
  deviceNameChars: 100,
  setupCodeChars: 256,
  activityPageMax: 100,
} as const;

export const base64urlString = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url without padding");

/** Ed25519 public key. strictObject: a JWK carrying "d" (a private key) is refused. */
export const signingJwkSchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: base64urlString.length(43),
  kid: z.string().min(1).max(128),
  use: z.literal("sig"),
  alg: z.enum(["Ed25519", "EdDSA"]).optional(),
  key_ops: z.array(z.literal("verify")).optional(),
});

/** X25519 public key for ECDH-ES(+A256KW) / A256GCM. */
export const encryptionJwkSchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("X25519"),
  x: base64urlString.length(43),
  kid: z.string().min(1).max(128),
  use: z.literal("enc"),
  alg: z.enum(["ECDH-ES+A256KW", "ECDH-ES"]).optional(),
  key_ops: z.array(z.never()).optional(),
});

export const publicKeysSchema = z.strictObject({ sig: signingJwkSchema, enc: encryptionJwkSchema });
export type PublicKeys = z.infer<typeof publicKeysSchema>;
export type PublicJwk = z.infer<typeof signingJwkSchema> | z.infer<typeof encryptionJwkSchema>;

/** A UTF-16 surrogate not in a pair: its string has no UTF-8 form (it would come back as U+FFFD). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * §1: the server stores the blob and returns it byte for byte, so it takes only
 * strings that survive storage unchanged: well-formed Unicode, no lone surrogates.
 */
export const escrowBlobSchema = z
  .string()
  .min(1)
  .refine((s) => !LONE_SURROGATE.test(s), "escrow blob is not well-formed Unicode (a lone surrogate)")
  .refine((s) => utf8Bytes(s) <= LIMITS.escrowBlobBytes, "escrow blob is larger than 64 KiB");

const assertion = z.string().min(1).max(LIMITS.assertionChars);
const deviceName = z.string().trim().min(1).max(LIMITS.deviceNameChars);
export const totpCodeSchema = z.string().regex(/^\d{6}$/, "must be 6 digits");
/** Case, spaces and dashes are ignored when a backup code is checked. */
export const backupCodeSchema = z.string().min(1).max(64);
export const mfaTicketSchema = base64urlString.min(1).max(128);

/** PROTOCOL.md §4: a request names one second factor, never several. */
const FACTOR_FIELDS = ["totp", "backupCode", "mfaTicket"] as const;
const atMostOneFactor = (body: Partial<Record<(typeof FACTOR_FIELDS)[number], unknown>>) =>
  FACTOR_FIELDS.filter((f) => body[f] !== undefined).length <= 1;
const oneFactorOnly = { message: "send at most one second factor (totp, backupCode or mfaTicket)" };

// --- requests -----------------------------------------------------------------

export const setupRequestSchema = z.object({
  setupCode: z.string().min(1).max(LIMITS.setupCodeChars),
  publicKeys: publicKeysSchema,
  escrow: escrowBlobSchema,
  assertion,
  deviceName: deviceName.optional(),
});

export const loginRequestSchema = z
  .object({
    assertion,
    totp: totpCodeSchema.optional(),
    backupCode: backupCodeSchema.optional(),
    mfaTicket: mfaTicketSchema.optional(),
    deviceName: deviceName.optional(),
  })
  .refine(atMostOneFactor, oneFactorOnly);

export const escrowFetchRequestSchema = z
  .object({
    totp: totpCodeSchema.optional(),
    backupCode: backupCodeSchema.optional(),
  })
  .refine(atMostOneFactor, oneFactorOnly);

export const reauthRequestSchema = z
  .object({
    assertion,
    totp: totpCodeSchema.optional(),
    backupCode: backupCodeSchema.optional(),
  })
  .refine(atMostOneFactor, oneFactorOnly);

/** PROTOCOL.md §8. */
export const totpConfirmRequestSchema = z.object({ code: totpCodeSchema });

export const totpDisableRequestSchema = z
  .object({ code: totpCodeSchema.optional(), backupCode: backupCodeSchema.optional() })
  .refine((b) => (b.code === undefined) !== (b.backupCode === undefined), {
    message: "send exactly one of code and backupCode",
  });

export const backupCodesRegenerateRequestSchema = z.object({ code: totpCodeSchema });

export const escrowUpdateRequestSchema = z.object({
  expectedVersion: z.number().int().min(1),
  blob: escrowBlobSchema,
  publicKeys: publicKeysSchema.optional(),
  assertion: assertion.optional(),
});

export const activityQuerySchema = z.object({
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.activityPageMax).default(50),
});

// --- responses ----------------------------------------------------------------

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
  version: z.number().int(),
  blob: z.string(),
  publicKeys: publicKeysSchema,
  mfaTicket: z.string().optional(),
});

export const twoFactorStatusResponseSchema = z.object({
  enabled: z.boolean(),
  backupCodesRemaining: z.number().int().min(0),
});

export type TwoFactorStatus = z.infer<typeof twoFactorStatusResponseSchema>;

export const totpEnrolmentResponseSchema = z.object({
  secret: z.string().regex(/^[A-Z2-7]+$/, "base32"),
  uri: z.string().startsWith("otpauth://totp/"),
  qrSvg: z.string().startsWith("<svg"),
});

export const backupCodesResponseSchema = z.object({ backupCodes: z.array(z.string().length(10)).length(10) });

export const sessionSchema = z.object({
  id: z.string(),
  deviceName: z.string().nullable(),
  createdAt: z.number(),
  lastUsedAt: z.number(),
  current: z.boolean(),
});
export type SessionSummary = z.infer<typeof sessionSchema>;
export const sessionsResponseSchema = z.object({ sessions: z.array(sessionSchema) });

export const ACTIVITY_TYPES = [
  "claimed",
  "login",
  "login_failed",
  "refresh_token_reuse",
  "session_revoked",
  "totp_enabled",
  "totp_disabled",
  "backup_codes_regenerated",
  "backup_code_used",
  "escrow_updated",
  "keys_rotated",
  "locked_out",
  "logout",
  // PROTOCOL.md §12
  "passkey_added",
  "passkey_removed",
  "passkey_clone_suspected",
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export const activityEntrySchema = z.object({
  id: z.number().int(),
  type: z.enum(ACTIVITY_TYPES),
  at: z.number(),
  sessionId: z.string().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ActivityEntry = z.infer<typeof activityEntrySchema>;
export const activityResponseSchema = z.object({ entries: z.array(activityEntrySchema) });
