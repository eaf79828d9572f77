/**
 * One error type for everything the SDK reports. `code` is either a protocol error
 * code (docs/api.md §0, what the server said) or one of the client's own codes
 * below; the UI switches on `code` and shows `message`, which is written for people.
 */

import type { ErrorCode } from "../src/schemas/errors";

/** Error codes the server may answer with: the protocol's list (src/schemas/errors.ts, docs/api.md §0). */
export type ProtocolErrorCode = ErrorCode;

/** Errors the client raises itself. */
export type LocalErrorCode =
  /** fetch() failed: offline, DNS, connection refused. */
  | "network_error"
  /** The server answered something the schemas don't accept (a bug or a stranger). */
  | "bad_response"
  /** The escrow would not decrypt: the password is wrong (AES key wrap integrity failed). */
  | "wrong_password"
  /** The password is too easy to guess to protect the escrow. */
  | "weak_password"
  /** The password check's word lists (or its estimator) could not be loaded: no password is accepted unchecked. */
  | "password_check_unavailable"
  /** The escrow blob is not in a format this client can read. */
  | "escrow_unreadable"
  /** The escrow decrypted, but its keys are not the instance's published keys. */
  | "escrow_mismatch"
  /** Argon2id cannot run here (no WebAssembly, or a CSP without 'wasm-unsafe-eval'). */
  | "kdf_unavailable"
  /** This device holds no owner keys: unlock it with the password first. */
  | "no_device_keys"
  /** A message names a key this device does not have. */
  | "unknown_key"
  /** A message did not decrypt with the key it names. */
  | "decrypt_failed"
  /** There is no session: log in first. */
  | "logged_out"
  /** This browser has no WebAuthn (or not in this context). */
  | "passkey_unsupported"
  /** The passkey prompt was dismissed, timed out, or no passkey was chosen. */
  | "passkey_cancelled"
  /** The passkey gave no PRF output: it can be a second factor, but cannot unlock the keys. */
  | "passkey_no_prf"
  /** A recovery key is only set up while two-factor authentication is on (client/recovery/api.ts says why). */
  | "two_factor_off"
  /** finishRecovery on a device whose session a recovery login did not start (client/recovery/api.ts). */
  | "no_recovery_login";

export type ClientErrorCode = ProtocolErrorCode | LocalErrorCode;

export class IndieError extends Error {
  override readonly name = "IndieError";
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: { status?: number; retryAfterS?: number; issues?: unknown[]; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }

  get status(): number | undefined {
    return this.details.status;
  }

  get retryAfterS(): number | undefined {
    return this.details.retryAfterS;
  }
}

export function isIndieError(err: unknown, code?: ClientErrorCode): err is IndieError {
  return err instanceof IndieError && (code === undefined || err.code === code);
}
