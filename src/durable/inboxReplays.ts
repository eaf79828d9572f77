/**
 * The inbox's replay records (tables `inbox_signatures` and `inbox_activities`,
 * docs/storage-schema.md), kept in the instance object's SQLite. The rules are in
 * domain/inboxReplay.ts; here they are applied as one check-and-set per delivery
 * inside `transactionSync`, so of any number of concurrent deliveries of the same
 * signed request exactly one is let through. Never KV: it is eventually consistent
 * and cannot decide "first".
 *
 * Expired records are pruned by every claim, in the same transaction (both tables
 * are indexed on their expiry), so storage stays bounded by the rate of verified
 * deliveries over the windows.
 */
import {
  ACTIVITY_DEDUP_TTL_MS,
  ACTIVITY_LEASE_MS,
  judgeInboxClaim,
  type ActivityRecord,
  type InboxClaimVerdict,
} from "../domain/inboxReplay";
import { randomToken } from "../lib/bytes";

export interface InboxClaimInput {
  /** SHA-256 (base64url) of signatureReplayPreimage. */
  signatureHash: string;
  /** signatureReplayExpiry of the signed time. */
  signatureExpiresAtMs: number;
  /** SHA-256 (base64url) of activityReplayPreimage, for a delivery that would store a message; else null. */
  activityHash: string | null;
}

/** The pure verdict, with a "claim" carried out: `claim` names the activity lease (null when there is no activity id); pass it to finish. */
export type InboxClaim = Exclude<InboxClaimVerdict, { kind: "claim" }> | { kind: "claimed"; claim: string | null };

export class InboxReplayStore {
  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
  }

  claim(input: InboxClaimInput, nowMs: number): InboxClaim {
    const claim = input.activityHash === null ? null : randomToken(16);
    return this.storage.transactionSync((): InboxClaim => {
      this.prune(nowMs);
      const signature = this.sql
        .exec<{ expires_at_ms: number }>("SELECT expires_at_ms FROM inbox_signatures WHERE hash = ?", input.signatureHash)
        .toArray()[0];
      const activity =
        input.activityHash === null
          ? undefined
          : this.sql
              .exec<{ state: ActivityRecord["state"]; expires_at_ms: number; message_id: number | null }>(
                "SELECT state, expires_at_ms, message_id FROM inbox_activities WHERE hash = ?",
                input.activityHash,
              )
              .toArray()[0];
      const verdict = judgeInboxClaim(
        {
          signatureExpiresAtMs: signature?.expires_at_ms ?? null,
          activity: activity ? { state: activity.state, expiresAtMs: activity.expires_at_ms, messageId: activity.message_id } : null,
        },
        nowMs,
      );
      if (verdict.kind === "replayed") return verdict;
      // Every other verdict spends the signature: a second sighting of it is a replay.
      this.sql.exec(
        "INSERT OR REPLACE INTO inbox_signatures (hash, expires_at_ms) VALUES (?, ?)",
        input.signatureHash,
        input.signatureExpiresAtMs,
      );
      if (verdict.kind !== "claim") return verdict;
      if (input.activityHash !== null) {
        this.sql.exec(
          "INSERT OR REPLACE INTO inbox_activities (hash, state, claim, message_id, expires_at_ms) " +
            "VALUES (?, 'pending', ?, NULL, ?)",
          input.activityHash,
          claim,
          nowMs + ACTIVITY_LEASE_MS,
        );
      }
      return { kind: "claimed", claim };
    });
  }

  /**
   * The id of the message stored for an activity, if a delivery stored one. Asked in
   * the storing transaction: a delivery that outlived its lease, and a retry that
   * took the lease over, must not both store the message.
   */
  storedMessageId(activityHash: string): number | null {
    const row = this.sql
      .exec<{ message_id: number | null }>("SELECT message_id FROM inbox_activities WHERE hash = ? AND state = 'done'", activityHash)
      .toArray()[0];
    return row?.message_id ?? null;
  }

  /**
   * The activity is done: its message is stored (in the same transaction, after
   * storedMessageId found none), and its id is remembered for ACTIVITY_DEDUP_TTL_MS,
   * whoever holds the lease now. A retry that took over a lapsed lease then finds it
   * done and stores nothing. With no row at all (the lease ran out and a claim
   * elsewhere pruned it) the message is stored all the same, so the id is done.
   */
  markStored(activityHash: string, messageId: number, nowMs: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO inbox_activities (hash, state, claim, message_id, expires_at_ms) VALUES (?, 'done', NULL, ?, ?)",
      activityHash,
      messageId,
      nowMs + ACTIVITY_DEDUP_TTL_MS,
    );
  }

  /**
   * Nothing was stored: the claim is released, so the sender's retry is processed.
   * Only the holder of the lease (`claim`) may release it: a delivery that outlived
   * its lease cannot undo a retry's claim.
   */
  release(activityHash: string, claim: string): void {
    this.sql.exec("DELETE FROM inbox_activities WHERE hash = ? AND claim = ? AND state = 'pending'", activityHash, claim);
  }

  /** Drops records past their expiry (one indexed range delete per table). */
  prune(nowMs: number): void {
    this.sql.exec("DELETE FROM inbox_signatures WHERE expires_at_ms <= ?", nowMs);
    this.sql.exec("DELETE FROM inbox_activities WHERE expires_at_ms <= ?", nowMs);
  }
}
