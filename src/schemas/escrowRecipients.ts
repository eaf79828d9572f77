/**
 * The kids of an escrow blob's recipients (docs/escrow-format.md): one per unlock
 * method. The browser writes them (client/escrow/format.ts); the server reads only
 * whether a blob names anything but the password (src/domain/escrowBlob.ts). Plain
 * constants, no zod: the Worker bundles this file.
 */

/** The password recipient's kid. */
export const PASSWORD_RECIPIENT_KID = "password";
/** "passkey:" + the credential id (base64url, at most 1,023 bytes: docs/api.md §12). */
export const PASSKEY_KID_PREFIX = "passkey:";
/** "recovery:" + the recovery verifier's kid (an RFC 7638 thumbprint). */
export const RECOVERY_KID_PREFIX = "recovery:";
