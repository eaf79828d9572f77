/**
 * The export archive (format "indienet-archive", version 1) and the restore request.
 * docs/export-restore.md describes every field; src/domain/archive.ts computes the
 * digest and checks what a schema cannot (references between sections, orderings).
 */
import * as z from "zod/mini";
import "./zodLocale";
import { findJsonValueProblem, MAX_JSON_DEPTH, type JsonValueProblem } from "./jsonValue";
import { ACTIVITY_TYPES, encryptionJwkSchema, escrowBlobSchema, LIMITS, signingJwkSchema } from "./api";
import { MESSAGE_LIMITS } from "./messages";

export const ARCHIVE_FORMAT = "indienet-archive";
export const ARCHIVE_VERSION = 1;

export const ARCHIVE_LIMITS = {
  /**
   * POST /auth/restore carries a whole archive. 16 MiB keeps the Worker's peak memory
   * (the body, its parsed form and the D1 batch built from it, about 4-5 copies)
   * well under the isolate's 128 MB. docs/export-restore.md ("Limits").
   */
  restoreBodyBytes: 16 * 1024 * 1024,
  /** Zod issues sent back for a broken archive: enough to see what is wrong, not one per message. */
  maxIssues: 20,
  /** An activity entry's detail, as stored JSON. */
  activityDetailChars: 4096,
  sessionIdChars: 128,
} as const;

const DETAIL_PROBLEMS: Record<JsonValueProblem, string> = {
  not_finite: "detail holds a number that is not finite (such as 1e400)",
  too_deep: `detail is nested more than ${MAX_JSON_DEPTH} levels deep`,
  not_json: "detail is not plain JSON",
};

const timeMs = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
const rowId = z.number().check(z.int(), z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER));
const kid = z.string().check(z.minLength(1), z.maxLength(128));

/** Non-secret Worker variables, by their variable names, so they can be set again as they were. */
export const archiveSettingsSchema = z.strictObject({
  OWNER_HANDLE: z.string().check(z.maxLength(64)),
  ACCESS_TOKEN_TTL_S: z.number().check(z.int(), z.minimum(0)),
  REFRESH_REUSE_GRACE_S: z.number().check(z.int(), z.minimum(0)),
  REFRESH_IDLE_TTL_S: z.number().check(z.int(), z.minimum(0)),
  SESSION_MAX_TTL_S: z.number().check(z.int(), z.minimum(0)),
  STEP_UP_MAX_AGE_S: z.number().check(z.int(), z.minimum(0)),
});
export type ArchiveSettings = z.infer<typeof archiveSettingsSchema>;

export const archiveKeySchema = z.strictObject({
  jwk: z.discriminatedUnion("use", [signingJwkSchema, encryptionJwkSchema]),
  status: z.enum(["current", "retired"]),
  createdAt: timeMs,
  retiredAt: z.nullable(timeMs),
});
export type ArchiveKey = z.infer<typeof archiveKeySchema>;

export const archiveEscrowSchema = z.strictObject({
  version: rowId,
  blob: escrowBlobSchema,
  sigKid: kid,
  encKid: kid,
  createdAt: timeMs,
});
export type ArchiveEscrow = z.infer<typeof archiveEscrowSchema>;

/** As GET /api/messages shows a message: ciphertext only. */
export const archiveMessageSchema = z.strictObject({
  id: rowId,
  receivedAt: timeMs,
  from: z.nullable(z.string().check(z.maxLength(MESSAGE_LIMITS.fromChars))),
  jwe: z.string().check(z.minLength(1), z.maxLength(MESSAGE_LIMITS.jweChars)),
  verified: z.boolean(),
});
export type ArchiveMessage = z.infer<typeof archiveMessageSchema>;

/** As GET /api/activity shows an entry. */
export const archiveActivitySchema = z.strictObject({
  id: rowId,
  type: z.enum(ACTIVITY_TYPES),
  at: timeMs,
  sessionId: z.optional(z.string().check(z.minLength(1), z.maxLength(ARCHIVE_LIMITS.sessionIdChars))),
  // Finite, shallow JSON first (src/schemas/jsonValue.ts): 1e400 would reach the
  // digest as Infinity, and a deeply nested value would overflow JSON.stringify.
  detail: z.optional(
    z.record(z.string(), z.unknown()).check(
      z.superRefine((d, ctx) => {
        const problem = findJsonValueProblem(d);
        if (problem) {
          ctx.addIssue({ code: "custom", message: DETAIL_PROBLEMS[problem] });
          return;
        }
        if (JSON.stringify(d).length > ARCHIVE_LIMITS.activityDetailChars) ctx.addIssue({ code: "custom", message: "detail is too large" });
      }),
    ),
  ),
});
export type ArchiveActivity = z.infer<typeof archiveActivitySchema>;

/** The part of the archive that is neither a list nor the digest. */
export const archiveHeaderSchema = z.strictObject({
  format: z.literal(ARCHIVE_FORMAT),
  version: z.literal(ARCHIVE_VERSION),
  exportedAt: timeMs,
  origin: z.url({ protocol: /^https?$/ }).check(z.refine((u) => new URL(u).origin === u, "must be a bare origin")),
  settings: archiveSettingsSchema,
  /** The highest message id the instance ever handed out, deleted messages included. */
  lastMessageId: z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
});
export type ArchiveHeader = z.infer<typeof archiveHeaderSchema>;

export const archiveSchema = z.strictObject({
  ...archiveHeaderSchema.shape,
  publicKeys: z.array(archiveKeySchema).check(z.minLength(2)),
  escrow: z.array(archiveEscrowSchema).check(z.minLength(1)),
  messages: z.array(archiveMessageSchema),
  activity: z.array(archiveActivitySchema),
  /** base64url SHA-256 over the records (src/domain/archive.ts). */
  digest: z.string().check(z.regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url SHA-256")),
});
export type Archive = z.infer<typeof archiveSchema>;

/**
 * POST /auth/restore. The archive is validated on its own (src/services/restore.ts),
 * so that a wrong format or version gets its own message before zod's issues. The
 * setup code is not in the body: it comes in `Authorization: Setup <code>`, checked
 * before the body is read (src/routes/auth.ts).
 */
export const restoreRequestSchema = z.object({
  assertion: z.string().check(z.minLength(1), z.maxLength(LIMITS.assertionChars)),
  deviceName: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(LIMITS.deviceNameChars))),
  archive: z.record(z.string(), z.unknown()),
});
