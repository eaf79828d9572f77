/**
 * The owner's security log (table `activity`), bounded. Other stores write to it
 * through `record`, inside their own transactions, so an entry commits or rolls back
 * with the change it records. `record` opens no transaction of its own.
 */
import type { ActivityType } from "../schemas/api";
import type { ActivityEntry } from "../schemas/apiResponses";

/** The activity log keeps this many newest entries. */
export const ACTIVITY_RETENTION = 10_000;
/**
 * The bounds are enforced once every this many entries (by id), so the log may hold
 * up to one fewer than this over each of them; every other entry costs one statement.
 */
export const ACTIVITY_SWEEP_EVERY = 64;
/**
 * Entry types that anyone can cause keep fewer, so that they can never push the
 * owner's own history out of the log: a stranger with a live challenge and any key
 * writes one `login_failed` per two requests, and wrong codes at `POST /auth/escrow`
 * (no key needed once 2FA is on) lock the escrow counter, about 24 `locked_out` a day.
 */
export const ACTIVITY_RETENTION_BY_TYPE: Partial<Record<ActivityType, number>> = { login_failed: 1_000, locked_out: 1_000 };

export type ActivityDetail = Record<string, unknown> | null;

/** An entry as the object stores it (detail as JSON text): what export and restore move. */
export interface StoredActivity {
  id: number;
  type: string;
  atMs: number;
  sessionId: string | null;
  detail: string | null;
}

interface ActivityRow extends Record<string, SqlStorageValue> {
  id: number;
  type: string;
  at_ms: number;
  session_id: string | null;
  detail: string | null;
}

export class ActivityLog {
  constructor(private readonly sql: SqlStorage) {}

  /** Inside the caller's transaction: one entry, then the retention bounds. */
  record(type: ActivityType, sessionId: string | null, detail: ActivityDetail, nowMs: number): void {
    const { id } = this.sql
      .exec<{ id: number }>(
        "INSERT INTO activity (type, at_ms, session_id, detail) VALUES (?, ?, ?, ?) RETURNING id",
        type,
        nowMs,
        sessionId,
        detail ? JSON.stringify(detail) : null,
      )
      .one();
    if (id % ACTIVITY_SWEEP_EVERY) return;
    // Bounded by count: first the types anyone can cause (through the (type, id)
    // index), then the whole log, whose count their pruned ids do not inflate (a
    // bound by id distance did: a long enough flood emptied the log).
    for (const [kind, keep] of Object.entries(ACTIVITY_RETENTION_BY_TYPE)) {
      this.sql.exec(
        "DELETE FROM activity WHERE type = ?1 AND id <= (SELECT id FROM activity WHERE type = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        kind,
        keep,
      );
    }
    this.sql.exec("DELETE FROM activity WHERE id <= (SELECT id FROM activity ORDER BY id DESC LIMIT 1 OFFSET ?)", ACTIVITY_RETENTION);
  }

  /** Newest first, before `beforeId`: GET /api/activity. */
  list(beforeId: number | undefined, limit: number): ActivityEntry[] {
    const rows = this.sql
      .exec<ActivityRow>(
        "SELECT id, type, at_ms, session_id, detail FROM activity WHERE id < ? ORDER BY id DESC LIMIT ?",
        beforeId ?? Number.MAX_SAFE_INTEGER,
        limit,
      )
      .toArray();
    return rows.map((r) => ({
      id: r.id,
      type: r.type as ActivityType,
      at: r.at_ms,
      ...(r.session_id ? { sessionId: r.session_id } : {}),
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
  }

  /** Oldest first, after `afterId`, detail as stored: the export reads the log in pages. */
  page(afterId: number, limit: number): StoredActivity[] {
    return this.sql
      .exec<ActivityRow>("SELECT id, type, at_ms, session_id, detail FROM activity WHERE id > ? ORDER BY id ASC LIMIT ?", afterId, limit)
      .toArray()
      .map((r) => ({ id: r.id, type: r.type, atMs: r.at_ms, sessionId: r.session_id, detail: r.detail }));
  }
}
