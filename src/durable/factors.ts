/**
 * Checking a second factor inside the instance Durable Object (docs/api.md §4, §8,
 * §12): a TOTP code, a backup code, an mfa ticket or a passkey assertion in, a
 * verdict out. This store decides whether 2FA is on (a confirmed TOTP secret or a
 * passkey), owns the mfa tickets, and counts TOTP failures on the two lockout
 * counters (./mfaLockouts.ts). What changes the factors themselves (enrolment,
 * backup-code sets, adding and removing passkeys) is ./twoFactor.ts, which checks
 * factors through `verify` here.
 *
 * Every check follows the same shape:
 *   1. async preparation, outside any transaction: unseal the secret, compute which
 *      time steps the code matches, HMAC the backup code or ticket, verify the
 *      passkey's signature, and make whatever the success will write (a ticket);
 *   2. one `transactionSync` that re-reads the state, decides, and writes: "accept
 *      a step", "consume a backup code", "consume a ticket", "spend a passkey
 *      challenge" and "count a failure" are each decided exactly once, however many
 *      requests race.
 * Awaiting anything but storage inside a Durable Object lets other requests run in
 * between, so a decision made before an await could be made twice. The preparation
 * only reads a snapshot; the transaction checks that the snapshot still holds.
 */
import { normalizeBackupCode } from "../domain/backupCodes";
import { findTotpSteps, pickAcceptableStep } from "../domain/totp";
import { randomToken } from "../lib/bytes";
import type { Clock } from "../lib/clock";
import { loadDataKeys, mfaHash, openTotpSecret, type DataKeys } from "../lib/dataKeys";
import type { SecondFactorMethod } from "../domain/accessToken";
import type { AuthenticationResponse } from "../schemas/passkeys";
import type { ActivityLog } from "./activityLog";
import type { MfaCounter, MfaLockoutStore } from "./mfaLockouts";
import type { PasskeyStore, RelyingParty } from "./passkeys";

/** docs/api.md §4: an mfa ticket from /auth/escrow is good for one login within 300 s. */
export const MFA_TICKET_TTL_MS = 300_000;
const MFA_TICKET_BYTES = 32;

/** How often a TOTP check is retried when the secret changed under it (re-enrolment, disabling). */
const MAX_SNAPSHOT_RETRIES = 3;

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

/** What a success writes, prepared (async) before the transaction and run inside it. */
export type OnSuccess<T> = (nowMs: number, amr: SecondFactorMethod) => T;

/** The one TOTP row (id = 1): the secret and a pending one, both sealed. */
export interface TotpRow extends Record<string, SqlStorageValue> {
  secret_sealed: string | null;
  enabled_at_ms: number | null;
  last_step: number | null;
  pending_secret_sealed: string | null;
  pending_session_id: string | null;
  pending_expires_at_ms: number | null;
}

export class FactorStore {
  private readonly sql: SqlStorage;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly dataKey: string | undefined,
    private readonly clock: Clock,
    private readonly activity: ActivityLog,
    private readonly lockouts: MfaLockoutStore,
    private readonly passkeys: PasskeyStore,
  ) {
    this.sql = storage.sql;
  }

  /**
   * Is 2FA on? While a confirmed TOTP secret or at least one passkey exists (docs/api.md §12).
   * A caller that has counted the passkeys already passes what it found.
   */
  isEnabled(hasPasskey = this.passkeys.count() > 0): boolean {
    return hasPasskey || this.totpEnabled();
  }

  totpEnabled(): boolean {
    return this.readTotp()?.secret_sealed != null;
  }

  readTotp(): TotpRow | undefined {
    return this.sql.exec<TotpRow>("SELECT * FROM totp WHERE id = 1").toArray()[0];
  }

  /**
   * Checks one second factor on `counter`. With `issueTicket`, a success also stores
   * and returns a single-use mfa ticket (POST /auth/escrow).
   */
  async check(
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
   * The one place that decides how a presented factor is checked. Each branch does
   * its async work first and decides in one transaction; `onSuccess` runs in it.
   */
  async verify<T extends object>(
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

  /** Inside a transaction: every outstanding mfa ticket dies (2FA turned on, or off). */
  dropTickets(): void {
    this.sql.exec("DELETE FROM mfa_tickets");
  }

  /**
   * Inside a transaction: the TOTP decision on `counter`, for the active secret
   * (`lastStep`) or a pending one (null: a new secret has its own sequence of codes).
   * Locked: refused without looking at the code, even a right one, so guesses made
   * while locked tell the guesser nothing. Otherwise the step `steps` allow, which
   * resets the counter, or a failure, which counts (locking it at the threshold).
   */
  decideStep(counter: MfaCounter, sessionId: string | null, lastStep: number | null, steps: number[], nowMs: number): { ok: true; step: number } | FactorFailure {
    const retryAfterS = this.lockouts.lockedForS(counter, nowMs);
    if (retryAfterS !== null) return { ok: false, error: "locked", retryAfterS };
    const step = pickAcceptableStep(lastStep, steps);
    if (step === null) {
      this.lockouts.countFailure(counter, sessionId, nowMs);
      return { ok: false, error: "invalid", reason: steps.length > 0 ? "code already used" : "wrong code" };
    }
    this.lockouts.reset(counter);
    return { ok: true, step };
  }

  // --- one branch per kind -------------------------------------------------------

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
        const at = this.clock.nowMs();
        const decided = this.decideStep(counter, sessionId, row.last_step, steps, at);
        if (!decided.ok) return decided;
        this.sql.exec("UPDATE totp SET last_step = ? WHERE id = 1", decided.step);
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

  /** A TOTP code while no TOTP secret is confirmed: "off" only when no factor is on at all. */
  private noTotp(): FactorFailure {
    return this.isEnabled() ? { ok: false, error: "invalid", reason: "no authenticator app is set up" } : { ok: false, error: "off" };
  }

  private keys(): Promise<DataKeys> {
    return loadDataKeys(this.dataKey);
  }
}
