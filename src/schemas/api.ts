/**
 * Request shapes of docs/api.md §3-§8 and the limits, and nothing else: routes
 * validate with these. The answers, which the Worker only builds, are in
 * apiResponses.ts (responses.ts says why they live apart); the tests and the
 * browser client parse them from there.
 */
import * as z from "zod/mini";
import "./zodLocale";

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

export const LIMITS = {
  /** Default JSON body limit (docs/api.md §0). */
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

export const base64urlString = z.string().check(z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url without padding"));

/** Ed25519 public key. strictObject: a JWK carrying "d" (a private key) is refused. */
export const signingJwkSchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: base64urlString.check(z.length(43)),
  kid: z.string().check(z.minLength(1), z.maxLength(128)),
  use: z.literal("sig"),
  alg: z.optional(z.enum(["Ed25519", "EdDSA"])),
  key_ops: z.optional(z.array(z.literal("verify"))),
});

/** X25519 public key for ECDH-ES(+A256KW) / A256GCM. */
export const encryptionJwkSchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("X25519"),
  x: base64urlString.check(z.length(43)),
  kid: z.string().check(z.minLength(1), z.maxLength(128)),
  use: z.literal("enc"),
  alg: z.optional(z.enum(["ECDH-ES+A256KW", "ECDH-ES"])),
  key_ops: z.optional(z.array(z.never())),
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
  .check(
    z.minLength(1),
    z.refine((s) => !LONE_SURROGATE.test(s), "escrow blob is not well-formed Unicode (a lone surrogate)"),
    z.refine((s) => utf8Bytes(s) <= LIMITS.escrowBlobBytes, "escrow blob is larger than 64 KiB"),
  );

const assertion = z.string().check(z.minLength(1), z.maxLength(LIMITS.assertionChars));
const deviceName = z.string().check(z.trim(), z.minLength(1), z.maxLength(LIMITS.deviceNameChars));
export const totpCodeSchema = z.string().check(z.regex(/^\d{6}$/, "must be 6 digits"));
/** Case, spaces and dashes are ignored when a backup code is checked. */
export const backupCodeSchema = z.string().check(z.minLength(1), z.maxLength(64));
export const mfaTicketSchema = base64urlString.check(z.minLength(1), z.maxLength(128));

// --- requests -----------------------------------------------------------------

export const setupRequestSchema = z.object({
  setupCode: z.string().check(z.minLength(1), z.maxLength(LIMITS.setupCodeChars)),
  publicKeys: publicKeysSchema,
  escrow: escrowBlobSchema,
  assertion,
  deviceName: z.optional(deviceName),
});

// The fields of the bodies that take a second factor (§4, §8, §13). factors.ts
// builds their schemas, with §12's `passkey` and the one rule that a request names at
// most one factor.

/** POST /auth/login. */
export const loginFields = {
  assertion,
  totp: z.optional(totpCodeSchema),
  backupCode: z.optional(backupCodeSchema),
  mfaTicket: z.optional(mfaTicketSchema),
  deviceName: z.optional(deviceName),
};

/** POST /auth/escrow. */
export const escrowFetchFields = {
  totp: z.optional(totpCodeSchema),
  backupCode: z.optional(backupCodeSchema),
  /** docs/api.md §13: an assertion by the recovery verifier, once a recovery request is ready. */
  recovery: z.optional(assertion),
};

/** POST /auth/reauth. */
export const reauthFields = {
  assertion,
  totp: z.optional(totpCodeSchema),
  backupCode: z.optional(backupCodeSchema),
};

/** docs/api.md §8. */
export const totpConfirmRequestSchema = z.object({ code: totpCodeSchema });


/** PUT /api/escrow `reason` (docs/api.md §13): why the blob changed. */
export const ESCROW_UPDATE_REASONS = [
  "password_changed",
  "recovery_configured",
  "recovered",
  "passkey_unlock_added",
  "keys_rotated",
] as const;

export const escrowUpdateRequestSchema = z.object({
  expectedVersion: z.number().check(z.int(), z.minimum(1)),
  blob: escrowBlobSchema,
  publicKeys: z.optional(publicKeysSchema),
  assertion: z.optional(assertion),
  /** docs/api.md §13: why the blob changed, recorded in the escrow_updated entry. */
  reason: z.optional(z.enum(ESCROW_UPDATE_REASONS)),
});

export const activityQuerySchema = z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.minimum(1))),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(LIMITS.activityPageMax)), 50),
});

// --- activity types (the entries: apiResponses.ts) ------------------------------

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
  // docs/api.md §12
  "passkey_added",
  "passkey_removed",
  "passkey_clone_suspected",
  // docs/api.md §13
  "recovery_configured",
  "recovery_removed",
  "recovery_requested",
  "recovery_cancelled",
  "recovered",
  // docs/api.md §14
  "app_authorized",
  "app_revoked",
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];
