/**
 * The one set of limits for a stored message (docs/api.md §9, §11), pure. Every
 * door that stores a message (POST /messages, POST /inbox with an EncryptedMessage
 * or a Note sealed on arrival) and the restore of an export archive read these same
 * numbers, so whatever the server accepted and stored, a restore takes back: an
 * archive the server itself exported can never be refused for a message in it.
 */

export const STORED_MESSAGE_LIMITS = {
  /**
   * A compact JWE, ASCII. POST /messages cannot exceed it (its body is 64 KiB); a
   * Note sealed on arrival grows by about a third (base64url) and is refused with
   * 413 when its sealed form would not fit.
   */
  jweChars: 64 * 1024,
  /** `from`: the sender's claim (POST /messages) or the verified actor URL (inbox). */
  fromChars: 2048,
} as const;

export type StoredMessageProblem = "jwe_too_long" | "from_too_long";

/** Null when a message of this `jwe` and `from` may be stored (and so restored). */
export function findStoredMessageProblem(message: { jwe: string; from: string | null }): StoredMessageProblem | null {
  if (message.jwe.length > STORED_MESSAGE_LIMITS.jweChars) return "jwe_too_long";
  if (message.from !== null && message.from.length > STORED_MESSAGE_LIMITS.fromChars) return "from_too_long";
  return null;
}

/**
 * The instance-wide quota of stored messages, per kind: unverified ones (POST
 * /messages, anyone) and verified ones (POST /inbox, signed by a fediverse actor)
 * each have their own, so strangers filling one cannot crowd out the other. Both are
 * settings (MESSAGE_QUOTA, MESSAGE_QUOTA_BYTES); the defaults keep a full instance's
 * export under the 16 MiB restore limit: 2 x 4 MiB of JWEs and `from`s as exported
 * plus about 100 bytes of fixed JSON per message (1 MiB for 2 x 5,000) leaves 6 MiB
 * for escrow versions and the activity log (docs/messages.md, "Quota").
 */
export const MESSAGE_QUOTA_DEFAULTS = { count: 5_000, bytes: 4 * 1024 * 1024 } as const;

export interface MessageQuota {
  /** Messages of one kind the instance stores at most. */
  count: number;
  /** What they take in an export at most: their JWEs (ASCII) and their `from` as JSON, in UTF-8 bytes (MESSAGE_SIZE in src/durable/messages.ts). */
  bytes: number;
}

/** A full mailbox is retried later, not dropped: this is the 429's Retry-After. */
export const MESSAGE_QUOTA_RETRY_AFTER_S = 3600;
