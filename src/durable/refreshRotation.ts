/**
 * Refresh-token rotation for sessions (docs/api.md §5; tables `sessions`,
 * `refresh_tokens`, whose rows ./sessions.ts creates and revokes). The rules are
 * domain/rotation.ts; a replay gets the successor already issued, kept only sealed
 * under its predecessor (domain/successorWrap.ts).
 *
 * Split like SessionStore, in three steps: `prepare` (async, outside any
 * transaction: the successor, the hashes, the successor's wrap), `decide` (inside the
 * caller's `transactionSync`: applies the rules and writes), `complete` (after the
 * commit: the answer, opening the wrap for a replay).
 */
import type { AuthMethod } from "../domain/accessToken";
import { rotate, type RotationPolicy, type SessionTokenState } from "../domain/rotation";
import { openSuccessor, sealSuccessor } from "../domain/successorWrap";
import { randomToken, sha256Base64url } from "../lib/bytes";
import { REFRESH_TOKEN_BYTES, type SessionGrant, type SessionRow, type SessionStore } from "./sessions";

export type RefreshResult =
  | ({ ok: true; replayed: boolean } & SessionGrant)
  | { ok: false; error: "unknown" | "expired" | "revoked" | "theft" };

/** What a refresh needs, computed before the transaction. */
export interface PreparedRefresh {
  presentedToken: string;
  presentedHash: string;
  successor: string;
  successorHash: string;
  successorWrap: string;
}

/** The stored decision of a refresh; `complete` turns it into the answer. */
export type RefreshDecision =
  | { kind: "rotated" | "replay"; row: SessionRow }
  | { kind: "unknown" | "expired" | "revoked" | "theft" };

/** A refresh-token state from its columns, which sessions and IndieAuth grants (./indieauthGrants.ts) share. */
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

export class RefreshRotation {
  constructor(
    private readonly sql: SqlStorage,
    private readonly sessions: SessionStore,
  ) {}

  async prepare(presentedToken: string): Promise<PreparedRefresh> {
    const successor = randomToken(REFRESH_TOKEN_BYTES);
    const [presentedHash, successorHash, successorWrap] = await Promise.all([
      sha256Base64url(presentedToken),
      sha256Base64url(successor),
      sealSuccessor(presentedToken, successor),
    ]);
    return { presentedToken, presentedHash, successor, successorHash, successorWrap };
  }

  /** Inside a transaction: applies the rotation rules to the presented token's session. */
  decide(prepared: PreparedRefresh, policy: RotationPolicy, nowMs: number): RefreshDecision {
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
          "UPDATE sessions SET current_hash = ?, previous_hash = ?, rotated_at_ms = ?, last_used_at_ms = ?, " +
            "successor_wrap = ? WHERE id = ?",
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
        this.sessions.revokeForTokenReuse(row.id, nowMs);
        return { kind: "theft" };
      case "expired":
        return { kind: "expired" };
      case "revoked":
        return { kind: "revoked" };
    }
  }

  /** After the transaction: the answer. A replay returns the successor already issued. */
  async complete(prepared: PreparedRefresh, decided: RefreshDecision): Promise<RefreshResult> {
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
}
