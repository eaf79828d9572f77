/**
 * Two-factor state inside the instance Durable Object (docs/api.md §8, §12): what
 * changes the factors. TOTP enrolment (the pending secret, sealed, then confirmed),
 * the backup-code sets, turning TOTP off, and the passkey registrations and removals
 * that turn 2FA on or off. Checking a presented factor is ./factors.ts (`verify`):
 * a change that needs a factor passes its writes to `verify` as `onSuccess`, which
 * runs them in the transaction that accepts the factor.
 *
 * Every change follows the shape ./factors.ts describes: async preparation first
 * (unseal, HMAC, make the codes a success returns), then one `transactionSync`
 * that re-reads the state, decides, and writes.
 */
import { BACKUP_CODE_COUNT, BACKUP_CODE_LENGTH, backupCodeFromBytes } from "../domain/backupCodes";
import { findTotpSteps, TOTP_SECRET_BYTES, totpSecretToBase32 } from "../domain/totp";
import { randomBytes } from "../lib/bytes";
import type { Clock } from "../lib/clock";
import { loadDataKeys, mfaHash, openTotpSecret, sealTotpSecret, type DataKeys } from "../lib/dataKeys";
import type { ActivityLog } from "./activityLog";
import type { FactorFailure, FactorResult, FactorStore, SecondFactor } from "./factors";
import type { PasskeyRefused } from "./passkeyRefusals";
import type { PasskeyStore, RelyingParty } from "./passkeys";
import type { RecoveryStore } from "./recovery";
import type { SessionStore } from "./sessions";
import type { RegistrationResponse } from "../schemas/passkeys";
import type { PasskeyListing } from "../schemas/passkeyResponses";

/** An enrolment that is never confirmed is forgotten after this long. */
export const PENDING_TOTP_TTL_MS = 10 * 60_000;

/** `backupCodes` only when this confirmation turned 2FA on (docs/api.md §12). */
export type ConfirmResult = { ok: true; backupCodes?: string[] } | FactorFailure | { ok: false; error: "no_pending" };

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
 * Removing the last second factor is refused while a recovery key is set up (the
 * recovery wait needs 2FA on: docs/recovery.md, "Where this differs from the
 * protocol"), and while the newest escrow opens with a passkey or recovery key (with
 * 2FA off anyone may download it: docs/threat-model.md, finding 21).
 */
export type TurnOffRefused = { ok: false; error: "recovery_configured" } | { ok: false; error: "escrow_opens_with_keys" };
const turnOffRefused = (error: TurnOffRefused["error"]): TurnOffRefused => ({ ok: false, error });

/** Thrown inside the transaction that would turn 2FA off, so that it rolls back (the factor is not spent). */
class TurnOffRefusal extends Error {
  constructor(readonly refused: TurnOffRefused) {
    super();
  }
}

/**
 * Runs a change that may turn 2FA off (disable, removePasskey): `recovery_configured`
 * or `escrow_opens_with_keys` when the transaction that would have turned it off
 * refused (clearWhenOff).
 */
export async function unlessTurningOffIsRefused<T>(change: () => Promise<T>): Promise<T | TurnOffRefused> {
  try {
    return await change();
  } catch (err) {
    if (err instanceof TurnOffRefusal) return err.refused;
    throw err;
  }
}

export class TwoFactorStore {
  private readonly sql: SqlStorage;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly dataKey: string | undefined,
    private readonly clock: Clock,
    private readonly activity: ActivityLog,
    private readonly sessions: SessionStore,
    private readonly passkeys: PasskeyStore,
    private readonly factors: FactorStore,
    private readonly recovery: RecoveryStore,
  ) {
    this.sql = storage.sql;
  }

  status(): TwoFactorStatus {
    const totp = this.factors.totpEnabled();
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
   * The first code from the pending secret makes it the secret; outstanding tickets
   * die and every other session is revoked (docs/api.md §8), all in one transaction.
   * When this turns 2FA on, a new set of backup codes is stored and returned; when
   * 2FA was already on (a passkey, or the secret this one replaces), the backup codes
   * stay as they are and none are returned (docs/api.md §12). Counted on the
   * `session` counter like every /api/2fa route.
   */
  async confirmEnrolment(sessionId: string, code: string): Promise<ConfirmResult> {
    const nowMs = this.clock.nowMs();
    const snapshot = this.factors.readTotp();
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
      const row = this.factors.readTotp();
      // Another request confirmed or replaced this enrolment while we were computing.
      if (row?.pending_secret_sealed !== snapshot.pending_secret_sealed) return { ok: false, error: "no_pending" };
      const at = this.clock.nowMs();
      // A new secret has its own sequence of codes: no earlier step applies to it.
      const decided = this.factors.decideStep("session", sessionId, null, steps, at);
      if (!decided.ok) return decided;
      const turnsOn = !this.factors.isEnabled();
      this.sql.exec(
        "UPDATE totp SET secret_sealed = pending_secret_sealed, enabled_at_ms = ?, last_step = ?, " +
          "pending_secret_sealed = NULL, pending_session_id = NULL, pending_expires_at_ms = NULL WHERE id = 1",
        at,
        decided.step,
      );
      this.factors.dropTickets();
      if (turnsOn) fresh.store(at);
      this.activity.record("totp_enabled", sessionId, null, at);
      this.sessions.revokeOthers(sessionId, "totp_enabled", at);
      return turnsOn ? { ok: true, backupCodes: fresh.codes } : { ok: true };
    });
  }

  // --- changes that need a factor ------------------------------------------------

  /**
   * Removes TOTP after a factor: secret and pending secret go. When no passkey is
   * left, 2FA is off, and the backup codes and tickets go with it. With no TOTP to
   * remove: `off` while 2FA is off, `no_totp` while passkeys keep it on.
   */
  async disable(factor: SecondFactor, sessionId: string, escrowOpensWithKeys: boolean): Promise<FactorResult<object> | { ok: false; error: "no_totp" }> {
    if (!this.factors.totpEnabled() && !this.factors.readTotp()?.pending_secret_sealed) {
      return { ok: false, error: this.factors.isEnabled() ? "no_totp" : "off" };
    }
    return await this.factors.verify(factor, "session", sessionId, (nowMs) => {
      this.sql.exec("DELETE FROM totp");
      if (!this.factors.isEnabled()) this.clearWhenOff(escrowOpensWithKeys);
      // As for a removed passkey: no ticket a removed authenticator app earned outlives it.
      this.factors.dropTickets();
      this.activity.record("totp_disabled", sessionId, null, nowMs);
      return {};
    });
  }

  /** A new set of backup codes after a TOTP code or a passkey; the old set stops working in the same write. */
  async regenerateBackupCodes(factor: SecondFactor, sessionId: string): Promise<FactorResult<{ backupCodes: string[] }>> {
    const fresh = await this.prepareBackupCodes(await this.keys());
    return await this.factors.verify(factor, "session", sessionId, (nowMs) => {
      fresh.store(nowMs);
      this.activity.record("backup_codes_regenerated", sessionId, null, nowMs);
      return { backupCodes: fresh.codes };
    });
  }

  // --- passkeys (./passkeys.ts) ----------------------------------------------------

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
      const wasEnabled = this.factors.isEnabled();
      const stored = this.passkeys.commitRegistration(prepared, meta, at);
      if (!stored.ok || wasEnabled) return stored;
      fresh.store(at);
      this.factors.dropTickets();
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
  async removePasskey(credentialId: string, factor: SecondFactor | null, sessionId: string, escrowOpensWithKeys: boolean): Promise<PasskeyRemoved> {
    const remove = (at: number): boolean => {
      const removed = this.passkeys.remove(credentialId, sessionId, at);
      if (removed && !this.factors.isEnabled()) this.clearWhenOff(escrowOpensWithKeys);
      // A ticket does not say which factor earned it: every open one goes, so none
      // earned with this passkey outlives it (docs/api.md §12).
      if (removed) this.factors.dropTickets();
      return removed;
    };
    if (!factor) {
      return this.storage.transactionSync((): PasskeyRemoved => {
        if (!this.passkeys.has(credentialId)) return { ok: false, error: "not_found" };
        if (!this.factors.totpEnabled() && this.passkeys.count() === 1) {
          return this.recovery.isConfigured() ? turnOffRefused("recovery_configured") : { ok: false, error: "factor_required" };
        }
        remove(this.clock.nowMs());
        return { ok: true };
      });
    }
    if (!this.passkeys.has(credentialId)) return { ok: false, error: "not_found" };
    const result = await this.factors.verify(factor, "session", sessionId, (at) => ({ removed: remove(at) }));
    if (!result.ok) return result.error === "off" ? { ok: false, error: "not_found" } : result;
    return result.removed ? { ok: true } : { ok: false, error: "not_found" };
  }

  // --- internals ---------------------------------------------------------------

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

  /**
   * Inside a transaction: 2FA just turned off, so what only exists while it is on
   * goes. It must not turn off while a recovery key is set up, nor while the newest
   * escrow opens with a passkey or recovery key (domain/escrowBlob.ts): this throws,
   * the transaction rolls back, and the caller answers `recovery_configured` or
   * `escrow_opens_with_keys`.
   */
  private clearWhenOff(escrowOpensWithKeys: boolean): void {
    if (this.recovery.isConfigured()) throw new TurnOffRefusal(turnOffRefused("recovery_configured"));
    if (escrowOpensWithKeys) throw new TurnOffRefusal(turnOffRefused("escrow_opens_with_keys"));
    this.sql.exec("DELETE FROM backup_codes");
    this.factors.dropTickets();
  }

  private ensureTotpRow(): void {
    this.sql.exec("INSERT INTO totp (id) VALUES (1) ON CONFLICT (id) DO NOTHING");
  }

  private keys(): Promise<DataKeys> {
    return loadDataKeys(this.dataKey);
  }
}
