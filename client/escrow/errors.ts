/**
 * Why an escrow would not open. The code stays one of the SDK's codes (the UI's
 * switch), and `reason` says more:
 *
 *  - code `wrong_password`: the secret offered does not open this blob.
 *      - `wrong_password`: the password (AES key unwrap's integrity check failed);
 *      - `not_a_recipient`: this passkey or recovery key is not one of the blob's
 *        recipients (never added, or removed before this blob was sealed);
 *      - `wrong_key`: a recipient of that name exists, but for another public key
 *        (for example a passkey whose PRF answers differently now).
 *  - code `escrow_unreadable`: the blob itself is at fault.
 *      - `unsupported_format`: not a blob this client knows (not JSON/compact JWE, an
 *        unknown version, members out of shape, parameters above the ceilings);
 *      - `tampered`: the right secret, yet it does not decrypt: the unwrap succeeded and
 *        the AES-GCM tag did not, or the recipients and the manifest disagree;
 *      - `weak_parameters`: the KDF parameters are below what this client ever writes;
 *      - `forbidden_header`: a "zip" or "crit" header member (never written);
 *      - `not_a_keyring`: it decrypted, but the plaintext is not a valid keyring.
 *
 * The last four are what an altered blob looks like: the UI should say that the
 * stored backup was changed, not that the password was mistyped.
 */
import { IndieError } from "../errors";

export type EscrowErrorReason =
  | "wrong_password"
  | "not_a_recipient"
  | "wrong_key"
  | "unsupported_format"
  | "tampered"
  | "weak_parameters"
  | "forbidden_header"
  | "not_a_keyring";

const WRONG_SECRET: ReadonlySet<EscrowErrorReason> = new Set(["wrong_password", "not_a_recipient", "wrong_key"]);

export class EscrowError extends IndieError {
  constructor(
    readonly reason: EscrowErrorReason,
    message: string,
    details: { issues?: unknown[]; cause?: unknown } = {},
  ) {
    super(WRONG_SECRET.has(reason) ? "wrong_password" : "escrow_unreadable", message, details);
  }

  /** True when the blob was altered or is not ours; false when the secret was wrong. */
  get blobAtFault(): boolean {
    return !WRONG_SECRET.has(this.reason);
  }
}

export function isEscrowError(err: unknown, reason?: EscrowErrorReason): err is EscrowError {
  return err instanceof EscrowError && (reason === undefined || err.reason === reason);
}
