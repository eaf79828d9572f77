/**
 * Replay protection for POST /inbox, pure: what is remembered about a verified
 * delivery, for how long, and what a second sighting means. The Durable Object
 * (src/durable/inboxReplays.ts) stores the records and applies these rules in one
 * transaction; nothing here does I/O or reads a clock.
 *
 * Two records, both keyed by the *verified* sender (the signing key's owner):
 *
 * - **The signature.** A signed request is single use. Its key is a hash of the
 *   signature base (the draft-cavage signing string, or the RFC 9421 signature
 *   base), which is what the signature covers: Date or `created`, Digest of the
 *   body, method, target and host. Not the signature's bytes (a future algorithm
 *   may have malleable signatures) and not the keyId (draft-cavage does not sign
 *   it, so a replay could swap it for another keyId serving the same key). It is
 *   kept until the signed time can no longer pass the Date window, plus a margin.
 *   A second sighting is a replay: refused.
 * - **The activity id**, for deliveries that store something (an EncryptedMessage
 *   or a direct Note). Senders retry a delivery whose answer they did not see, with
 *   the same activity `id` and a fresh signature. The first delivery claims the id
 *   (a short lease) and marks it done once the message is stored; a redelivery of a
 *   done id is answered like the first one and stores nothing; one that arrives
 *   while the first is still being processed is told to retry shortly. A failed
 *   delivery releases its claim, so the sender's retry is processed.
 */
import { DATE_MAX_PAST_MS } from "./httpSignatures";

/**
 * How long past the end of the Date window a signature is remembered: covers
 * clock differences between the Worker that checked the Date and the object
 * that prunes the record.
 */
export const SIGNATURE_REPLAY_MARGIN_MS = 5 * 60 * 1000;
/** How long a stored activity's id is remembered: senders retry for days (our own outbox for 48 h). */
export const ACTIVITY_DEDUP_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * How long a claim on an activity id holds while its delivery is processed. If the
 * Worker dies mid-delivery, the id is free again after this, so a retry is not
 * mistaken for a duplicate of something never stored.
 */
export const ACTIVITY_LEASE_MS = 60 * 1000;

/** What is hashed to name a verified signature. */
export function signatureReplayPreimage(signer: string, signatureBase: string): string {
  return `inbox-signature:v1\n${signer}\n${signatureBase}`;
}

/** What is hashed to name an activity id, per sender (nobody can claim another actor's ids). */
export function activityReplayPreimage(signer: string, activityId: string): string {
  return `inbox-activity:v1\n${signer}\n${activityId}`;
}

/**
 * Until when a signature made at `signedAtMs` (its Date, or RFC 9421 `created`)
 * must be remembered: the Date window accepts it until `signedAtMs + 12 h`.
 */
export function signatureReplayExpiry(signedAtMs: number): number {
  return signedAtMs + DATE_MAX_PAST_MS + SIGNATURE_REPLAY_MARGIN_MS;
}

/** A stored activity-id record. */
export interface ActivityRecord {
  state: "pending" | "done";
  expiresAtMs: number;
  /** The message the first delivery stored (done only). */
  messageId: number | null;
}

export type InboxClaimVerdict =
  /** This signature was seen before: refuse, record nothing. */
  | { kind: "replayed" }
  /** A new signature for an activity already stored: answer as the first time, store nothing. */
  | { kind: "duplicate"; messageId: number | null }
  /** A new signature for an activity whose first delivery is still being processed. */
  | { kind: "in_progress"; retryAfterMs: number }
  /** New: record the signature (and claim the activity id, if any) and process it. */
  | { kind: "claim" };

/**
 * Judges a verified delivery against what is stored. `signatureExpiresAtMs` is the
 * stored signature record's expiry (null when there is none); records at or past
 * their expiry count as absent, whether or not they were pruned yet.
 */
export function judgeInboxClaim(
  stored: { signatureExpiresAtMs: number | null; activity: ActivityRecord | null },
  nowMs: number,
): InboxClaimVerdict {
  if (stored.signatureExpiresAtMs !== null && stored.signatureExpiresAtMs > nowMs) return { kind: "replayed" };
  const activity = stored.activity && stored.activity.expiresAtMs > nowMs ? stored.activity : null;
  if (activity?.state === "done") return { kind: "duplicate", messageId: activity.messageId };
  if (activity?.state === "pending") return { kind: "in_progress", retryAfterMs: activity.expiresAtMs - nowMs };
  return { kind: "claim" };
}
