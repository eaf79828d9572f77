/**
 * The Durable Object's part of a restore (docs/export-restore.md): the archived
 * activity log and messages, and the lease that lets exactly one restore proceed
 * at a time.
 *
 * A restore writes to two stores that share no transaction: the activity log and
 * the messages here, the keys and escrow in one D1 batch whose last row claims the
 * instance. So the object's part is written first, under a lease, and only the D1
 * commit makes any of it reachable (every read of the log or the mailbox needs a
 * session, sessions need a claimed instance, and a message is only stored for an
 * owner's key):
 *
 *   begin   one transaction: take the lease (refused while another restore holds
 *           it), write the archived entries with their own ids, move the message
 *           ids past the archive's, and remember how to undo all of it;
 *   parts   the archived messages, a part per call (an RPC's size is bounded), each
 *           in one transaction, under the lease, which each part renews (the last
 *           comes right before the D1 batch, so a batch commits within its lease);
 *   D1      the batch that claims the instance;
 *   finish  drop the lease and log the restore; or
 *   abort   (the batch lost, or failed) delete the archived entries again.
 *
 * If the Worker dies between begin and the D1 commit, the lease expires after
 * RESTORE_LEASE_MS and the next restore's begin removes the leftovers first.
 */
import type { ActivityDetail, ActivityLog, StoredActivity } from "./activityLog";
import type { KeysEpochStore } from "./keysEpoch";
import { LAST_PUSHED_KEY } from "./livePush";
import type { MessageStore } from "./messages";
import type { ArchiveMessage } from "../schemas/archive";

/** Longer than a restore can take: D1 gives one batch at most 30 s. */
export const RESTORE_LEASE_MS = 120_000;
const LEASE_KEY = "restore:lease";
/**
 * Set (never cleared) once the instance is claimed, by setup or by a restore, in
 * the same transaction as the `claimed` activity entry. A restore that loses the
 * race to claim may reach `begin` only after the winner finished; without this it
 * would reshuffle the winner's activity log before its D1 batch failed.
 */
export const CLAIMED_KEY = "instance:claimed";

/** An archived activity entry as the object stores it (detail as JSON text). */
export type RestoredActivity = StoredActivity;

interface Lease {
  restoreId: string;
  expiresAtMs: number;
  /** The archived entries have ids up to this one (null: the archive had none). */
  importedThroughId: number | null;
  /** The archive's lastMessageId: the restored messages have ids up to it. */
  messagesThroughId: number;
  /** live:lastPushedMessageId before the restore and as begin set it, to put back on abort. */
  lastPushedBefore: number | null;
  lastPushedSet: number;
}

export class RestoreStore {
  private claimed = false;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly activity: ActivityLog,
    private readonly keysEpoch: KeysEpochStore,
    private readonly messages: MessageStore,
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  /**
   * Takes the lease and writes the archived log. False if another restore holds an
   * unexpired lease: two restores racing with the same setup code, one wins here.
   *
   * The archived entries keep their ids, which start at 1 like this instance's own.
   * Entries this instance wrote before the restore (failed attempts to claim it) are
   * moved after them, renumbered in their order, so that the log reads oldest to
   * newest by id, as `before=` paging expects.
   */
  begin(restoreId: string, entries: RestoredActivity[], lastMessageId: number, nowMs: number): boolean {
    const kv = this.storage.kv;
    return this.storage.transactionSync(() => {
      if (kv.get<boolean>(CLAIMED_KEY)) return false;
      const lease = kv.get<Lease>(LEASE_KEY);
      if (lease && lease.restoreId !== restoreId && lease.expiresAtMs > nowMs) return false;
      if (lease) this.undo(lease);

      const own = this.sql
        .exec<{ type: string; at_ms: number; session_id: string | null; detail: string | null }>(
          "SELECT type, at_ms, session_id, detail FROM activity ORDER BY id",
        )
        .toArray();
      this.sql.exec("DELETE FROM activity");
      for (const e of entries) {
        this.sql.exec(
          "INSERT INTO activity (id, type, at_ms, session_id, detail) VALUES (?, ?, ?, ?, ?)",
          e.id,
          e.type,
          e.atMs,
          e.sessionId,
          e.detail,
        );
      }
      // AUTOINCREMENT continues after the highest id ever used, archived or own.
      for (const r of own) {
        this.sql.exec("INSERT INTO activity (type, at_ms, session_id, detail) VALUES (?, ?, ?, ?)", r.type, r.at_ms, r.session_id, r.detail);
      }
      // New messages take ids after every id the old instance handed out.
      this.messages.importRows([], lastMessageId);
      // Messages up to the archive's last id are old news, not pushes for the live
      // channel (src/durable/livePush.ts). Set now, not at finish: once D1 commits,
      // a message may arrive before finish runs, or finish may never run.
      const lastPushedBefore = kv.get<number>(LAST_PUSHED_KEY) ?? null;
      const lastPushedSet = Math.max(lastPushedBefore ?? 0, lastMessageId);
      kv.put(LAST_PUSHED_KEY, lastPushedSet);
      kv.put(LEASE_KEY, {
        restoreId,
        expiresAtMs: nowMs + RESTORE_LEASE_MS,
        importedThroughId: entries.at(-1)?.id ?? null,
        messagesThroughId: lastMessageId,
        lastPushedBefore,
        lastPushedSet,
      } satisfies Lease);
      return true;
    });
  }

  /**
   * Part of the archived messages, with their ids (all up to the lastMessageId that
   * begin was given), and the lease renewed for RESTORE_LEASE_MS. False, writing
   * nothing, if `restoreId` does not hold the lease.
   */
  importMessages(restoreId: string, messages: ArchiveMessage[], nowMs: number): boolean {
    const kv = this.storage.kv;
    return this.storage.transactionSync(() => {
      const lease = kv.get<Lease>(LEASE_KEY);
      if (lease?.restoreId !== restoreId) return false;
      this.messages.importRows(messages, 0);
      // Renewed: the Worker sends the last part right before its D1 batch.
      kv.put(LEASE_KEY, { ...lease, expiresAtMs: nowMs + RESTORE_LEASE_MS });
      return true;
    });
  }

  /** The D1 batch committed: the restore is complete. Releases the lease and logs the restore as the claim. */
  finish(restoreId: string, detail: ActivityDetail, nowMs: number): void {
    const kv = this.storage.kv;
    this.storage.transactionSync(() => {
      if (kv.get<Lease>(LEASE_KEY)?.restoreId === restoreId) kv.delete(LEASE_KEY);
      this.markClaimed(detail, nowMs);
    });
  }

  /**
   * Inside a transaction: the instance is claimed (setup or restore committed in
   * D1). Restores are refused from now on, and the claim is logged. The owner's keys
   * are new in D1, so their epoch is raised (./keysEpoch.ts); returns the new one.
   */
  markClaimed(detail: ActivityDetail, nowMs: number): number {
    this.storage.kv.put(CLAIMED_KEY, true);
    this.activity.record("claimed", null, detail, nowMs);
    return this.keysEpoch.raise();
  }

  /** Whether the object knows the instance is claimed (true is final, so kept; false means "ask D1"). */
  isClaimed(): boolean {
    return (this.claimed ||= this.storage.kv.get<boolean>(CLAIMED_KEY) === true);
  }

  /** The D1 batch did not claim the instance: remove what begin wrote. */
  abort(restoreId: string): void {
    this.storage.transactionSync(() => {
      const lease = this.storage.kv.get<Lease>(LEASE_KEY);
      if (lease?.restoreId === restoreId) this.undo(lease);
    });
  }

  private undo(lease: Lease): void {
    const kv = this.storage.kv;
    // Every entry written since begin (or moved by it) has a higher id than the
    // archived ones, so this removes exactly those.
    if (lease.importedThroughId !== null) this.sql.exec("DELETE FROM activity WHERE id <= ?", lease.importedThroughId);
    // No message is stored before the instance is claimed, so these are the archive's.
    this.messages.deleteThrough(lease.messagesThroughId ?? 0);
    // Put the push cursor back, unless the live channel has moved it since (then the
    // instance was claimed some other way meanwhile, and the cursor is its own).
    if (kv.get<number>(LAST_PUSHED_KEY) === lease.lastPushedSet) {
      if (lease.lastPushedBefore === null) kv.delete(LAST_PUSHED_KEY);
      else kv.put(LAST_PUSHED_KEY, lease.lastPushedBefore);
    }
    kv.delete(LEASE_KEY);
  }
}
