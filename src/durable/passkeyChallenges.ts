/**
 * The passkey ceremonies' challenges (docs/api.md §12; table `passkey_challenges`):
 * 32 random bytes, single use, 300 s; a registration challenge is bound to the
 * session that asked for it. ./passkeys.ts checks a response against a live one
 * before its WebCrypto checks (`isLive`, writing nothing) and spends it inside the
 * transaction that decides (`consume`).
 */
import { parseClientDataJSON } from "@oslojs/webauthn";
import { PASSKEY_CHALLENGE_BYTES, PASSKEY_CHALLENGE_TTL_MS } from "../domain/passkeys";
import { base64urlDecode, base64urlEncode, randomBytes } from "../lib/bytes";

export type Ceremony = "registration" | "authentication";

export class PasskeyChallengeStore {
  constructor(private readonly sql: SqlStorage) {}

  /** A fresh challenge (sweeping expired ones); `sessionId` binds a registration one. */
  issue(ceremony: Ceremony, sessionId: string | null, nowMs: number): Uint8Array {
    const bytes = randomBytes(PASSKEY_CHALLENGE_BYTES);
    this.sql.exec("DELETE FROM passkey_challenges WHERE expires_at_ms < ?", nowMs);
    this.sql.exec(
      "INSERT INTO passkey_challenges (challenge, ceremony, session_id, expires_at_ms) VALUES (?, ?, ?, ?)",
      base64urlEncode(bytes),
      ceremony,
      sessionId,
      nowMs + PASSKEY_CHALLENGE_TTL_MS,
    );
    return bytes;
  }

  /** Whether `challenge` is unspent, unexpired, of this ceremony and (registration) this session. Writes nothing. */
  isLive(challenge: string, ceremony: Ceremony, sessionId: string | null, nowMs: number): boolean {
    const row = this.sql
      .exec<{ ceremony: string; session_id: string | null; expires_at_ms: number }>(
        "SELECT ceremony, session_id, expires_at_ms FROM passkey_challenges WHERE challenge = ?",
        challenge,
      )
      .toArray()[0];
    return row !== undefined && row.ceremony === ceremony && row.session_id === sessionId && row.expires_at_ms >= nowMs;
  }

  /**
   * Single use: the DELETE is the check-and-set. A challenge of the other ceremony,
   * or another session's, is left alone for its owner.
   */
  consume(challenge: string, ceremony: Ceremony, sessionId: string | null, nowMs: number): boolean {
    const row = this.sql
      .exec<{ expires_at_ms: number }>(
        "DELETE FROM passkey_challenges WHERE challenge = ? AND ceremony = ? AND session_id IS ? RETURNING expires_at_ms",
        challenge,
        ceremony,
        sessionId,
      )
      .toArray()[0];
    return row !== undefined && row.expires_at_ms >= nowMs;
  }
}

/** The challenge a response answers (base64url), to find it in storage; null if unreadable. */
export function challengeOf(clientDataJSON: string): string | null {
  const bytes = base64urlDecode(clientDataJSON);
  if (!bytes) return null;
  try {
    return base64urlEncode(parseClientDataJSON(bytes).challenge);
  } catch {
    return null;
  }
}
