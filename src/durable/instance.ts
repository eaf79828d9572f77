/**
 * InstanceDO: the one Durable Object of an instance. It is the only writer of
 * everything that must be decided exactly once: challenges, sessions and their
 * refresh tokens, rate-limit counters, and the activity log written with them.
 *
 * Each decision is a check-and-set inside `ctx.storage.transactionSync`, with all
 * async work (hashing, sealing) done *before* it: any non-storage await inside a
 * Durable Object lets other requests interleave, so a read-then-write across an
 * await would let two requests both win.
 */
import { DurableObject } from "cloudflare:workers";
import type { AuthMethod } from "../domain/accessToken";
import { rotate, type RotationPolicy, type SessionTokenState, sessionExpiry } from "../domain/rotation";
import { openSuccessor, sealSuccessor } from "../domain/successorWrap";
import type { Env } from "../env";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { ActivityEntry, ActivityType } from "../schemas/api";
import { readSettings } from "../settings";
import { sessionPolicy } from "../services/sessions";
import { InboxReplayStore, type InboxClaim, type InboxClaimInput } from "./inboxReplays";
import { CLAIMED_KEY, RestoreStore, type RestoredActivity } from "./restore";
import { OutboxDelivery } from "./outbox";
import { migrateInstanceStorage } from "./schema";
import { LiveChannel } from "./sockets";
import { TwoFactorStore, type MfaCounter, type SecondFactor } from "./twoFactor";

export const CHALLENGE_TTL_MS = 120_000;
/** The activity log keeps this many newest entries. */
export const ACTIVITY_RETENTION = 10_000;
/**
 * Entry types that anyone can cause keep fewer, so that they can never push the
 * owner's own history out of the log: a stranger with a live challenge and any key
 * writes one `login_failed` per two requests.
 */
export const ACTIVITY_RETENTION_BY_TYPE: Partial<Record<ActivityType, number>> = { login_failed: 1_000 };
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

export interface SessionSummary {
  id: string;
  deviceName: string | null;
  createdAt: number;
  lastUsedAt: number;
  current: boolean;
}

export interface RateLimitVerdict {
  allowed: boolean;
  retryAfterS: number;
}

export type ChallengeOpened =
  | { allowed: false; retryAfterS: number }
  /**
   * `claimed` is the object's marker, set only after D1 committed a claim (setup or
   * restore) and never cleared: true is final, false means "ask D1".
   */
  | { allowed: true; challenge: string; expiresAtMs: number; mfa: boolean; claimed: boolean };

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

function toTokenState(row: SessionRow): SessionTokenState {
  return {
    currentHash: row.current_hash,
    previousHash: row.previous_hash,
    rotatedAtMs: row.rotated_at_ms,
    createdAtMs: row.created_at_ms,
    lastRefreshAtMs: row.last_used_at_ms,
    revoked: row.revoked_at_ms !== null,
  };
}

export class InstanceDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly live: LiveChannel;
  private readonly outbox: OutboxDelivery;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => migrateInstanceStorage(ctx.storage));
    this.outbox = new OutboxDelivery(env);
    this.live = new LiveChannel(ctx, env, (sid) => this.sessionStatus(sid, sessionPolicy(readSettings(env))) === "active");
    // One line per start: after hibernation the object is constructed again while its
    // sockets stayed open, which is how an idle socket shows it cost no wake-ups.
    console.log(JSON.stringify({ event: "instance_started", sockets: ctx.getWebSockets().length }));
  }

  // --- challenges --------------------------------------------------------------

  /**
   * POST /auth/challenge in one call: counts the hit against `rateLimit` and, when it
   * is allowed, stores a fresh challenge and says whether 2FA is on and whether the
   * instance is known to be claimed. The count and the insert share a transaction.
   */
  openChallenge(rateLimit: { key: string; limit: number; windowMs: number }): ChallengeOpened {
    const nowMs = Date.now();
    const challenge = randomToken(32);
    const expiresAtMs = nowMs + CHALLENGE_TTL_MS;
    return this.ctx.storage.transactionSync((): ChallengeOpened => {
      const verdict = this.countRateLimitHit(rateLimit.key, rateLimit.limit, rateLimit.windowMs, nowMs);
      if (!verdict.allowed) return { allowed: false, retryAfterS: verdict.retryAfterS };
      this.sql.exec("DELETE FROM challenges WHERE expires_at_ms < ?", nowMs);
      this.sql.exec("INSERT INTO challenges (challenge, expires_at_ms) VALUES (?, ?)", challenge, expiresAtMs);
      return {
        allowed: true,
        challenge,
        expiresAtMs,
        mfa: this.twoFactor.isEnabled(),
        claimed: this.ctx.storage.kv.get<boolean>(CLAIMED_KEY) === true,
      };
    });
  }

  /** Single use: the first caller that names a live challenge gets true, all others false. */
  consumeChallenge(challenge: string): boolean {
    const row = this.sql
      .exec<{ expires_at_ms: number }>("DELETE FROM challenges WHERE challenge = ? RETURNING expires_at_ms", challenge)
      .toArray()[0];
    return row !== undefined && row.expires_at_ms >= Date.now();
  }

  // --- sessions ----------------------------------------------------------------

  /**
   * A new session. Refused (null) when its login had no second factor but 2FA is on
   * by now: the route checked 2FA in an earlier call, and a confirmation may have
   * committed since, after revoking every session that existed then.
   */
  async createSession(input: {
    deviceName: string | null;
    amr: AuthMethod[];
    activity: ActivityType;
    maxTtlMs: number;
  }): Promise<SessionGrant | null> {
    const sessionId = randomToken(16);
    const refreshToken = randomToken(REFRESH_TOKEN_BYTES);
    const hash = await sha256Base64url(refreshToken);
    const nowMs = Date.now();
    const authTimeS = Math.floor(nowMs / 1000);
    const created = this.ctx.storage.transactionSync(() => {
      if (!input.amr.includes("otp") && this.twoFactor.isEnabled()) return false;
      // Sessions past their absolute lifetime can never be used again: drop them
      // (their tokens cascade) so storage stays bounded.
      this.sql.exec("DELETE FROM sessions WHERE created_at_ms < ?", nowMs - input.maxTtlMs);
      this.sql.exec(
        `INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        sessionId,
        input.deviceName,
        nowMs,
        nowMs,
        authTimeS,
        JSON.stringify(input.amr),
        hash,
      );
      this.sql.exec("INSERT INTO refresh_tokens (hash, session_id, issued_at_ms) VALUES (?, ?, ?)", hash, sessionId, nowMs);
      this.insertActivity(input.activity, sessionId, input.deviceName ? { deviceName: input.deviceName } : null, nowMs);
      return true;
    });
    return created ? { sessionId, refreshToken, authTimeS, amr: input.amr } : null;
  }

  /** PROTOCOL.md §5: the rules live in domain/rotation.ts; this persists them. */
  async refresh(presentedToken: string, policy: RotationPolicy): Promise<RefreshResult> {
    // All async work first: nothing below may await until the decision is stored.
    const presentedHash = await sha256Base64url(presentedToken);
    const successor = randomToken(REFRESH_TOKEN_BYTES);
    const [successorHash, successorWrap] = await Promise.all([
      sha256Base64url(successor),
      sealSuccessor(presentedToken, successor),
    ]);
    const nowMs = Date.now();

    const decided = this.ctx.storage.transactionSync(() => {
      const row = this.sql
        .exec<SessionRow>(
          "SELECT s.* FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?",
          presentedHash,
        )
        .toArray()[0];
      if (!row) return { kind: "unknown" as const };
      const { outcome, next } = rotate(toTokenState(row), presentedHash, successorHash, nowMs, policy);
      switch (outcome.kind) {
        case "rotate":
          this.sql.exec(
            `UPDATE sessions SET current_hash = ?, previous_hash = ?, rotated_at_ms = ?, last_used_at_ms = ?,
               successor_wrap = ? WHERE id = ?`,
            next.currentHash,
            next.previousHash,
            next.rotatedAtMs,
            next.lastRefreshAtMs,
            successorWrap,
            row.id,
          );
          this.sql.exec(
            "INSERT INTO refresh_tokens (hash, session_id, issued_at_ms) VALUES (?, ?, ?)",
            successorHash,
            row.id,
            nowMs,
          );
          return { kind: "rotated" as const, row };
        case "replay":
          this.sql.exec("UPDATE sessions SET last_used_at_ms = ? WHERE id = ?", nowMs, row.id);
          return { kind: "replay" as const, row };
        case "theft":
          this.revokeInTransaction(row.id, "refresh_token_reuse", nowMs);
          this.insertActivity("refresh_token_reuse", row.id, null, nowMs);
          return { kind: "theft" as const };
        case "expired":
          return { kind: "expired" as const };
        case "revoked":
          return { kind: "revoked" as const };
      }
    });

    switch (decided.kind) {
      case "rotated":
        return this.grant(decided.row, successor, false);
      case "replay": {
        const again = decided.row.successor_wrap && (await openSuccessor(presentedToken, decided.row.successor_wrap));
        // The wrap was sealed under this very token; failing to open it means
        // storage was corrupted, which is a bug, not a client error.
        if (!again) throw new Error(`successor wrap of session ${decided.row.id} does not open`);
        return this.grant(decided.row, again, true);
      }
      default:
        return { ok: false, error: decided.kind };
    }
  }

  private grant(row: SessionRow, refreshToken: string, replayed: boolean): RefreshResult {
    return {
      ok: true,
      replayed,
      sessionId: row.id,
      refreshToken,
      authTimeS: row.auth_time_s,
      amr: JSON.parse(row.amr) as AuthMethod[],
    };
  }

  /** Logout: any token the session issued ends it. Returns the session id, if any. */
  async logout(presentedToken: string): Promise<string | null> {
    const hash = await sha256Base64url(presentedToken);
    const nowMs = Date.now();
    return this.ctx.storage.transactionSync(() => {
      const row = this.sql
        .exec<{ session_id: string }>("SELECT session_id FROM refresh_tokens WHERE hash = ?", hash)
        .toArray()[0];
      if (!row) return null;
      if (this.revokeInTransaction(row.session_id, "logout", nowMs)) {
        this.insertActivity("logout", row.session_id, null, nowMs);
      }
      return row.session_id;
    });
  }

  /** The per-request revocation check behind every Bearer route: one indexed read. */
  sessionStatus(sessionId: string, policy: Pick<RotationPolicy, "idleTtlMs" | "maxTtlMs">): SessionStatus {
    const row = this.sql
      .exec<{ created_at_ms: number; last_used_at_ms: number; revoked_at_ms: number | null }>(
        "SELECT created_at_ms, last_used_at_ms, revoked_at_ms FROM sessions WHERE id = ?",
        sessionId,
      )
      .toArray()[0];
    if (!row) return "unknown";
    if (row.revoked_at_ms !== null) return "revoked";
    const expiry = sessionExpiry({ createdAtMs: row.created_at_ms, lastRefreshAtMs: row.last_used_at_ms }, Date.now(), policy);
    return expiry ? "expired" : "active";
  }

  /**
   * What every Bearer request needs from the object, in one call: is the session
   * live, and is 2FA on (for step-up). Two indexed reads, no writes.
   */
  authorizeSession(
    sessionId: string,
    policy: Pick<RotationPolicy, "idleTtlMs" | "maxTtlMs">,
  ): { status: SessionStatus; mfaEnabled: boolean } {
    return { status: this.sessionStatus(sessionId, policy), mfaEnabled: this.twoFactor.isEnabled() };
  }

  /** Step-up: records a fresh signed-challenge login on an active session. */
  stepUp(sessionId: string, amr: AuthMethod[]): { authTimeS: number } | null {
    const nowMs = Date.now();
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

  listSessions(currentSessionId: string, policy: Pick<RotationPolicy, "idleTtlMs" | "maxTtlMs">): SessionSummary[] {
    const nowMs = Date.now();
    return this.sql
      .exec<Pick<SessionRow, "id" | "device_name" | "created_at_ms" | "last_used_at_ms">>(
        `SELECT id, device_name, created_at_ms, last_used_at_ms FROM sessions
         WHERE revoked_at_ms IS NULL AND created_at_ms > ? AND last_used_at_ms > ?
         ORDER BY created_at_ms DESC`,
        nowMs - policy.maxTtlMs,
        nowMs - policy.idleTtlMs,
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

  /** Revokes one session; false if it does not exist or was already revoked. */
  revokeSession(sessionId: string, bySessionId: string | null): boolean {
    const nowMs = Date.now();
    return this.ctx.storage.transactionSync(() => {
      const revoked = this.revokeInTransaction(sessionId, "revoked", nowMs);
      if (revoked) this.insertActivity("session_revoked", sessionId, bySessionId ? { by: bySessionId } : null, nowMs);
      return revoked;
    });
  }

  /** Revokes every live session except `keepSessionId`, atomically. Returns how many. */
  revokeOtherSessions(keepSessionId: string, reason: string): number {
    const nowMs = Date.now();
    return this.ctx.storage.transactionSync(() => {
      const ids = this.sql
        .exec<{ id: string }>("SELECT id FROM sessions WHERE revoked_at_ms IS NULL AND id != ?", keepSessionId)
        .toArray()
        .map((r) => r.id);
      for (const id of ids) {
        this.revokeInTransaction(id, reason, nowMs);
        this.insertActivity("session_revoked", id, { by: keepSessionId, reason }, nowMs);
      }
      return ids.length;
    });
  }

  /**
   * Revocation is one UPDATE: the session row is the single source of truth for
   * its refresh tokens (looked up through it) and access tokens (checked against
   * it on every request), so nothing can be minted from it afterwards.
   */
  private revokeInTransaction(sessionId: string, reason: string, nowMs: number): boolean {
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
   * A revoked session's sockets close at once (PROTOCOL.md §6, §10), but only once
   * the revocation is committed. The close runs as a microtask: after the synchronous
   * transaction around this call, and any transaction around that one (2FA
   * enrolment revokes inside its own), has committed. It re-reads the row, so a
   * revocation that was rolled back closes nothing.
   */
  private closeSocketsAfterCommit(sessionId: string): void {
    queueMicrotask(() => {
      const row = this.sql
        .exec<{ revoked_at_ms: number | null }>("SELECT revoked_at_ms FROM sessions WHERE id = ?", sessionId)
        .toArray()[0];
      if (row && row.revoked_at_ms !== null) this.live.closeSessions([sessionId]);
    });
  }

  // --- activity ----------------------------------------------------------------

  recordActivity(type: ActivityType, sessionId: string | null, detail: Record<string, unknown> | null): void {
    this.insertActivity(type, sessionId, detail, Date.now());
  }

  /** Several entries about one change, written together or not at all. */
  recordActivities(entries: Array<{ type: ActivityType; sessionId: string | null; detail: Record<string, unknown> | null }>): void {
    const nowMs = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const e of entries) this.insertActivity(e.type, e.sessionId, e.detail, nowMs);
    });
  }

  listActivity(beforeId: number | undefined, limit: number): ActivityEntry[] {
    const rows = this.sql
      .exec<{ id: number; type: string; at_ms: number; session_id: string | null; detail: string | null }>(
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

  private insertActivity(
    type: ActivityType,
    sessionId: string | null,
    detail: Record<string, unknown> | null,
    nowMs: number,
  ): void {
    const { id } = this.sql
      .exec<{ id: number }>(
        "INSERT INTO activity (type, at_ms, session_id, detail) VALUES (?, ?, ?, ?) RETURNING id",
        type,
        nowMs,
        sessionId,
        detail ? JSON.stringify(detail) : null,
      )
      .one();
    // Bounded: the newest ACTIVITY_RETENTION entries are kept (one indexed delete),
    // and of the types anyone can cause, fewer (through the (type, id) index).
    this.sql.exec("DELETE FROM activity WHERE id <= ?", id - ACTIVITY_RETENTION);
    const keep = ACTIVITY_RETENTION_BY_TYPE[type];
    if (keep !== undefined) {
      this.sql.exec(
        `DELETE FROM activity WHERE type = ?1 AND id <=
           (SELECT id FROM activity WHERE type = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
        type,
        keep,
      );
    }
  }

  // --- two-factor authentication (logic in ./twoFactor.ts) ------------------------

  private twoFactorStore?: TwoFactorStore;

  private get twoFactor(): TwoFactorStore {
    this.twoFactorStore ??= new TwoFactorStore(this.ctx.storage, this.env.DATA_KEY, (type, sid, detail, nowMs) =>
      this.insertActivity(type, sid, detail, nowMs),
    );
    return this.twoFactorStore;
  }

  twoFactorStatus() {
    return this.twoFactor.status();
  }

  twoFactorEnabled(): boolean {
    return this.twoFactor.isEnabled();
  }

  beginTotpEnrolment(sessionId: string) {
    return this.twoFactor.beginEnrolment(sessionId);
  }

  /** Turns 2FA on and, in the same transaction, revokes every other session (PROTOCOL.md §8). */
  confirmTotpEnrolment(sessionId: string, code: string) {
    return this.twoFactor.confirmEnrolment(sessionId, code, () => {
      this.revokeOtherSessions(sessionId, "totp_enabled");
    });
  }

  checkSecondFactor(
    factor: SecondFactor,
    options: { counter: MfaCounter; sessionId: string | null; issueTicket?: boolean },
  ) {
    return this.twoFactor.checkFactor(factor, options);
  }

  disableTotp(factor: { totp: string } | { backupCode: string }, sessionId: string) {
    return this.twoFactor.disable(factor, sessionId);
  }

  regenerateBackupCodes(code: string, sessionId: string) {
    return this.twoFactor.regenerateBackupCodes(code, sessionId);
  }

  // --- export and restore (logic in ./restore.ts) -------------------------------

  /** The log oldest first, after `afterId`, detail as stored (JSON text): the export reads it in pages. */
  exportActivity(afterId: number, limit: number): RestoredActivity[] {
    return this.sql
      .exec<{ id: number; type: string; at_ms: number; session_id: string | null; detail: string | null }>(
        "SELECT id, type, at_ms, session_id, detail FROM activity WHERE id > ? ORDER BY id ASC LIMIT ?",
        afterId,
        limit,
      )
      .toArray()
      .map((r) => ({ id: r.id, type: r.type, atMs: r.at_ms, sessionId: r.session_id, detail: r.detail }));
  }

  private restoreStore?: RestoreStore;

  private get restore(): RestoreStore {
    this.restoreStore ??= new RestoreStore(this.ctx.storage);
    return this.restoreStore;
  }

  /** Takes the restore lease and writes the archived log; false while another restore holds it. */
  beginRestore(restoreId: string, entries: RestoredActivity[], lastMessageId: number): boolean {
    return this.restore.begin(restoreId, entries, lastMessageId, Date.now());
  }

  /** The instance is claimed: release the lease and log the restore as the claim. */
  finishRestore(restoreId: string, detail: Record<string, string | number>): void {
    this.restore.finish(restoreId, () => this.insertActivity("claimed", null, detail, Date.now()));
  }

  /** Setup claimed the instance (D1 committed): log it and refuse restores from now on. */
  recordClaimed(): void {
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.kv.put(CLAIMED_KEY, true);
      this.insertActivity("claimed", null, null, Date.now());
    });
  }

  abortRestore(restoreId: string): void {
    this.restore.abort(restoreId);
  }

  // --- live channel (logic in ./sockets.ts) -------------------------------------

  /** Opens a socket; only the Worker's GET /api/ws calls this, after authenticating it. */
  override fetch(request: Request): Promise<Response> {
    return this.live.accept(request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.live.onMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket): void {
    this.live.onClose(ws);
  }

  override webSocketError(ws: WebSocket): void {
    this.live.onClose(ws);
  }

  /** The Worker's nudge after it stored message `storedId` (PROTOCOL.md §9). */
  publishMessages(storedId: number): Promise<void> {
    return this.live.publish(storedId);
  }

  /**
   * The object's one alarm serves the sockets' token deadlines and the federation
   * outbox's retries. Whoever else needs an alarm must merge its deadline here (the
   * earliest wins), not call setAlarm.
   *
   * The sockets go first: their deadlines are synchronous work, and the outbox awaits
   * the network (peer lookups of up to 10 s, deliveries of up to 15 s), which must
   * not make token_expired / 4401 or token_expiring late. While the outbox works,
   * deadlines that fall meanwhile are still met (LiveChannel.keepDeadlinesDuring),
   * and whatever the outbox throws is caught, so the next alarm is always set.
   */
  override async alarm(): Promise<void> {
    this.live.onAlarm(Date.now());
    let outboxNext: number | null;
    try {
      outboxNext = await this.live.keepDeadlinesDuring(() => this.outbox.onAlarm(Date.now()));
    } catch (err) {
      // A D1 failure or a bug in the outbox must not stall the sockets' deadlines (a
      // thrown alarm is retried, but only after the runtime's backoff): log it, and
      // retry the outbox in a minute.
      console.error(JSON.stringify({ event: "outbox_alarm_failed", error: String(err) }));
      outboxNext = Date.now() + 60_000;
    }
    // The next alarm, from both. One set while the outbox awaited (an outbox nudge
    // for a row inserted after its D1 read, a socket opening or re-authed) must
    // survive: it takes part in the minimum. The storage read holds the input gate,
    // so nothing runs between it and setAlarm but the synchronous socket scan, which
    // also handles any deadline that came due since the last check.
    const setMeanwhile = await this.ctx.storage.getAlarm();
    const socketsNext = this.live.onAlarm(Date.now());
    const next = [outboxNext, socketsNext, setMeanwhile].filter((t): t is number => t !== null);
    if (next.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...next));
  }

  /**
   * The Worker's nudge after it stored an outbox row (PROTOCOL.md §11): deliver it
   * now. Only moves the shared alarm earlier, never later (like the sockets'). It
   * covers every pending row, not only the one that asked: a row whose own nudge was
   * lost (the Worker answered 202 anyway) is due by the earliest pending time in D1,
   * and this alarm is set no later than that. `dueAtMs` = Infinity asks only that.
   */
  async scheduleOutbox(dueAtMs: number): Promise<void> {
    const pendingDueAtMs = await this.outbox.nextDueAtMs();
    const due = pendingDueAtMs === null ? dueAtMs : Math.min(dueAtMs, pendingDueAtMs);
    if (!Number.isFinite(due)) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || due < current) await this.ctx.storage.setAlarm(due);
  }

  // --- inbox replay protection (logic in ../domain/inboxReplay.ts) ---------------

  private inboxReplayStore?: InboxReplayStore;

  private get inboxReplays(): InboxReplayStore {
    this.inboxReplayStore ??= new InboxReplayStore(this.ctx.storage);
    return this.inboxReplayStore;
  }

  /**
   * A verified inbox delivery, once: spends its signature and claims its activity
   * id in one transaction (pruning expired records in the same one).
   */
  claimInboxDelivery(input: InboxClaimInput): InboxClaim {
    return this.inboxReplays.claim(input, Date.now());
  }

  /** After the delivery: the stored message's id marks its activity done; null releases the claim. */
  finishInboxActivity(activityHash: string, claim: string, messageId: number | null): void {
    this.inboxReplays.finish(activityHash, claim, messageId, Date.now());
  }

  // --- rate limits -------------------------------------------------------------

  /**
   * Fixed-window counter: allows `limit` hits per `windowMs` for `key`. Exact under
   * concurrency because the read and the increment share one transaction.
   */
  hitRateLimit(key: string, limit: number, windowMs: number): RateLimitVerdict {
    const nowMs = Date.now();
    return this.ctx.storage.transactionSync(() => this.countRateLimitHit(key, limit, windowMs, nowMs));
  }

  /** Inside a transaction: one hit on `key`'s fixed window. */
  private countRateLimitHit(key: string, limit: number, windowMs: number, nowMs: number): RateLimitVerdict {
    const row = this.sql
      .exec<{ window_ends_at_ms: number; count: number }>("SELECT window_ends_at_ms, count FROM rate_limits WHERE key = ?", key)
      .toArray()[0];
    if (!row || row.window_ends_at_ms <= nowMs) {
      this.sql.exec("DELETE FROM rate_limits WHERE window_ends_at_ms <= ?", nowMs);
      this.sql.exec("INSERT INTO rate_limits (key, window_ends_at_ms, count) VALUES (?, ?, 1)", key, nowMs + windowMs);
      return { allowed: true, retryAfterS: 0 };
    }
    if (row.count >= limit) {
      return { allowed: false, retryAfterS: Math.ceil((row.window_ends_at_ms - nowMs) / 1000) };
    }
    this.sql.exec("UPDATE rate_limits SET count = count + 1 WHERE key = ?", key);
    return { allowed: true, retryAfterS: 0 };
  }

}
