/**
 * Request shapes of docs/api.md §12 (passkeys); the answers are in
 * passkeyResponses.ts (responses.ts says why they live apart). The WebAuthn response
 * JSON is bounded field by field, so an oversized response is a 400 with zod issues
 * before any parsing; what the fields mean is checked by src/domain/passkeys.ts.
 */
import * as z from "zod/mini";
import "./zodLocale";
/** §12: EdDSA (-8), ES256 (-7), RS256 (-257), in the order offered to the authenticator (COSE ids). */
export const PASSKEY_ALGORITHMS = [-8, -7, -257] as const;
export type PasskeyAlgorithm = (typeof PASSKEY_ALGORITHMS)[number];
/** WebAuthn L3 §7.1 step 25: credential ids longer than this are refused. */
export const MAX_CREDENTIAL_ID_BYTES = 1023;
/** §12: an 11th passkey is refused. */
export const MAX_PASSKEYS = 10;
import { backupCodeSchema, base64urlString, totpCodeSchema } from "./api";

/** Characters of unpadded base64url for `bytes` bytes. */
const b64Chars = (bytes: number) => Math.ceil((bytes * 4) / 3);

export const PASSKEY_LIMITS = {
  credentialIdBytes: MAX_CREDENTIAL_ID_BYTES,
  /** Browsers write ~130-250 bytes; room for long origins and future members. */
  clientDataJSONBytes: 4096,
  /** An RSA-4096 key with a packed statement and a certificate chain fits. */
  attestationObjectBytes: 16 * 1024,
  /** 37 bytes plus extension outputs. */
  authenticatorDataBytes: 4096,
  /** RSA-4096: 512 bytes; DER ECDSA P-256 at most 72. */
  signatureBytes: 1024,
  /** WebAuthn: a user handle is at most 64 bytes. */
  userHandleBytes: 64,
  nameChars: 100,
  transports: 16,
  transportChars: 32,
  maxPasskeys: MAX_PASSKEYS,
} as const;

const b64Bytes = (min: number, max: number) => base64urlString.check(z.minLength(b64Chars(min)), z.maxLength(b64Chars(max)));
const credentialId = b64Bytes(1, PASSKEY_LIMITS.credentialIdBytes);

/**
 * §12: extension results never reach the server. The client removes `prf` results
 * before sending; whatever else is there is accepted as an object and dropped here
 * (z.object strips unknown keys), so no route can read, store or log it.
 */
const clientExtensionResults = z.optional(z.object({}));

/** WebAuthn L3 §5.1 RegistrationResponseJSON, as PublicKeyCredential.toJSON() writes it. */
export const registrationResponseSchema = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal("public-key"),
    response: z.object({
      clientDataJSON: b64Bytes(1, PASSKEY_LIMITS.clientDataJSONBytes),
      attestationObject: b64Bytes(1, PASSKEY_LIMITS.attestationObjectBytes),
      // Informational members of the L3 JSON: accepted, never trusted (the server
      // reads only clientDataJSON and attestationObject).
      authenticatorData: z.optional(b64Bytes(1, PASSKEY_LIMITS.attestationObjectBytes)),
      publicKey: z.optional(b64Bytes(1, PASSKEY_LIMITS.attestationObjectBytes)),
      publicKeyAlgorithm: z.optional(z.number().check(z.int())),
      transports: z.optional(
        z.array(z.string().check(z.maxLength(PASSKEY_LIMITS.transportChars))).check(z.maxLength(PASSKEY_LIMITS.transports)),
      ),
    }),
    authenticatorAttachment: z.optional(z.nullable(z.string().check(z.maxLength(32)))),
    clientExtensionResults,
  })
  .check(z.refine((c) => c.id === c.rawId, { message: "id and rawId differ", path: ["rawId"] }));
export type RegistrationResponse = z.infer<typeof registrationResponseSchema>;

/** WebAuthn L3 §5.1 AuthenticationResponseJSON. */
export const authenticationResponseSchema = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal("public-key"),
    response: z.object({
      clientDataJSON: b64Bytes(1, PASSKEY_LIMITS.clientDataJSONBytes),
      authenticatorData: b64Bytes(37, PASSKEY_LIMITS.authenticatorDataBytes),
      signature: b64Bytes(1, PASSKEY_LIMITS.signatureBytes),
      userHandle: z.optional(z.nullable(b64Bytes(1, PASSKEY_LIMITS.userHandleBytes))),
    }),
    authenticatorAttachment: z.optional(z.nullable(z.string().check(z.maxLength(32)))),
    clientExtensionResults,
  })
  .check(z.refine((c) => c.id === c.rawId, { message: "id and rawId differ", path: ["rawId"] }));
export type AuthenticationResponse = z.infer<typeof authenticationResponseSchema>;

const passkeyName = z.string().check(z.trim(), z.minLength(1), z.maxLength(PASSKEY_LIMITS.nameChars));

// --- requests -----------------------------------------------------------------

/** `POST /api/passkeys`. */
export const passkeyRegisterRequestSchema = z.object({
  credential: registrationResponseSchema,
  name: z.optional(passkeyName),
  prf: z.optional(z.boolean()),
});

/** `PATCH /api/passkeys/:id`. */
export const passkeyUpdateRequestSchema = z
  .object({ name: z.optional(passkeyName), prf: z.optional(z.boolean()) })
  .check(z.refine((b) => b.name !== undefined || b.prf !== undefined, { message: "send name or prf" }));

/** The `:id` of `/api/passkeys/:id`: a credential id, base64url. */
export const passkeyIdParamSchema = credentialId;

/**
 * `DELETE /api/passkeys/:id`: a body with a factor is needed only when this is the
 * last one (no TOTP, no other passkey), as for `DELETE /api/2fa/totp`; then exactly
 * one of code, backupCode and passkey.
 */
export const passkeyDeleteRequestSchema = z
  .object({
    code: z.optional(totpCodeSchema),
    backupCode: z.optional(backupCodeSchema),
    passkey: z.optional(authenticationResponseSchema),
  })
  .check(
    z.refine((b) => [b.code, b.backupCode, b.passkey].filter((f) => f !== undefined).length <= 1, {
      message: "send at most one of code, backupCode and passkey",
    }),
  );

/**
 * The `"passkey"` member that §12 adds wherever §4 and §8 take a code (`/auth/login`,
 * `/auth/escrow`, `/auth/reauth`, `DELETE /api/2fa/totp`, `POST /api/2fa/backup-codes`);
 * those schemas' one-factor rule must count it with the others.
 */
export const passkeyFactorField = { passkey: z.optional(authenticationResponseSchema) };

/** The activity types §12 adds to §6's list. */
export const PASSKEY_ACTIVITY_TYPES = ["passkey_added", "passkey_removed", "passkey_clone_suspected"] as const;
