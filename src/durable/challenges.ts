/**
 * Login challenges (table `challenges`): single-use nonces, valid CHALLENGE_TTL_MS.
 * Both methods are synchronous and open no transaction, so a caller can issue or
 * consume a challenge inside its own `transactionSync` together with other stores'
 * writes (the rate-limit hit that guards the issue, for one).
 */
import { randomToken } from "../lib/bytes";
import { sweeper } from "./expirySweep";

export const CHALLENGE_TTL_MS = 120_000;
const CHALLENGE_BYTES = 32;

export class ChallengeStore {
  private readonly sweepDue = sweeper();

  constructor(private readonly sql: SqlStorage) {}

  /** Stores a fresh challenge issued at `nowMs`, sweeping expired ones (indexed; ./expirySweep.ts). */
  issue(nowMs: number): { challenge: string; expiresAtMs: number } {
    const challenge = randomToken(CHALLENGE_BYTES);
    const expiresAtMs = nowMs + CHALLENGE_TTL_MS;
    if (this.sweepDue(nowMs)) this.sql.exec("DELETE FROM challenges WHERE expires_at_ms < ?", nowMs);
    this.sql.exec("INSERT INTO challenges (challenge, expires_at_ms) VALUES (?, ?)", challenge, expiresAtMs);
    return { challenge, expiresAtMs };
  }

  /**
   * Single use: the first caller that names a live challenge gets true, all others
   * false. The DELETE is the check-and-set: one statement, so atomic by itself.
   */
  consume(challenge: string, nowMs: number): boolean {
    const row = this.sql
      .exec<{ expires_at_ms: number }>("DELETE FROM challenges WHERE challenge = ? RETURNING expires_at_ms", challenge)
      .toArray()[0];
    return row !== undefined && row.expires_at_ms >= nowMs;
  }
}
