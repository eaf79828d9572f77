/**
 * Two-factor state inside the instance Durable Object (docs/api.md §8): the TOTP
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
import type { PasskeyStore, PasskeyRefused, RelyingParty } from "./passkeys";
import type { RecoveryStore } from "./recovery";
import type { SessionStore } from "./sessions";
import type { SecondFactorMethod } from "../domain/accessToken";
import type { AuthenticationResponse, PasskeyListing, RegistrationResponse } from "../schemas/passkeys";

/** An enrolment that is never confirmed is forgotten after this long. */
export const PENDING_TOTP_TTL_MS = 10 * 60_000;
/** docs/api.md §4: an mfa ticket from /auth/escrow is good for one login within 300 s. */
export const MFA_TICKET_TTL_MS = 300_000;
const MFA_TICKET_BYTES = 32;

export type { MfaCounter, RelyingParty };

/**
 * The second factors a request can present, one at a time. A passkey carries the
 * relying party it must have been made for (null when ORIGIN cannot have passkeys).
 * One more kind is one more member here and one more branch in `verify`.
 */
export type SecondFactor =
  | { totp: string }
  | { backupCode: string }
  | { mfaTicket: string }
  | { passkey: AuthenticationResponse; rp: RelyingParty | null };
export type FactorMethod = "totp" | "backup_code" | "mfa_ticket" | "passkey";

export type FactorFailure =
  /** 2FA is not on: there is nothing to check against. */
  | { ok: false; error: "off" }
  /** TOTP attempts on this counter are refused until the lockout passes. */
  | { ok: false; error: "locked"; retryAfterS: number }
  /** Wrong, replayed, used or expired. `reason` is for logs only. */
  | { ok: false; error: "invalid"; reason: string };

/** A success names the factor and the amr it adds (a ticket carries the amr that earned it). */
export type FactorResult<T> = ({ ok: true; method: FactorMethod; amr: SecondFactorMethod } & T) | FactorFailure;

export type ConfirmResult = { ok: true; backupCodes: string[] } | FactorFailure | { ok: false; error: "no_pending" };

/** As GET /api/2fa answers it (docs/api.md §8, §12). */
export interface TwoFactorStatus {
  enabled: boolean;
  totp: boolean;
  passkeys: number;
  backupCodesRemaining: number;
}

export type PasskeyRegistered = { ok: true; passkey: PasskeyListing; backupCodes?: string[] } | PasskeyRefused;
export type PasskeyRemoved = { ok: true } | { ok: false; error: "not_found" | "factor_required" } | FactorFailure | TurnOffRefused;

/**
 * Removing the last second factor is refused while a recovery key is set up: the
 * recovery wait needs 2FA on (docs/recovery.md, "Where this differs from the protocol").
 */
export type TurnOffRefused = { ok: false; error: "recovery_configured" };
const TURN_OFF_REFUSED: TurnOffRefused = { ok: false, error: "recovery_configured" };

/** Thrown inside the transaction that would turn 2FA off, so that it rolls back (the factor is not spent). */
class RecoveryNeedsTwoFactor extends Error {}

/**
 * Runs a change that may turn 2FA off (disable, removePasskey): `recovery_configured`
 * when the transaction that would have turned it off refused (clearWhenOff).
 */
export async function unlessRecoveryNeedsIt<T>(change: () => Promise<T>): Promise<T | TurnOffRefused> {
  try {
    return await change();
  } catch (err) {
    if (err instanceof RecoveryNeedsTwoFactor) return TURN_OFF_REFUSED;
    throw err;
  }
}

interface TotpRow extends Record<string, SqlStorageValue> {
  secret_sealed: string | null;
  enabled_at_ms: number | null;
  last_step: number | null;
  pending_secret_sealed: string | null;
  pending_session_id: string | null;
  pending_expires_at_ms: number | null;
}

/** What a success writes, prepared (async) before the transaction and run inside it. */
type OnSuccess<T> = (nowMs: number, amr: SecondFactorMethod) => T;

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
    private readonly passkeys: PasskeyStore,
    private readonly recovery: RecoveryStore,
  ) {
    this.sql = storage.sql;
  }

  /** Is 2FA on? While a confirmed TOTP secret or at least one passkey exists (docs/api.md §12). */
  isEnabled(): boolean {
    return this.totpEnabled() || this.passkeys.count() > 0;
  }

  status(): TwoFactorStatus {
    const totp = this.totpEnabled();
    const passkeys = this.passkeys.count();
    const enabled = totp || passkeys > 0;
    const remaining = enabled
      ? this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM backup_codes WHERE used_at_ms IS NULL").one().n
      : 0;
    return { enabled, totp, passkeys, backupCodesRemaining: remaining };
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
   * tickets die, and every other session is revoked (docs/api.md §8), all in one
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
      onSuccess = (nowMs, amr) => {
        this.sql.exec("DELETE FROM mfa_tickets WHERE expires_at_ms < ?", nowMs);
        this.sql.exec(
          "INSERT INTO mfa_tickets (hash, expires_at_ms, amr) VALUES (?, ?, ?)",
          hash,
          nowMs + MFA_TICKET_TTL_MS,
          amr,
        );
        return { mfaTicket: ticket };
      };
    }
    return await this.verify(factor, options.counter, options.sessionId, onSuccess);
  }

  /**
   * Removes TOTP after a factor: secret and pending secret go. When no passkey is
   * left, 2FA is off, and the backup codes and tickets go with it.
   */
  async disable(factor: SecondFactor, sessionId: string): Promise<FactorResult<object>> {
    if (!this.totpEnabled() && !this.readTotp()?.pending_secret_sealed) return { ok: false, error: "off" };
    return await this.verify(factor, "session", sessionId, (nowMs) => {
      this.sql.exec("DELETE FROM totp");
      if (!this.isEnabled()) this.clearWhenOff();
      this.activity.record("totp_disabled", sessionId, null, nowMs);
      return {};
    });
  }

  /** A new set of backup codes after a TOTP code or a passkey; the old set stops working in the same write. */
  async regenerateBackupCodes(factor: SecondFactor, sessionId: string): Promise<FactorResult<{ backupCodes: string[] }>> {
    const fresh = await this.prepareBackupCodes(await this.keys());
    return await this.verify(factor, "session", sessionId, (nowMs) => {
      fresh.store(nowMs);
      this.activity.record("backup_codes_regenerated", sessionId, null, nowMs);
      return { backupCodes: fresh.codes };
    });
  }

  // --- passkeys (./passkeys.ts) -------------------------------------------------------

  /**
   * Registers a passkey (POST /api/passkeys). When it turns 2FA on, in the same
   * transaction: a new set of backup codes, outstanding tickets die, and every other
   * session is revoked, as a TOTP confirmation does (docs/api.md §12).
   */
  async registerPasskey(
    credential: RegistrationResponse,
    meta: { sessionId: string; name: string; prf: boolean },
    rp: RelyingParty,
  ): Promise<PasskeyRegistered> {
    const prepared = await this.passkeys.prepareRegistration(credential, rp, meta.sessionId, this.clock.nowMs());
    const fresh = await this.prepareBackupCodes(await this.keys());
    return this.storage.transactionSync((): PasskeyRegistered => {
      const at = this.clock.nowMs();
      const wasEnabled = this.isEnabled();
      const stored = this.passkeys.commitRegistration(prepared, meta, at);
      if (!stored.ok || wasEnabled) return stored;
      fresh.store(at);
      this.sql.exec("DELETE FROM mfa_tickets");
      this.sessions.revokeOthers(meta.sessionId, "passkey_added", at);
      return { ...stored, backupCodes: fresh.codes };
    });
  }

  /**
   * Removes a passkey (DELETE /api/passkeys/:id). Removing the last factor (no TOTP,
   * no other passkey) needs a factor, checked in the transaction that removes it, and
   * turns 2FA off. Without a factor, "is it the last?" is decided in the transaction
   * too, so two racing removals cannot both take away a factor unchecked.
   */
  async removePasskey(credentialId: string, factor: SecondFactor | null, sessionId: string): Promise<PasskeyRemoved> {
    const remove = (at: number): boolean => {
      const removed = this.passkeys.remove(credentialId, sessionId, at);
      if (removed && !this.isEnabled()) this.clearWhenOff();
      return removed;
    };
    if (!factor) {
      return this.storage.transactionSync((): PasskeyRemoved => {
        if (!this.passkeys.has(credentialId)) return { ok: false, error: "not_found" };
        if (!this.totpEnabled() && this.passkeys.count() === 1) {
          return this.recovery.isConfigured() ? TURN_OFF_REFUSED : { ok: false, error: "factor_required" };
        }
        remove(this.clock.nowMs());
        return { ok: true };
      });
    }
    if (!this.passkeys.has(credentialId)) return { ok: false, error: "not_found" };
    const result = await this.verify(factor, "session", sessionId, (at) => ({ removed: remove(at) }));
    if (!result.ok) return result.error === "off" ? { ok: false, error: "not_found" } : result;
    return result.removed ? { ok: true } : { ok: false, error: "not_found" };
  }

  // --- internals ---------------------------------------------------------------

  /**
   * The one place that decides how a presented factor is checked. Each branch does
   * its async work first and decides in one transaction; `onSuccess` runs in it.
   */
  private async verify<T extends object>(
    factor: SecondFactor,
    counter: MfaCounter,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    if ("totp" in factor) return await this.verifyTotp(factor.totp, counter, sessionId, onSuccess);
    if ("backupCode" in factor) return await this.verifyBackupCode(factor.backupCode, counter, sessionId, onSuccess);
    if ("passkey" in factor) return await this.verifyPasskey(factor.passkey, factor.rp, sessionId, onSuccess);
    return await this.verifyTicket(factor.mfaTicket, onSuccess);
  }

  /**
   * A passkey in place of a code (docs/api.md §12): outside the TOTP lockout
   * counters, neither counted nor blocked by them, and a success resets nothing.
   */
  private async verifyPasskey<T extends object>(
    response: AuthenticationResponse,
    rp: RelyingParty | null,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    if (!this.isEnabled()) return { ok: false, error: "off" };
    if (!rp) return { ok: false, error: "invalid", reason: "passkeys need an ORIGIN with a domain name" };
    const prepared = await this.passkeys.prepareUse(response, rp, this.clock.nowMs());
    return this.storage.transactionSync((): FactorResult<T> => {
      const at = this.clock.nowMs();
      const used = this.passkeys.commitUse(prepared, sessionId, at);
      if (!used.ok) return { ok: false, error: "invalid", reason: used.reason };
      return { ok: true, method: "passkey", amr: used.amr, ...onSuccess(at, used.amr) };
    });
  }

  private async verifyTotp<T extends object>(
    code: string,
    counter: MfaCounter,
    sessionId: string | null,
    onSuccess: OnSuccess<T>,
  ): Promise<FactorResult<T>> {
    for (let attempt = 0; attempt < MAX_SNAPSHOT_RETRIES; attempt++) {
      const snapshot = this.readTotp()?.secret_sealed;
      if (!snapshot) return this.noTotp();
      const nowMs = this.clock.nowMs();
      const steps = findTotpSteps(await openTotpSecret(await this.keys(), snapshot), code, nowMs);

      const decided = this.storage.transactionSync((): FactorResult<T> | "stale" => {
        const row = this.readTotp();
        if (!row?.secret_sealed) return this.noTotp();
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
        return { ok: true, method: "totp", amr: "otp", ...onSuccess(at, "otp") };
      });
      if (decided !== "stale") return decided;
    }
    return { ok: false, error: "invalid", reason: "the secret kept changing during the check" };
  }

  /**
   * Backup codes are outside the lockout (docs/api.md §8): with 50 bits each they
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
      if (!this.isEnabled()) return { ok: false, error: "off" };
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
      return { ok: true, method: "backup_code", amr: "otp", ...onSuccess(at, "otp") };
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
      if (!this.isEnabled()) return { ok: false, error: "off" };
      const at = this.clock.nowMs();
      const row = this.sql
        .exec<{ expires_at_ms: number; amr: string | null }>(
          "DELETE FROM mfa_tickets WHERE hash = ? RETURNING expires_at_ms, amr",
          hash,
        )
        .toArray()[0];
      if (!row) return { ok: false, error: "invalid", reason: "unknown or used mfa ticket" };
      if (row.expires_at_ms < at) return { ok: false, error: "invalid", reason: "expired mfa ticket" };
      // The ticket carries the amr of the factor that earned it (tickets from before v6: a code).
      const amr = (row.amr ?? "otp") as SecondFactorMethod;
      return { ok: true, method: "mfa_ticket", amr, ...onSuccess(at, amr) };
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

  private totpEnabled(): boolean {
    return this.readTotp()?.secret_sealed != null;
  }

  /** A TOTP code while no TOTP secret is confirmed: "off" only when no factor is on at all. */
  private noTotp(): FactorFailure {
    return this.isEnabled() ? { ok: false, error: "invalid", reason: "no authenticator app is set up" } : { ok: false, error: "off" };
  }

  /**
   * Inside a transaction: 2FA just turned off, so what only exists while it is on
   * goes. While a recovery key is set up it must not turn off: this throws, the
   * transaction rolls back, and the caller answers `recovery_configured`.
   */
  private clearWhenOff(): void {
    if (this.recovery.isConfigured()) throw new RecoveryNeedsTwoFactor();
    this.sql.exec("DELETE FROM backup_codes");
    this.sql.exec("DELETE FROM mfa_tickets");
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
