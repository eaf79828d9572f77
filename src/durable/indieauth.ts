/**
 * IndieAuth's state (docs/api.md §14; tables `indieauth_*`): the owner's consent
 * requests, authorization codes, grants with their rotating refresh tokens, access
 * tokens, and the profile the `profile` scope shares. The rules are pure and live in
 * src/domain/indieauth/ (codes.ts, grants.ts, scopes.ts) and src/domain/rotation.ts;
 * this store applies them and persists the outcome.
 *
 * Split like SessionStore: async preparation (random tokens, hashes, the successor
 * wrap) in `prepare…` methods, outside any transaction; synchronous methods that
 * decide and write, which the caller (InstanceDO) runs inside its `transactionSync`
 * with the time it read once. Nothing is stored in clear that could be presented:
 * codes, refresh tokens and access tokens are SHA-256 hashes (32 random bytes each,
 * so an unkeyed hash is enough), and a refresh successor is kept only sealed under
 * its predecessor (domain/successorWrap.ts), as for sessions.
 */
import {
  AUTHORIZATION_CODE_TTL_MS,
  AUTHORIZATION_REQUEST_TTL_MS,
  decideCodeRedemption,
  oauthError,
  type AuthorizationCodeRecord,
  type OAuthError,
} from "../domain/indieauth/codes";
import { decideGrantRefresh, isAccessTokenActive } from "../domain/indieauth/grants";
import type { OwnerProfile } from "../domain/indieauth/responses";
import { formatScope, grantedScopes } from "../domain/indieauth/scopes";
import { applyRotation, type RotationPolicy } from "../domain/rotation";
import { openSuccessor, sealSuccessor } from "../domain/successorWrap";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { IndieAuthGrant } from "../schemas/responses";
import type { ActivityLog } from "./activityLog";
import { toTokenState } from "./sessions";

const TOKEN_BYTES = 32;
/**
 * A used or expired code is kept this long, so that presenting it again still
 * revokes what it issued (RFC 6749 §4.1.2), then swept.
 */
const CODE_RETENTION_MS = 24 * 3600_000;
/** A revoked grant is kept this long (its refresh tokens answer "revoked"), then swept. */
const REVOKED_GRANT_RETENTION_MS = 24 * 3600_000;

/** What the consent page asked the owner about (POST /api/indieauth/requests). */
export interface NewAuthorizationRequest {
  clientId: string;
  clientName: string | null;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  /** The grantable scopes, in the client's order. */
  scopes: string[];
}

export type RequestAnswer =
  | { ok: true; redirectUri: string; state: string; clientId: string; scopes: string[] }
  /** `not_found`: unknown, expired or already answered; `scope`: the owner granted a scope the client never asked for. */
  | { ok: false; error: "not_found" | "scope" };

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

export type CodeRedemptionResult =
  | { ok: true; scopes: string[]; tokens: IssuedTokens | null }
  | { ok: false; error: OAuthError };

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

interface RequestRow extends Record<string, SqlStorageValue> {
  id: string;
  client_id: string;
  client_name: string | null;
  redirect_uri: string;
  state: string;
  code_challenge: string;
  scopes: string;
  expires_at_ms: number;
  used_at_ms: number | null;
}

interface CodeRow extends Record<string, SqlStorageValue> {
  hash: string;
  client_id: string;
  client_name: string | null;
  redirect_uri: string;
  code_challenge: string;
  scopes: string;
  expires_at_ms: number;
  used_at_ms: number | null;
  grant_id: string | null;
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

const scopesOf = (json: string) => JSON.parse(json) as string[];

async function freshToken(): Promise<[string, string]> {
  const token = randomToken(TOKEN_BYTES);
  return [token, await sha256Base64url(token)];
}

export class IndieAuthStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
  ) {}

  // --- consent requests (10 minutes, answered once) ---------------------------------

  /** Inside a transaction: stores a request under `id`; sweeps expired ones. */
  openRequest(id: string, request: NewAuthorizationRequest, nowMs: number): void {
    this.sql.exec("DELETE FROM indieauth_requests WHERE expires_at_ms <= ?", nowMs);
    this.sql.exec(
      `INSERT INTO indieauth_requests (id, client_id, client_name, redirect_uri, state, code_challenge, scopes, created_at_ms, expires_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      request.clientId,
      request.clientName,
      request.redirectUri,
      request.state,
      request.codeChallenge,
      JSON.stringify(request.scopes),
      nowMs,
      nowMs + AUTHORIZATION_REQUEST_TTL_MS,
    );
  }

  /**
   * Inside a transaction: answers a live request once. Approval (with `codeHash`)
   * checks the granted scopes first (a bad `scope` leaves the request open, so the
   * page can send it again), then marks the request used and stores the code, bound
   * to the request's client, redirect URI, challenge and the granted scopes.
   */
  answerRequest(
    id: string,
    answer: { approve: true; scope: string | undefined; codeHash: string; sessionId: string } | { approve: false },
    nowMs: number,
  ): RequestAnswer {
    const row = this.sql.exec<RequestRow>("SELECT * FROM indieauth_requests WHERE id = ?", id).toArray()[0];
    if (!row || row.used_at_ms !== null || nowMs >= row.expires_at_ms) return { ok: false, error: "not_found" };
    let scopes: string[] = [];
    if (answer.approve) {
      const granted = grantedScopes(scopesOf(row.scopes), answer.scope);
      if (!granted.ok) return { ok: false, error: "scope" };
      scopes = granted.scopes;
    }
    this.sql.exec("UPDATE indieauth_requests SET used_at_ms = ? WHERE id = ?", nowMs, id);
    if (answer.approve) {
      this.sql.exec("DELETE FROM indieauth_codes WHERE expires_at_ms < ?", nowMs - CODE_RETENTION_MS);
      this.sql.exec(
        `INSERT INTO indieauth_codes (hash, client_id, client_name, redirect_uri, code_challenge, scopes, expires_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        answer.codeHash,
        row.client_id,
        row.client_name,
        row.redirect_uri,
        row.code_challenge,
        JSON.stringify(scopes),
        nowMs + AUTHORIZATION_CODE_TTL_MS,
      );
      this.activity.record(
        "app_authorized",
        answer.sessionId,
        { clientId: row.client_id, ...(row.client_name ? { clientName: row.client_name } : {}), scope: formatScope(scopes) },
        nowMs,
      );
    }
    return { ok: true, redirectUri: row.redirect_uri, state: row.state, clientId: row.client_id, scopes };
  }

  // --- codes ----------------------------------------------------------------------

  async prepareGrant(): Promise<PreparedGrant> {
    const [[accessToken, accessHash], [refreshToken, refreshHash]] = await Promise.all([freshToken(), freshToken()]);
    return { grantId: randomToken(16), accessToken, accessHash, refreshToken, refreshHash };
  }

  /**
   * Inside a transaction: one redemption of a code (hash) at the token endpoint
   * (`grant` given: a successful one creates the grant) or at the authorization
   * endpoint (`grant` null: only the scopes come back, for the profile URL answer).
   * The decision is domain/indieauth/codes.ts's; this writes it: a consumed code is
   * marked used, and a replay revokes the grant the code created.
   */
  redeemCode(
    presented: { codeHash: string; clientId: string; redirectUri: string; verifierChallenge: string },
    grant: { prepared: PreparedGrant; accessTtlMs: number; policy: RotationPolicy } | null,
    nowMs: number,
  ): CodeRedemptionResult {
    const row = this.sql.exec<CodeRow>("SELECT * FROM indieauth_codes WHERE hash = ?", presented.codeHash).toArray()[0];
    const record: AuthorizationCodeRecord | null = row
      ? {
          clientId: row.client_id,
          redirectUri: row.redirect_uri,
          codeChallenge: row.code_challenge,
          scopes: scopesOf(row.scopes),
          expiresAtMs: row.expires_at_ms,
          usedAtMs: row.used_at_ms,
        }
      : null;
    const decision = decideCodeRedemption(record, presented, grant ? "token" : "authorization", nowMs);
    if (decision.consume) this.sql.exec("UPDATE indieauth_codes SET used_at_ms = ? WHERE hash = ?", nowMs, presented.codeHash);
    if (!decision.ok) {
      if (decision.revokeIssued && row?.grant_id) this.revokeGrantRow(row.grant_id, "code_replayed", null, nowMs);
      return { ok: false, error: decision.error };
    }
    if (!grant) return { ok: true, scopes: decision.scopes, tokens: null };

    const { prepared, accessTtlMs, policy } = grant;
    // Grants that can never be used again go, with their tokens (ON DELETE CASCADE).
    this.sql.exec(
      "DELETE FROM indieauth_grants WHERE last_used_at_ms <= ? OR revoked_at_ms < ?",
      nowMs - policy.idleTtlMs,
      nowMs - REVOKED_GRANT_RETENTION_MS,
    );
    this.sql.exec(
      `INSERT INTO indieauth_grants (id, client_id, client_name, scopes, created_at_ms, last_used_at_ms, current_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      prepared.grantId,
      row!.client_id,
      row!.client_name,
      JSON.stringify(decision.scopes),
      nowMs,
      nowMs,
      prepared.refreshHash,
    );
    this.sql.exec(
      "INSERT INTO indieauth_refresh_tokens (hash, grant_id, issued_at_ms) VALUES (?, ?, ?)",
      prepared.refreshHash,
      prepared.grantId,
      nowMs,
    );
    this.sql.exec("UPDATE indieauth_codes SET grant_id = ? WHERE hash = ?", prepared.grantId, presented.codeHash);
    const expiresAtMs = this.insertAccessToken(prepared.accessHash, prepared.grantId, decision.scopes, accessTtlMs, nowMs);
    return {
      ok: true,
      scopes: decision.scopes,
      tokens: { accessToken: prepared.accessToken, refreshToken: prepared.refreshToken, expiresAtMs },
    };
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
      .exec<GrantRow>(
        "SELECT g.* FROM indieauth_refresh_tokens t JOIN indieauth_grants g ON g.id = t.grant_id WHERE t.hash = ?",
        prepared.presentedHash,
      )
      .toArray()[0];
    if (!row) return { kind: "refused", error: oauthError("invalid_grant", "The refresh token is invalid.") };
    const state = toTokenState(row);
    const decision = decideGrantRefresh({ clientId: row.client_id, scopes: scopesOf(row.scopes), tokens: state }, prepared.presentedHash, request, nowMs, policy);
    if (!decision.ok) {
      if (decision.outcome?.kind === "theft") this.revokeGrantRow(row.id, "refresh_token_reuse", null, nowMs);
      return { kind: "refused", error: decision.error };
    }
    const next = applyRotation(state, decision.outcome, prepared.successorHash, nowMs);
    if (decision.outcome.kind === "rotate") {
      this.sql.exec(
        `UPDATE indieauth_grants SET current_hash = ?, previous_hash = ?, rotated_at_ms = ?, last_used_at_ms = ?, successor_wrap = ?
         WHERE id = ?`,
        next.currentHash,
        next.previousHash,
        next.rotatedAtMs,
        next.lastRefreshAtMs,
        prepared.successorWrap,
        row.id,
      );
      this.sql.exec(
        "INSERT INTO indieauth_refresh_tokens (hash, grant_id, issued_at_ms) VALUES (?, ?, ?)",
        prepared.successorHash,
        row.id,
        nowMs,
      );
    } else {
      this.sql.exec("UPDATE indieauth_grants SET last_used_at_ms = ? WHERE id = ?", nowMs, row.id);
    }
    const expiresAtMs = this.insertAccessToken(prepared.accessHash, row.id, decision.scopes, accessTtlMs, nowMs);
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

  // --- access tokens ------------------------------------------------------------------

  private insertAccessToken(hash: string, grantId: string, scopes: string[], ttlMs: number, nowMs: number): number {
    this.sql.exec("DELETE FROM indieauth_access_tokens WHERE expires_at_ms <= ?", nowMs);
    const expiresAtMs = nowMs + ttlMs;
    this.sql.exec(
      "INSERT INTO indieauth_access_tokens (hash, grant_id, scopes, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
      hash,
      grantId,
      JSON.stringify(scopes),
      nowMs,
      expiresAtMs,
    );
    return expiresAtMs;
  }

  /** The access token with this hash, if it is active (its expiry, its grant: domain/indieauth/grants.ts). */
  activeAccessToken(hash: string, policy: Pick<RotationPolicy, "idleTtlMs">, nowMs: number): ActiveAccessToken | null {
    const row = this.sql
      .exec<{
        grant_id: string;
        client_id: string;
        scopes: string;
        issued_at_ms: number;
        expires_at_ms: number;
        created_at_ms: number;
        last_used_at_ms: number;
        revoked_at_ms: number | null;
      }>(
        `SELECT a.grant_id, g.client_id, a.scopes, a.issued_at_ms, a.expires_at_ms, g.created_at_ms, g.last_used_at_ms, g.revoked_at_ms
         FROM indieauth_access_tokens a JOIN indieauth_grants g ON g.id = a.grant_id WHERE a.hash = ?`,
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
    if (row) this.revokeGrantRow(row.grant_id, "revoked_by_client", null, nowMs);
  }

  // --- grants, as the owner sees them ----------------------------------------------------

  /** Live grants (not revoked, not idle past REFRESH_IDLE_TTL_S), newest first. */
  listGrants(policy: Pick<RotationPolicy, "idleTtlMs">, nowMs: number): IndieAuthGrant[] {
    return this.sql
      .exec<Pick<GrantRow, "id" | "client_id" | "client_name" | "scopes" | "created_at_ms" | "last_used_at_ms">>(
        `SELECT id, client_id, client_name, scopes, created_at_ms, last_used_at_ms FROM indieauth_grants
         WHERE revoked_at_ms IS NULL AND last_used_at_ms > ? ORDER BY created_at_ms DESC, id`,
        nowMs - policy.idleTtlMs,
      )
      .toArray()
      .map((r) => ({
        id: r.id,
        clientId: r.client_id,
        ...(r.client_name ? { clientName: r.client_name } : {}),
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
    return live > 0 && this.revokeGrantRow(id, "revoked_by_owner", bySessionId, nowMs);
  }

  /**
   * Revocation is one UPDATE of the grant row, which every refresh and every access
   * token check reads: nothing of the grant works from the next request on. The
   * successor wrap goes with it. Logged as `app_revoked`, with why.
   */
  private revokeGrantRow(id: string, reason: string, bySessionId: string | null, nowMs: number): boolean {
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

  // --- the profile ------------------------------------------------------------------

  /** What the owner set with PUT /api/profile, or null. */
  profile(): OwnerProfile | null {
    const row = this.sql.exec<{ name: string; photo: string | null }>("SELECT name, photo FROM indieauth_profile WHERE id = 1").toArray()[0];
    if (!row) return null;
    return row.photo === null ? { name: row.name } : { name: row.name, photo: row.photo };
  }

  setProfile(profile: OwnerProfile, nowMs: number): void {
    this.sql.exec(
      `INSERT INTO indieauth_profile (id, name, photo, updated_at_ms) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, photo = excluded.photo, updated_at_ms = excluded.updated_at_ms`,
      profile.name,
      profile.photo ?? null,
      nowMs,
    );
  }
}
