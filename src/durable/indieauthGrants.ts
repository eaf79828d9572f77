/**
 * IndieAuth's grants (docs/api.md §14; tables `indieauth_grants`,
 * `indieauth_refresh_tokens`, `indieauth_access_tokens`): what a code redeemed at the
 * token endpoint created, its refresh tokens rotating on the §5 rules, its access
 * tokens, and their ends (the owner, the client, a replayed code or refresh token).
 * The rules are pure: domain/indieauth/grants.ts and domain/rotation.ts. The consent
 * half (requests and codes) is ./indieauthRequests.ts, which creates a grant through
 * `create` inside the transaction that spends the code.
 *
 * Split like RefreshRotation: async preparation (random tokens, hashes, the successor
 * wrap) in `prepare…` methods, outside any transaction; synchronous methods that
 * decide and write, which the caller (InstanceDO) runs inside its `transactionSync`
 * with the time it read once. Nothing is stored in clear that could be presented:
 * refresh and access tokens are SHA-256 hashes (32 random bytes each, so an unkeyed
 * hash is enough), and a refresh successor is kept only sealed under its predecessor
 * (domain/successorWrap.ts), as for sessions.
 */
import { oauthError, type OAuthError } from "../domain/indieauth/codes";
import { decideGrantRefresh, isAccessTokenActive } from "../domain/indieauth/grants";
import { formatScope } from "../domain/indieauth/scopes";
import { applyRotation, type RotationPolicy } from "../domain/rotation";
import { openSuccessor, sealSuccessor } from "../domain/successorWrap";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { GrantRevocationReason } from "../schemas/grants";
import type { IndieAuthGrant } from "../schemas/responses";
import type { ActivityLog } from "./activityLog";
import { toTokenState } from "./refreshRotation";

const TOKEN_BYTES = 32;
/** A revoked grant is kept this long (its refresh tokens answer "revoked"), then swept. */
const REVOKED_GRANT_RETENTION_MS = 24 * 3600_000;
/**
 * Each grant keeps its newest this many access tokens, so a client that refreshes in
 * a loop cannot fill the object's storage with them; an older one ends early. (Its
 * refresh tokens are all kept, for reuse detection, and bounded by
 * GRANT_MAX_REFRESH_TOKENS in schemas/grants.ts.)
 */
export const GRANT_ACCESS_TOKENS_KEPT = 100;

/** The Worker's settings for a new grant: its access tokens' lifetime, its refresh tokens' §5 policy. */
export interface GrantTerms {
  accessTtlMs: number;
  policy: RotationPolicy;
}

/** Tokens for a new grant, made before the transaction. */
export interface PreparedGrant {
  grantId: string;
  accessToken: string;
  accessHash: string;
  refreshToken: string;
  refreshHash: string;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresAtMs: number;
}

/** What a refresh needs, computed before the transaction. */
export interface PreparedGrantRefresh {
  presentedToken: string;
  presentedHash: string;
  successor: string;
  successorHash: string;
  successorWrap: string;
  accessToken: string;
  accessHash: string;
}

export type GrantRefreshDecision =
  | { kind: "rotated" | "replay"; successorWrap: string | null; grantId: string; scopes: string[]; expiresAtMs: number }
  | { kind: "refused"; error: OAuthError };

export type GrantRefreshResult = { ok: true; scopes: string[]; tokens: IssuedTokens } | { ok: false; error: OAuthError };

/** An active access token, as introspection and userinfo see it. */
export interface ActiveAccessToken {
  clientId: string;
  scopes: string[];
  issuedAtMs: number;
  expiresAtMs: number;
}

interface GrantRow extends Record<string, SqlStorageValue> {
  id: string;
  client_id: string;
  client_name: string | null;
  scopes: string;
  created_at_ms: number;
  last_used_at_ms: number;
  current_hash: string;
  previous_hash: string | null;
  rotated_at_ms: number | null;
  successor_wrap: string | null;
  revoked_at_ms: number | null;
}

interface AccessTokenRow extends Record<string, SqlStorageValue> {
  grant_id: string;
  scopes: string;
  issued_at_ms: number;
  expires_at_ms: number;
}

/** Scopes are stored as a JSON array, in the order they were granted. */
export const scopesOf = (json: string) => JSON.parse(json) as string[];

async function freshToken(): Promise<[string, string]> {
  const token = randomToken(TOKEN_BYTES);
  return [token, await sha256Base64url(token)];
}

export class IndieAuthGrantStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
  ) {}

  // --- a new grant (from ./indieauthRequests.ts, as a code is spent) -----------------

  async prepareGrant(): Promise<PreparedGrant> {
    const [[accessToken, accessHash], [refreshToken, refreshHash]] = await Promise.all([freshToken(), freshToken()]);
    return { grantId: randomToken(16), accessToken, accessHash, refreshToken, refreshHash };
  }

  /** Inside a transaction: stores the grant (for the code's client and scopes), its first tokens; sweeps dead grants. */
  create(prepared: PreparedGrant, client: { clientId: string; clientName: string | null; scopes: string[] }, terms: GrantTerms, nowMs: number): IssuedTokens {
    const { accessTtlMs, policy } = terms;
    // Grants that can never be used again go, with their tokens (ON DELETE CASCADE).
    this.sql.exec(
      "DELETE FROM indieauth_grants WHERE last_used_at_ms <= ? OR revoked_at_ms < ?",
      nowMs - policy.idleTtlMs,
      nowMs - REVOKED_GRANT_RETENTION_MS,
    );
    this.sql.exec(
      "INSERT INTO indieauth_grants (id, client_id, client_name, scopes, created_at_ms, last_used_at_ms, current_hash) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
      prepared.grantId, client.clientId, client.clientName, JSON.stringify(client.scopes), nowMs, nowMs, prepared.refreshHash,
    );
    this.insertRefreshToken(prepared.refreshHash, prepared.grantId, nowMs);
    const expiresAtMs = this.insertAccessToken(prepared.accessHash, prepared.grantId, client.scopes, accessTtlMs, nowMs);
    return { accessToken: prepared.accessToken, refreshToken: prepared.refreshToken, expiresAtMs };
  }

  // --- refresh (the rules of docs/api.md §5) -------------------------------------------

  async prepareRefresh(presentedToken: string): Promise<PreparedGrantRefresh> {
    const successor = randomToken(TOKEN_BYTES);
    const [presentedHash, successorHash, successorWrap, [accessToken, accessHash]] = await Promise.all([
      sha256Base64url(presentedToken),
      sha256Base64url(successor),
      sealSuccessor(presentedToken, successor),
      freshToken(),
    ]);
    return { presentedToken, presentedHash, successor, successorHash, successorWrap, accessToken, accessHash };
  }

  /**
   * Inside a transaction: `grant_type=refresh_token` for the grant the presented
   * token belongs to (domain/indieauth/grants.ts decides). A rotation or a replay
   * issues a new access token; theft revokes the grant.
   */
  decideRefresh(
    prepared: PreparedGrantRefresh,
    request: { clientId: string; scope: string | null },
    policy: RotationPolicy,
    accessTtlMs: number,
    nowMs: number,
  ): GrantRefreshDecision {
    const row = this.sql
      .exec<GrantRow & { issued: number }>(
        "SELECT g.*, (SELECT count(*) FROM indieauth_refresh_tokens WHERE grant_id = g.id) AS issued " +
          "FROM indieauth_refresh_tokens t JOIN indieauth_grants g ON g.id = t.grant_id WHERE t.hash = ?",
        prepared.presentedHash,
      )
      .toArray()[0];
    if (!row) return { kind: "refused", error: oauthError("invalid_grant", "The refresh token is invalid.") };
    const state = toTokenState(row);
    const decision = decideGrantRefresh(
      { clientId: row.client_id, scopes: scopesOf(row.scopes), tokens: state, issued: row.issued },
      prepared.presentedHash,
      request,
      nowMs,
      policy,
    );
    if (!decision.ok) {
      if (decision.outcome?.kind === "theft") this.revoke(row.id, "refresh_token_reuse", null, nowMs);
      if (decision.outcome?.kind === "exhausted") this.revoke(row.id, "refresh_limit", null, nowMs);
      return { kind: "refused", error: decision.error };
    }
    const next = applyRotation(state, decision.outcome, prepared.successorHash, nowMs);
    if (decision.outcome.kind === "rotate") {
      this.sql.exec(
        "UPDATE indieauth_grants SET current_hash = ?, previous_hash = ?, rotated_at_ms = ?, last_used_at_ms = ?, successor_wrap = ? " +
          "WHERE id = ?",
        next.currentHash, next.previousHash, next.rotatedAtMs, next.lastRefreshAtMs, prepared.successorWrap, row.id,
      );
      this.insertRefreshToken(prepared.successorHash, row.id, nowMs);
    } else {
      this.sql.exec("UPDATE indieauth_grants SET last_used_at_ms = ? WHERE id = ?", nowMs, row.id);
    }
    const expiresAtMs = this.insertAccessToken(prepared.accessHash, row.id, decision.scopes, accessTtlMs, nowMs);
    // Rows in insertion order (rowid), walked backwards on the grant_id index.
    this.sql.exec(
      "DELETE FROM indieauth_access_tokens WHERE grant_id = ?1 AND rowid <= " +
        "(SELECT rowid FROM indieauth_access_tokens WHERE grant_id = ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2)",
      row.id,
      GRANT_ACCESS_TOKENS_KEPT,
    );
    return {
      kind: decision.outcome.kind === "rotate" ? "rotated" : "replay",
      successorWrap: row.successor_wrap,
      grantId: row.id,
      scopes: decision.scopes,
      expiresAtMs,
    };
  }

  /** After the transaction: the answer. A replay returns the successor already issued (§5 rule 2). */
  async completeRefresh(prepared: PreparedGrantRefresh, decided: GrantRefreshDecision): Promise<GrantRefreshResult> {
    if (decided.kind === "refused") return { ok: false, error: decided.error };
    let refreshToken = prepared.successor;
    if (decided.kind === "replay") {
      const again = decided.successorWrap && (await openSuccessor(prepared.presentedToken, decided.successorWrap));
      // Sealed under this very token: failing to open it is corrupted storage, a bug.
      if (!again) throw new Error(`successor wrap of grant ${decided.grantId} does not open`);
      refreshToken = again;
    }
    return { ok: true, scopes: decided.scopes, tokens: { accessToken: prepared.accessToken, refreshToken, expiresAtMs: decided.expiresAtMs } };
  }

  // --- tokens --------------------------------------------------------------------------

  private insertRefreshToken(hash: string, grantId: string, nowMs: number): void {
    this.sql.exec("INSERT INTO indieauth_refresh_tokens (hash, grant_id, issued_at_ms) VALUES (?, ?, ?)", hash, grantId, nowMs);
  }

  private insertAccessToken(hash: string, grantId: string, scopes: string[], ttlMs: number, nowMs: number): number {
    this.sql.exec("DELETE FROM indieauth_access_tokens WHERE expires_at_ms <= ?", nowMs);
    const expiresAtMs = nowMs + ttlMs;
    this.sql.exec(
      "INSERT INTO indieauth_access_tokens (hash, grant_id, scopes, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
      hash, grantId, JSON.stringify(scopes), nowMs, expiresAtMs,
    );
    return expiresAtMs;
  }

  /** The access token with this hash, if it is active (its expiry, its grant: domain/indieauth/grants.ts). */
  activeAccessToken(hash: string, policy: Pick<RotationPolicy, "idleTtlMs">, nowMs: number): ActiveAccessToken | null {
    const row = this.sql
      .exec<Pick<GrantRow, "client_id" | "created_at_ms" | "last_used_at_ms" | "revoked_at_ms"> & AccessTokenRow>(
        "SELECT a.grant_id, g.client_id, a.scopes, a.issued_at_ms, a.expires_at_ms, g.created_at_ms, g.last_used_at_ms, g.revoked_at_ms " +
          "FROM indieauth_access_tokens a JOIN indieauth_grants g ON g.id = a.grant_id WHERE a.hash = ?",
        hash,
      )
      .toArray()[0];
    if (!row) return null;
    const token = { grantId: row.grant_id, scopes: scopesOf(row.scopes), issuedAtMs: row.issued_at_ms, expiresAtMs: row.expires_at_ms };
    const grant = { createdAtMs: row.created_at_ms, lastRefreshAtMs: row.last_used_at_ms, revoked: row.revoked_at_ms !== null };
    if (!isAccessTokenActive(token, grant, nowMs, policy)) return null;
    return { clientId: row.client_id, scopes: token.scopes, issuedAtMs: token.issuedAtMs, expiresAtMs: token.expiresAtMs };
  }

  /**
   * Inside a transaction: RFC 7009 revocation by any token. An access token ends
   * alone; a refresh token (current or superseded: either names the grant) ends its
   * grant and with it every token. Anything else changes nothing.
   */
  revokeToken(hash: string, nowMs: number): void {
    if (this.sql.exec("DELETE FROM indieauth_access_tokens WHERE hash = ?", hash).rowsWritten > 0) return;
    const row = this.sql.exec<{ grant_id: string }>("SELECT grant_id FROM indieauth_refresh_tokens WHERE hash = ?", hash).toArray()[0];
    if (row) this.revoke(row.grant_id, "revoked_by_client", null, nowMs);
  }

  // --- grants, as the owner sees them ----------------------------------------------------

  /** Live grants (not revoked, not idle past REFRESH_IDLE_TTL_S), newest first. */
  listGrants(policy: Pick<RotationPolicy, "idleTtlMs">, nowMs: number): IndieAuthGrant[] {
    return this.sql
      .exec<Pick<GrantRow, "id" | "client_id" | "client_name" | "scopes" | "created_at_ms" | "last_used_at_ms">>(
        "SELECT id, client_id, client_name, scopes, created_at_ms, last_used_at_ms FROM indieauth_grants " +
          "WHERE revoked_at_ms IS NULL AND last_used_at_ms > ? ORDER BY created_at_ms DESC, id",
        nowMs - policy.idleTtlMs,
      )
      .toArray()
      .map((r) => ({
        id: r.id,
        clientId: r.client_id,
        clientName: r.client_name ?? undefined,
        scope: formatScope(scopesOf(r.scopes)),
        createdAt: r.created_at_ms,
        lastUsedAt: r.last_used_at_ms,
      }));
  }

  /** Inside a transaction: the owner ends a live grant; false if there is none by that id. */
  revokeGrant(id: string, bySessionId: string, policy: Pick<RotationPolicy, "idleTtlMs">, nowMs: number): boolean {
    const live = this.sql
      .exec("SELECT 1 FROM indieauth_grants WHERE id = ? AND revoked_at_ms IS NULL AND last_used_at_ms > ?", id, nowMs - policy.idleTtlMs)
      .toArray().length;
    return live > 0 && this.revoke(id, "revoked_by_owner", bySessionId, nowMs);
  }

  /**
   * Inside a transaction: revocation is one UPDATE of the grant row, which every
   * refresh and every access token check reads: nothing of the grant works from the
   * next request on. The successor wrap goes with it. Logged as `app_revoked`, with
   * why; false if the grant was already revoked (or swept).
   */
  revoke(id: string, reason: GrantRevocationReason, bySessionId: string | null, nowMs: number): boolean {
    const row = this.sql
      .exec<{ client_id: string }>(
        "UPDATE indieauth_grants SET revoked_at_ms = ?, revoked_reason = ?, successor_wrap = NULL WHERE id = ? AND revoked_at_ms IS NULL RETURNING client_id",
        nowMs,
        reason,
        id,
      )
      .toArray()[0];
    if (!row) return false;
    this.activity.record("app_revoked", bySessionId, { clientId: row.client_id, grantId: id, reason }, nowMs);
    return true;
  }
}
