/**
 * Sessions and their refresh tokens (tables `sessions`, `refresh_tokens`): creating
 * them, rotating refresh tokens (rules in domain/rotation.ts), revoking, and the
 * per-request liveness check.
 *
 * Every write is split the same way: async preparation (random tokens, hashes, the
 * successor wrap) in a `prepare…` method, outside any transaction, then a synchronous
 * method that decides and writes and opens no transaction of its own. The caller
 * runs that inside its `transactionSync`, alone or with other stores' writes, and
 * passes the time it read once. Activity entries go to the ActivityLog in the same
 * transaction.
 */
import type { AuthMethod } from "../domain/accessToken";
import { rotate, sessionExpiry, type RotationPolicy, type SessionLifetimes, type SessionTokenState } from "../domain/rotation";
import { openSuccessor, sealSuccessor } from "../domain/successorWrap";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { ActivityType } from "../schemas/api";
import type { ActivityLog } from "./activityLog";
import type { SessionSummary as WireSessionSummary } from "../schemas/apiResponses";

const SESSION_ID_BYTES = 16;
const REFRESH_TOKEN_BYTES = 32;

export interface SessionGrant {
  sessionId: string;
  refreshToken: string;
  authTimeS: number;
  amr: AuthMethod[];
}

export type RefreshResult =
  | ({ ok: true; replayed: boolean } & SessionGrant)
  | { ok: false; error: "unknown" | "expired" | "revoked" | "theft" };

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

/** What a refresh needs, computed before the transaction. */
export interface PreparedRefresh {
  presentedToken: string;
  presentedHash: string;
  successor: string;
  successorHash: string;
  successorWrap: string;
}

/** The stored decision of a refresh; completeRefresh turns it into the answer. */
export type RefreshDecision =
  | { kind: "rotated" | "replay"; row: SessionRow }
  | { kind: "unknown" | "expired" | "revoked" | "theft" };

interface SessionRow extends Record<string, SqlStorageValue> {
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

/** A refresh-token state from its columns, which sessions and IndieAuth grants (./indieauth.ts) share. */
export function toTokenState(
  row: Pick<SessionRow, "current_hash" | "previous_hash" | "rotated_at_ms" | "created_at_ms" | "last_used_at_ms" | "revoked_at_ms">,
): SessionTokenState {
  return {
    currentHash: row.current_hash,
    previousHash: row.previous_hash,
    rotatedAtMs: row.rotated_at_ms,
    createdAtMs: row.created_at_ms,
    lastRefreshAtMs: row.last_used_at_ms,
    revoked: row.revoked_at_ms !== null,
  };
}

function grantOf(row: SessionRow, refreshToken: string, replayed: boolean): RefreshResult {
  return {
    ok: true,
    replayed,
    sessionId: row.id,
    refreshToken,
    authTimeS: row.auth_time_s,
    amr: JSON.parse(row.amr) as AuthMethod[],
  };
}

export class SessionStore {
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
    // (their tokens cascade) so storage stays bounded.
    this.sql.exec("DELETE FROM sessions WHERE created_at_ms < ?", nowMs - input.maxTtlMs);
    this.sql.exec(
      `INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
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

  // --- refresh (docs/api.md §5) ----------------------------------------------------

  async prepareRefresh(presentedToken: string): Promise<PreparedRefresh> {
    const successor = randomToken(REFRESH_TOKEN_BYTES);
    const [presentedHash, successorHash, successorWrap] = await Promise.all([
      sha256Base64url(presentedToken),
      sha256Base64url(successor),
      sealSuccessor(presentedToken, successor),
    ]);
    return { presentedToken, presentedHash, successor, successorHash, successorWrap };
  }

  /** Inside a transaction: applies the rotation rules to the presented token's session. */
  decideRefresh(prepared: PreparedRefresh, policy: RotationPolicy, nowMs: number): RefreshDecision {
    const row = this.sql
      .exec<SessionRow>(
        "SELECT s.* FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?",
        prepared.presentedHash,
      )
      .toArray()[0];
    if (!row) return { kind: "unknown" };
    const { outcome, next } = rotate(toTokenState(row), prepared.presentedHash, prepared.successorHash, nowMs, policy);
    switch (outcome.kind) {
      case "rotate":
        this.sql.exec(
          `UPDATE sessions SET current_hash = ?, previous_hash = ?, rotated_at_ms = ?, last_used_at_ms = ?,
             successor_wrap = ? WHERE id = ?`,
          next.currentHash,
          next.previousHash,
          next.rotatedAtMs,
          next.lastRefreshAtMs,
          prepared.successorWrap,
          row.id,
        );
        this.sql.exec(
          "INSERT INTO refresh_tokens (hash, session_id, issued_at_ms) VALUES (?, ?, ?)",
          prepared.successorHash,
          row.id,
          nowMs,
        );
        return { kind: "rotated", row };
      case "replay":
        this.sql.exec("UPDATE sessions SET last_used_at_ms = ? WHERE id = ?", nowMs, row.id);
        return { kind: "replay", row };
      case "theft":
        this.revokeRow(row.id, "refresh_token_reuse", nowMs);
        this.activity.record("refresh_token_reuse", row.id, null, nowMs);
        return { kind: "theft" };
      case "expired":
        return { kind: "expired" };
      case "revoked":
        return { kind: "revoked" };
    }
  }

  /** After the transaction: the answer. A replay returns the successor already issued. */
  async completeRefresh(prepared: PreparedRefresh, decided: RefreshDecision): Promise<RefreshResult> {
    switch (decided.kind) {
      case "rotated":
        return grantOf(decided.row, prepared.successor, false);
      case "replay": {
        const again = decided.row.successor_wrap && (await openSuccessor(prepared.presentedToken, decided.row.successor_wrap));
        // The wrap was sealed under this very token; failing to open it means
        // storage was corrupted, which is a bug, not a client error.
        if (!again) throw new Error(`successor wrap of session ${decided.row.id} does not open`);
        return grantOf(decided.row, again, true);
      }
      default:
        return { ok: false, error: decided.kind };
    }
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
        `SELECT id, device_name, created_at_ms, last_used_at_ms FROM sessions
         WHERE revoked_at_ms IS NULL AND created_at_ms > ? AND last_used_at_ms > ?
         ORDER BY created_at_ms DESC`,
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
