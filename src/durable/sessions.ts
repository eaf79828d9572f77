/**
 * Sessions and their refresh tokens (tables `sessions`, `refresh_tokens`): creating
 * them, revoking, and the per-request liveness check. Rotating a session's refresh
 * token (docs/api.md §5) is ./refreshRotation.ts, on the same rows.
 *
 * Every write is split the same way (the rotation too): async preparation (random
 * tokens, hashes) in a `prepare…` method, outside any transaction, then a synchronous
 * method that decides and writes and opens no transaction of its own. The caller
 * runs that inside its `transactionSync`, alone or with other stores' writes, and
 * passes the time it read once. Activity entries go to the ActivityLog in the same
 * transaction.
 */
import type { AuthMethod } from "../domain/accessToken";
import { sessionExpiry, type SessionLifetimes } from "../domain/rotation";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { ActivityType } from "../schemas/api";
import type { ActivityLog } from "./activityLog";
import { sweeper } from "./expirySweep";
import type { SessionSummary as WireSessionSummary } from "../schemas/apiResponses";

const SESSION_ID_BYTES = 16;
export const REFRESH_TOKEN_BYTES = 32;

export interface SessionGrant {
  sessionId: string;
  refreshToken: string;
  authTimeS: number;
  amr: AuthMethod[];
}

export type SessionStatus = "active" | "revoked" | "expired" | "unknown";

/** A session as GET /api/sessions shows it (docs/api.md §6). */
export type SessionSummary = WireSessionSummary;

/** Where a committed revocation closes the session's sockets (the live channel). */
export interface SessionSockets {
  closeSessions(sessionIds: Iterable<string>): void;
}

/** A new session's identifiers, made before the transaction. */
export interface PreparedSession {
  sessionId: string;
  refreshToken: string;
  hash: string;
}

/** A `sessions` row, as ./refreshRotation.ts reads it whole. */
export interface SessionRow extends Record<string, SqlStorageValue> {
  id: string;
  device_name: string | null;
  created_at_ms: number;
  last_used_at_ms: number;
  auth_time_s: number;
  amr: string;
  current_hash: string;
  previous_hash: string | null;
  rotated_at_ms: number | null;
  successor_wrap: string | null;
  revoked_at_ms: number | null;
  revoked_reason: string | null;
}

export class SessionStore {
  private readonly sweepDue = sweeper();

  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
    private readonly sockets: SessionSockets,
  ) {}

  // --- creating ------------------------------------------------------------------

  async prepareSession(): Promise<PreparedSession> {
    const refreshToken = randomToken(REFRESH_TOKEN_BYTES);
    return { sessionId: randomToken(SESSION_ID_BYTES), refreshToken, hash: await sha256Base64url(refreshToken) };
  }

  /** Inside a transaction: stores the session and its first refresh token, and logs `activity`. */
  create(
    prepared: PreparedSession,
    input: { deviceName: string | null; amr: AuthMethod[]; activity: ActivityType; maxTtlMs: number },
    nowMs: number,
  ): SessionGrant {
    const authTimeS = Math.floor(nowMs / 1000);
    // Sessions past their absolute lifetime can never be used again: drop them
    // (their tokens cascade) so storage stays bounded (./expirySweep.ts).
    if (this.sweepDue(nowMs)) this.sql.exec("DELETE FROM sessions WHERE created_at_ms < ?", nowMs - input.maxTtlMs);
    this.sql.exec(
      "INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
      prepared.sessionId,
      input.deviceName,
      nowMs,
      nowMs,
      authTimeS,
      JSON.stringify(input.amr),
      prepared.hash,
    );
    this.sql.exec(
      "INSERT INTO refresh_tokens (hash, session_id, issued_at_ms) VALUES (?, ?, ?)",
      prepared.hash,
      prepared.sessionId,
      nowMs,
    );
    this.activity.record(input.activity, prepared.sessionId, input.deviceName ? { deviceName: input.deviceName } : null, nowMs);
    return { sessionId: prepared.sessionId, refreshToken: prepared.refreshToken, authTimeS, amr: input.amr };
  }

  // --- logout, step-up, reads -------------------------------------------------------

  /** Inside a transaction: any token the session issued (by hash) ends it. Returns the session id, if any. */
  logout(tokenHash: string, nowMs: number): string | null {
    const row = this.sql
      .exec<{ session_id: string }>("SELECT session_id FROM refresh_tokens WHERE hash = ?", tokenHash)
      .toArray()[0];
    if (!row) return null;
    if (this.revokeRow(row.session_id, "logout", nowMs)) this.activity.record("logout", row.session_id, null, nowMs);
    return row.session_id;
  }

  /** The per-request revocation check behind every Bearer route: one indexed read. */
  status(sessionId: string, lifetimes: SessionLifetimes, nowMs: number): SessionStatus {
    const row = this.sql
      .exec<{ created_at_ms: number; last_used_at_ms: number; revoked_at_ms: number | null }>(
        "SELECT created_at_ms, last_used_at_ms, revoked_at_ms FROM sessions WHERE id = ?",
        sessionId,
      )
      .toArray()[0];
    if (!row) return "unknown";
    if (row.revoked_at_ms !== null) return "revoked";
    const expiry = sessionExpiry({ createdAtMs: row.created_at_ms, lastRefreshAtMs: row.last_used_at_ms }, nowMs, lifetimes);
    return expiry ? "expired" : "active";
  }

  /** Step-up: records a fresh signed-challenge login on a live session; null if it was revoked. */
  stepUp(sessionId: string, amr: AuthMethod[], nowMs: number): { authTimeS: number } | null {
    const authTimeS = Math.floor(nowMs / 1000);
    const changed = this.sql.exec(
      "UPDATE sessions SET auth_time_s = ?, amr = ?, last_used_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
      authTimeS,
      JSON.stringify(amr),
      nowMs,
      sessionId,
    ).rowsWritten;
    return changed > 0 ? { authTimeS } : null;
  }

  list(currentSessionId: string, lifetimes: SessionLifetimes, nowMs: number): SessionSummary[] {
    return this.sql
      .exec<Pick<SessionRow, "id" | "device_name" | "created_at_ms" | "last_used_at_ms">>(
        "SELECT id, device_name, created_at_ms, last_used_at_ms FROM sessions " +
          "WHERE revoked_at_ms IS NULL AND created_at_ms > ? AND last_used_at_ms > ? " +
          "ORDER BY created_at_ms DESC",
        nowMs - lifetimes.maxTtlMs,
        nowMs - lifetimes.idleTtlMs,
      )
      .toArray()
      .map((r) => ({
        id: r.id,
        deviceName: r.device_name,
        createdAt: r.created_at_ms,
        lastUsedAt: r.last_used_at_ms,
        current: r.id === currentSessionId,
      }));
  }

  // --- revocation ------------------------------------------------------------------

  /** Inside a transaction: a refresh token was presented again after its grace (docs/api.md §5). */
  revokeForTokenReuse(sessionId: string, nowMs: number): void {
    this.revokeRow(sessionId, "refresh_token_reuse", nowMs);
    this.activity.record("refresh_token_reuse", sessionId, null, nowMs);
  }

  /** Inside a transaction: revokes one session; false if it does not exist or was already revoked. */
  revoke(sessionId: string, bySessionId: string | null, nowMs: number): boolean {
    const revoked = this.revokeRow(sessionId, "revoked", nowMs);
    if (revoked) this.activity.record("session_revoked", sessionId, bySessionId ? { by: bySessionId } : null, nowMs);
    return revoked;
  }

  /** Inside a transaction: revokes every live session except `keepSessionId`. Returns how many. */
  revokeOthers(keepSessionId: string, reason: string, nowMs: number): number {
    const ids = this.sql
      .exec<{ id: string }>("SELECT id FROM sessions WHERE revoked_at_ms IS NULL AND id != ?", keepSessionId)
      .toArray()
      .map((r) => r.id);
    for (const id of ids) {
      this.revokeRow(id, reason, nowMs);
      this.activity.record("session_revoked", id, { by: keepSessionId, reason }, nowMs);
    }
    return ids.length;
  }

  /**
   * Revocation is one UPDATE: the session row is the single source of truth for
   * its refresh tokens (looked up through it) and access tokens (checked against
   * it on every request), so nothing can be minted from it afterwards.
   */
  private revokeRow(sessionId: string, reason: string, nowMs: number): boolean {
    const { rowsWritten } = this.sql.exec(
      "UPDATE sessions SET revoked_at_ms = ?, revoked_reason = ?, successor_wrap = NULL WHERE id = ? AND revoked_at_ms IS NULL",
      nowMs,
      reason,
      sessionId,
    );
    if (rowsWritten > 0) this.closeSocketsAfterCommit(sessionId);
    return rowsWritten > 0;
  }

  /**
   * A revoked session's sockets close at once (docs/api.md §6, §10), but only once
   * the revocation is committed. The close runs as a microtask: after the synchronous
   * transaction around this call (however many stores share it) has committed. It
   * re-reads the row, so a revocation that was rolled back closes nothing.
   */
  private closeSocketsAfterCommit(sessionId: string): void {
    queueMicrotask(() => {
      const row = this.sql
        .exec<{ revoked_at_ms: number | null }>("SELECT revoked_at_ms FROM sessions WHERE id = ?", sessionId)
        .toArray()[0];
      if (row && row.revoked_at_ms !== null) this.sockets.closeSessions([sessionId]);
    });
  }
}
