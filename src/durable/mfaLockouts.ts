/**
 * The two TOTP lockout counters of docs/api.md §8 (table `mfa_lockouts`). The rules
 * (threshold, doubling) are domain/totp.ts; this reads and writes a counter. Every
 * method runs inside the caller's transaction (TwoFactorStore's check), so a failure
 * is counted exactly once however many requests race.
 */
import { checkLockout, registerFailure, UNLOCKED, type LockoutState } from "../domain/totp";
import type { ActivityLog } from "./activityLog";

/**
 * The two failure counters of docs/api.md §8. `escrow` is for /auth/escrow, which
 * anyone can call; `session` is for routes reached only with a valid signature or a
 * session (/auth/login, /auth/reauth, /api/2fa/*). Separate, so that a stranger
 * hammering /auth/escrow cannot lock the owner out of devices that hold the key.
 */
export type MfaCounter = "escrow" | "session";

interface LockoutRow extends Record<string, SqlStorageValue> {
  consecutive_failures: number;
  locked_until_ms: number;
  lockouts: number;
}

export class MfaLockoutStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
  ) {}

  /** Seconds until `counter` unlocks if it is locked at `nowMs`, else null. */
  lockedForS(counter: MfaCounter, nowMs: number): number | null {
    const verdict = checkLockout(this.read(counter), nowMs);
    return verdict.locked ? verdict.retryAfterS : null;
  }

  /** Counts a TOTP failure, locking the counter at the threshold (and logging that). */
  countFailure(counter: MfaCounter, sessionId: string | null, nowMs: number): void {
    const { next, lockedForS } = registerFailure(this.read(counter), nowMs);
    this.sql.exec(
      "INSERT INTO mfa_lockouts (counter, consecutive_failures, locked_until_ms, lockouts) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (counter) DO UPDATE SET consecutive_failures = excluded.consecutive_failures, " +
        "locked_until_ms = excluded.locked_until_ms, lockouts = excluded.lockouts",
      counter,
      next.consecutiveFailures,
      next.lockedUntilMs,
      next.lockouts,
    );
    if (lockedForS !== null) {
      this.activity.record(
        "locked_out",
        sessionId,
        { counter, retryAfterS: lockedForS, failures: next.consecutiveFailures, lockouts: next.lockouts },
        nowMs,
      );
    }
  }

  /** A success on `counter` forgets its failures. */
  reset(counter: MfaCounter): void {
    this.sql.exec("DELETE FROM mfa_lockouts WHERE counter = ?", counter);
  }

  private read(counter: MfaCounter): LockoutState {
    const row = this.sql
      .exec<LockoutRow>("SELECT consecutive_failures, locked_until_ms, lockouts FROM mfa_lockouts WHERE counter = ?", counter)
      .toArray()[0];
    if (!row) return UNLOCKED;
    return { consecutiveFailures: row.consecutive_failures, lockedUntilMs: row.locked_until_ms, lockouts: row.lockouts };
  }
}
