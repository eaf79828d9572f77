/**
 * Errors of the recovery sheet and of recovery shares: all about text a person typed
 * or was handed, so each says which item is wrong and what to do. `item` is the
 * 1-based position of the share in the list given to combineShares (the order the
 * owner entered them), `shareIndex` the share's own number when it could be read.
 */
export type RecoveryErrorCode =
  /** The text is not a recovery key or share at all (wrong prefix, wrong length, characters outside the alphabet). */
  | "malformed"
  /** The checksum does not match: a typo somewhere. */
  | "checksum"
  /** A share format or sheet version this client does not know. */
  | "unsupported_version"
  /** Fewer shares than the set's threshold. */
  | "too_few_shares"
  /** Shares of different sets (or hosts, or k-of-n) were mixed. */
  | "different_sets"
  /** The same share (same number) entered twice. */
  | "duplicate_share"
  /** The shares passed their checksums and agree, yet do not combine to the key they vouch for (a forged or corrupted share). */
  | "combine_failed";

export class RecoveryError extends Error {
  override readonly name = "RecoveryError";
  constructor(
    readonly code: RecoveryErrorCode,
    message: string,
    readonly details: { item?: number; shareIndex?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}

export function isRecoveryError(err: unknown, code?: RecoveryErrorCode): err is RecoveryError {
  return err instanceof RecoveryError && (code === undefined || err.code === code);
}
