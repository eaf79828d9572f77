/**
 * Two-factor state inside the instance Durable Object (PROTOCOL.md §8): the TOTP
 * secret (sealed), the last accepted time step, backup-code hashes and mfa tickets,
 * checked against the two lockout counters (./mfaLockouts.ts). The Durable Object is the one writer of all of it, so
 * "accept a step", "consume a backup code", "consume a ticket" and "count a failure"
 * are each decided exactly once, however many requests race.
 *
 * Every check follows the same shape:
 *   1. async preparation, outside any transaction: unseal the secret, compute which
 *      time steps the code matches, HMAC the backup code or ticket, and make
 *      whatever the success will write (new backup codes, a ticket);
 *   2. one `transactionSync` that re-reads the state, decides, and writes.
 * Awaiting anything but storage inside a Durable Object lets other requests run in
 * between, so a decision made before an await could be made twice. The preparation
 * only reads a snapshot; the transaction checks that the snapshot still holds.
 */
import { BACKUP_CODE_COUNT, BACKUP_CODE_LENGTH, backupCodeFromBytes, normalizeBackupCode } from "../domain/backupCodes";
import { findTotpSteps, pickAcceptableStep, TOTP_SECRET_BYTES, totpSecretToBase32 } from "../domain/totp";
import { randomBytes, randomToken } from "../lib/bytes";
import type { Clock } from "../lib/clock";
import { loadDataKeys, mfaHash, openTotpSecret, sealTotpSecret, type DataKeys } from "../lib/dataKeys";
import type { ActivityLog } from "./activityLog";
import type { MfaCounter, MfaLockoutStore } from "./mfaLockouts";
import type { SessionStore } from "./sessions";
import type { TwoFactorStatus as WireTwoFactorStatus } from "../schemas/api";

/** An enrolment that is never confirmed is forgotten after this long. */
export const PENDING_TOTP_TTL_MS = 10 * 60_000;
/** PROTOCOL.md §4: an mfa ticket from /auth/escrow is good for one login within 300 s. */
export const MFA_TICKET_TTL_MS = 300_000;
const MFA_TICKET_BYTES = 32;

export type { MfaCounter };

export type SecondFactor = { totp: string } | { backupCode: string } | { mfaTicket: string };
export type FactorMethod = "totp" | "backup_code" | "mfa_ticket";

export type FactorFailure =
  /** 2FA is not on: there is nothing to check against. */
  | { ok: false; error: "off" }
  /** TOTP attempts on this counter are refused until the lockout passes. */
  | { ok: false; error: "locked"; retryAfterS: number }
  /** Wrong, replayed, used or expired. `reason` is for logs only. */
  | { ok: false; error: "invalid"; reason: string };

export type FactorResult<T> = ({ ok: true; method: FactorMethod } & T) | FactorFailure;

export type ConfirmResult = { ok: true; backupCodes: string[] } | FactorFailure | { ok: false; error: "no_pending" };

/** As GET /api/2fa answers it (PROTOCOL.md §8). */
export type TwoFactorStatus = WireTwoFactorStatus;

interface TotpRow extends Record<string, SqlStorageValue> {
  secret_sealed: string | null;
  enabled_at_ms: number | null;
  last_step: number | null;
  pending_secret_sealed: string | null;
  pending_session_id: string | null;
  pending_expires_at_ms: number | null;
}

/** What a success writes, prepared (async) before the transaction and run inside it. */
type OnSuccess<T> = (nowMs: number) => T;

/** How often a TOTP check is retried when the secret changed under it (re-enrolment, disabling). */
const MAX_SNAPSHOT_RETRIES = 3;

export class TwoFactorStore {
  private readonly sql: SqlStorage;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly dataKey: string | undefined,
    private readonly clock: Clock,
    private readonly activity: ActivityLog,
    private readonly lockouts: MfaLockoutStore,
    private readonly sessions: SessionStore,
  ) {
    this.sql = storage.sql;
  }

  /** One indexed read: is 2FA on? (status() also counts the backup codes left.) */
  isEnabled(): boolean {
    return this.readTotp()?.secret_sealed != null;
  }

  status(): TwoFactorStatus {
    const enabled = this.isEnabled();
    const remaining = enabled
      ? this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM backup_codes WHERE used_at_ms IS NULL").one().n
      : 0;
    return { enabled, backupCodesRemaining: remaining };
  }

  // --- enrolment ---------------------------------------------------------------

  /**
   * Makes a fresh pending secret for `sessionId` (replacing any earlier pending one)
   * and returns it, base32, for the owner's authenticator. The active secret, if
   * any, keeps working until a confirmation replaces it.
   */
  async beginEnrolment(sessionId: string): Promise<{ secretBase32: string; expiresAtMs: number }> {
    const secret = randomBytes(TOTP_SECRET_BYTES);
    const sealed = await sealTotpSecret(await this.keys(), secret);
    const expiresAtMs = this.clock.nowMs() + PENDING_TOTP_TTL_MS;
    this.storage.transactionSync(() => {
      this.ensureTotpRow();
      this.sql.exec(
        "UPDATE totp SET pending_secret_sealed = ?, pending_session_id = ?, pending_expires_at_ms = ? WHERE id = 1",
        sealed,
        sessionId,
        expiresAtMs,
      );
    });
    return { secretBase32: totpSecretToBase32(secret), expiresAtMs };
  }

  /**
   * The first code from the pending secret turns 2FA on: the pending secret becomes
   * the secret, a new set of backup codes replaces any old one, and outstanding
   * tickets die, and every other session is revoked (PROTOCOL.md §8), all in one
   * transaction. Counted on the `session` counter like every /api/2fa route.
   */
  async confirmEnrolment(sessionId: string, code: string): Promise<ConfirmResult> {
    const nowMs = this.clock.nowMs();
    const snapshot = this.readTotp();
    if (
      !snapshot?.pending_secret_sealed ||
      snapshot.pending_session_id !== sessionId ||
      (snapshot.pending_expires_at_ms ?? 0) < nowMs
    ) {
      return { ok: false, error: "no_pending" };
    }
    const keys = await this.keys();
    const secret = await openTotpSecret(keys, snapshot.pending_secret_sealed);
    const steps = findTotpSteps(secret, code, nowMs);
    const fresh = await this.prepareBackupCodes(keys);

    return this.storage.transactionSync((): ConfirmResult => {
      const row = this.readTotp();
      // Another request confirmed or replaced this enrolment while we were computing.
      if (row?.pending_secret_sealed !== snapshot.pending_secret_sealed) return { ok: false, error: "no_pending" };
      const locked = this.lockedVerdict("session", this.clock.nowMs());
      if (locked) return locked;
      // A new secret has its own sequence of codes: no earlier step applies to it.
      const step = pickAcceptableStep(null, steps);
      if (step === null) return this.countFailure("session", sessionId, "wrong code for the pending secret", this.clock.nowMs());

      const at = this.clock.nowMs();
      this.lockouts.reset("session");
      this.sql.exec(
        `UPDATE totp SET secret_sealed = pending_secret_sealed, enabled_at_ms = ?, last_step = ?,
           pending_secret_sealed = NULL, pending_session_id = NULL, pending_expires_at_ms = NULL WHERE id = 1`,
        at,
        step,
      );
      this.sql.exec("DELETE FROM mfa_tickets");
      fresh.store(at);
      this.activity.record("totp_enabled", sessionId, null, at);
      this.sessions.revokeOthers(sessionId, "totp_enabled", at);
      return { ok: true, backupCodes: fresh.codes };
    });
  }

  // --- checking a factor -------------------------------------------------------

  /**
   * Checks one second factor on `counter`. With `issueTicket`, a success also stores
   * and returns a single-use mfa ticket (POST /auth/escrow).
   */
  async checkFactor(
    factor: SecondFactor,
    options: { counter: MfaCounter; sessionId: string | null; issueTicket?: boolean },
  ): Promise<FactorResult<{ mfaTicket?: string }>> {
    let onSuccess: OnSuccess<{ mfaTicket?: string }> = () => ({});
    if (options.issueTicket) {
      const ticket = randomToken(MFA_TICKET_BYTES);
      const hash = await mfaHash(await this.keys(), "mfa-ticket", ticket);
      onSuccess = (nowMs) => {
        this.sql.exec("DELETE FROM mfa_tickets WHERE expires_at_ms < ?", nowMs);
        this.sql.exec("INSERT INTO mfa_tickets (hash, expires_at_ms) VALUES (?, ?)", hash, nowMs + MFA_TICKET_TTL_MS);
        return { mfaTicket: ticket };
      };
    }
    return await this.verify(factor, options.counter, options.sessionId, onSuccess);
  }

  /** Turns 2FA off after a TOTP or backup code: secret, pending secret, codes and tickets go. */
  async disable(factor: { totp: string } | { backupCode: string }, sessionId: string): Promise<FactorResult<object>> {
    return await this.verify(factor, "session", sessionId, (nowMs) => {
      this.sql.exec("DELETE FROM totp");
      this.sql.exec("DELETE FROM backup_codes");
      this.sql.exec("DELETE FROM mfa_tickets");
      this.activity.record("totp_disabled", sessionId, null, nowMs);
      return {};
    });
  }

  /** A new set of backup codes after a TOTP code; the old set stops working in the same write. */
  async regenerateBackupCodes(code: string, sessionId: string): Promise<FactorResult<{ backupCodes: string[] }>> {
    const fresh = await this.prepareBackupCodes(await this.keys());
    return await this.verify({ totp: code }, "session", sessionId, (nowMs) => {
      fresh.store(nowMs);
      this.activity.record("backup_codes_regenerated", sessionId, null, nowMs);
      return { backupCodes: fresh.codes };
    });
  }

  // --- internals ---------------------------------------------------------------

  private async verify<T extends object>(
    factor: SecondFactor,
    counter: MfaCounter,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    if ("totp" in factor) return await this.verifyTotp(factor.totp, counter, sessionId, onSuccess);
    if ("backupCode" in factor) return await this.verifyBackupCode(factor.backupCode, counter, sessionId, onSuccess);
    return await this.verifyTicket(factor.mfaTicket, onSuccess);
  }

  private async verifyTotp<T extends object>(
    code: string,
    counter: MfaCounter,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    for (let attempt = 0; attempt < MAX_SNAPSHOT_RETRIES; attempt++) {
      const snapshot = this.readTotp()?.secret_sealed;
      if (!snapshot) return { ok: false, error: "off" };
      const nowMs = this.clock.nowMs();
      const steps = findTotpSteps(await openTotpSecret(await this.keys(), snapshot), code, nowMs);

      const decided = this.storage.transactionSync((): FactorResult<T> | "stale" => {
        const row = this.readTotp();
        if (!row?.secret_sealed) return { ok: false, error: "off" };
        if (row.secret_sealed !== snapshot) return "stale";
        // Locked: refuse without looking at the code, even a right one, so guesses
        // made while locked tell the guesser nothing.
        const locked = this.lockedVerdict(counter, this.clock.nowMs());
        if (locked) return locked;
        const step = pickAcceptableStep(row.last_step, steps);
        if (step === null) {
          return this.countFailure(counter, sessionId, steps.length > 0 ? "code already used" : "wrong code", this.clock.nowMs());
        }
        const at = this.clock.nowMs();
        this.sql.exec("UPDATE totp SET last_step = ? WHERE id = 1", step);
        this.lockouts.reset(counter);
        return { ok: true, method: "totp", ...onSuccess(at) };
      });
      if (decided !== "stale") return decided;
    }
    return { ok: false, error: "invalid", reason: "the secret kept changing during the check" };
  }

  /**
   * Backup codes are outside the lockout (PROTOCOL.md §8): with 50 bits each they
   * withstand guessing at any rate the per-address limits allow, and they are how an
   * owner whose TOTP is locked out, or lost, gets back in. They neither count as
   * failures nor reset a counter: if using one reset it, the owner recovering on a
   * new device would hand whoever is guessing at /auth/escrow a fresh budget, and
   * the doubling would start over.
   */
  private async verifyBackupCode<T extends object>(
    input: string,
    counter: MfaCounter,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    const normalized = normalizeBackupCode(input);
    const hash = normalized ? await mfaHash(await this.keys(), "backup-code", normalized) : null;
    return this.storage.transactionSync((): FactorResult<T> => {
      if (!this.readTotp()?.secret_sealed) return { ok: false, error: "off" };
      if (!hash) return { ok: false, error: "invalid", reason: "not a backup code" };
      const at = this.clock.nowMs();
      // The conditional UPDATE is the single-use check: one caller changes the row.
      const { rowsWritten } = this.sql.exec(
        "UPDATE backup_codes SET used_at_ms = ? WHERE hash = ? AND used_at_ms IS NULL",
        at,
        hash,
      );
      if (rowsWritten !== 1) return { ok: false, error: "invalid", reason: "unknown or used backup code" };
      const remaining = this.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM backup_codes WHERE used_at_ms IS NULL")
        .one().n;
      this.activity.record("backup_code_used", sessionId, { counter, remaining }, at);
      return { ok: true, method: "backup_code", ...onSuccess(at) };
    });
  }

  /**
   * An mfa ticket stands for a code already checked at /auth/escrow: single use,
   * 300 s, and like a backup code outside the lockout counters.
   */
  private async verifyTicket<T extends object>(
    ticket: string,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    const hash = await mfaHash(await this.keys(), "mfa-ticket", ticket);
    return this.storage.transactionSync((): FactorResult<T> => {
      if (!this.readTotp()?.secret_sealed) return { ok: false, error: "off" };
      const at = this.clock.nowMs();
      const row = this.sql
        .exec<{ expires_at_ms: number }>("DELETE FROM mfa_tickets WHERE hash = ? RETURNING expires_at_ms", hash)
        .toArray()[0];
      if (!row) return { ok: false, error: "invalid", reason: "unknown or used mfa ticket" };
      if (row.expires_at_ms < at) return { ok: false, error: "invalid", reason: "expired mfa ticket" };
      return { ok: true, method: "mfa_ticket", ...onSuccess(at) };
    });
  }

  /** New backup codes and their hashes (async), and a `store` to run inside the transaction. */
  private async prepareBackupCodes(keys: DataKeys) {
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, () => backupCodeFromBytes(randomBytes(BACKUP_CODE_LENGTH)));
    const hashes = await Promise.all(codes.map((code) => mfaHash(keys, "backup-code", code)));
    return {
      codes,
      store: (nowMs: number) => {
        this.sql.exec("DELETE FROM backup_codes");
        for (const hash of hashes) {
          this.sql.exec("INSERT INTO backup_codes (hash, created_at_ms) VALUES (?, ?)", hash, nowMs);
        }
      },
    };
  }

  private readTotp(): TotpRow | undefined {
    return this.sql.exec<TotpRow>("SELECT * FROM totp WHERE id = 1").toArray()[0];
  }

  private ensureTotpRow(): void {
    this.sql.exec("INSERT INTO totp (id) VALUES (1) ON CONFLICT (id) DO NOTHING");
  }

  /** Inside a transaction: the `locked` failure if `counter` is locked now, else null. */
  private lockedVerdict(counter: MfaCounter, nowMs: number): FactorFailure | null {
    const retryAfterS = this.lockouts.lockedForS(counter, nowMs);
    return retryAfterS === null ? null : { ok: false, error: "locked", retryAfterS };
  }

  /** Inside a transaction: counts a TOTP failure (locking the counter at the threshold). */
  private countFailure(counter: MfaCounter, sessionId: string | null, reason: string, nowMs: number): FactorFailure {
    this.lockouts.countFailure(counter, sessionId, nowMs);
    return { ok: false, error: "invalid", reason };
  }

  private keys(): Promise<DataKeys> {
    return loadDataKeys(this.dataKey);
  }
}
