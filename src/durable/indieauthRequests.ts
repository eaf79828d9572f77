/**
 * IndieAuth's consent half (docs/api.md §14; tables `indieauth_requests`,
 * `indieauth_codes`): the authorization requests the consent page asks the owner
 * about, answered once, and the codes an approval issues, redeemed once. The rules
 * are pure: domain/indieauth/codes.ts and scopes.ts.
 *
 * A code redeemed at the token endpoint creates a grant: this store hands that to
 * ./indieauthGrants.ts (`create`), and a replayed code revokes the grant it created
 * (`revoke`), both in the caller's one `transactionSync` with the code's own write.
 * As there: `prepare…` methods do the async work (random codes, hashes, the PKCE
 * challenge) before the transaction; the rest is synchronous and takes the time as
 * an argument. A code is stored only as its SHA-256 hash (32 random bytes).
 */
import {
  AUTHORIZATION_CODE_TTL_MS,
  AUTHORIZATION_REQUEST_TTL_MS,
  decideCodeRedemption,
  type AuthorizationCodeRecord,
  type CodeGrantRequest,
  type OAuthError,
} from "../domain/indieauth/codes";
import { s256Challenge } from "../domain/indieauth/pkce";
import { formatScope, grantedScopes } from "../domain/indieauth/scopes";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { ActivityLog } from "./activityLog";
import { scopesOf, type GrantTerms, type IndieAuthGrantStore, type IssuedTokens, type PreparedGrant } from "./indieauthGrants";

/**
 * A used or expired code is kept this long, so that presenting it again still
 * revokes what it issued (RFC 6749 §4.1.2), then swept.
 */
const CODE_RETENTION_MS = 24 * 3600_000;

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

/** The owner's answer to a request: approval with the scopes left checked (all when absent), or denial. */
export type OwnerAnswer = { approve: true; scope?: string } | { approve: false };

/** An approval's fresh code, made before the transaction. */
export interface PreparedCode {
  code: string;
  codeHash: string;
}

/** An answered request: where the browser goes, and the code (only ever to the Worker) when approved. */
export type IndieAuthAnswer =
  | { ok: true; redirectUri: string; state: string; clientId: string; scopes: string[]; code: string | null }
  /** `not_found`: unknown, expired or already answered; `scope`: the owner granted a scope the client never asked for. */
  | { ok: false; error: "not_found" | "scope" };

/** A presented code, hashed and checked against its verifier before the transaction. */
export interface PreparedRedemption {
  presented: { codeHash: string; clientId: string; redirectUri: string; verifierChallenge: string };
  /** The new grant's tokens at the token endpoint; null at the authorization endpoint. */
  grant: PreparedGrant | null;
}

export type CodeRedemptionResult =
  | { ok: true; scopes: string[]; tokens: IssuedTokens | null }
  | { ok: false; error: OAuthError };

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

export class IndieAuthRequestStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
    private readonly grants: IndieAuthGrantStore,
  ) {}

  // --- consent requests (10 minutes, answered once) ---------------------------------

  /** Inside a transaction: stores a request under a fresh id and returns it; sweeps expired ones. */
  openRequest(request: NewAuthorizationRequest, nowMs: number): string {
    const id = randomToken(16);
    this.sql.exec("DELETE FROM indieauth_requests WHERE expires_at_ms <= ?", nowMs);
    this.sql.exec(
      "INSERT INTO indieauth_requests (id, client_id, client_name, redirect_uri, state, code_challenge, scopes, created_at_ms, expires_at_ms) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    return id;
  }

  /** The code an approval would issue (null for a denial). */
  async prepareAnswer(answer: OwnerAnswer): Promise<PreparedCode | null> {
    if (!answer.approve) return null;
    const code = randomToken(32);
    return { code, codeHash: await sha256Base64url(code) };
  }

  /**
   * Inside a transaction: answers a live request once. Approval (with `prepared`)
   * checks the granted scopes first (a bad `scope` leaves the request open, so the
   * page can send it again), then marks the request used and stores the code, bound
   * to the request's client, redirect URI, challenge and the granted scopes.
   */
  answerRequest(id: string, answer: OwnerAnswer, prepared: PreparedCode | null, sessionId: string, nowMs: number): IndieAuthAnswer {
    const row = this.sql.exec<RequestRow>("SELECT * FROM indieauth_requests WHERE id = ?", id).toArray()[0];
    if (!row || row.used_at_ms !== null || nowMs >= row.expires_at_ms) return { ok: false, error: "not_found" };
    let scopes: string[] = [];
    if (answer.approve) {
      const granted = grantedScopes(scopesOf(row.scopes), answer.scope);
      if (!granted.ok) return { ok: false, error: "scope" };
      scopes = granted.scopes;
    }
    this.sql.exec("UPDATE indieauth_requests SET used_at_ms = ? WHERE id = ?", nowMs, id);
    const code = answer.approve ? prepared! : null;
    if (code) {
      this.sql.exec("DELETE FROM indieauth_codes WHERE expires_at_ms < ?", nowMs - CODE_RETENTION_MS);
      this.sql.exec(
        "INSERT INTO indieauth_codes (hash, client_id, client_name, redirect_uri, code_challenge, scopes, expires_at_ms) " +
          "VALUES (?, ?, ?, ?, ?, ?, ?)",
        code.codeHash,
        row.client_id,
        row.client_name,
        row.redirect_uri,
        row.code_challenge,
        JSON.stringify(scopes),
        nowMs + AUTHORIZATION_CODE_TTL_MS,
      );
      this.activity.record(
        "app_authorized",
        sessionId,
        { clientId: row.client_id, clientName: row.client_name ?? undefined, scope: formatScope(scopes) },
        nowMs,
      );
    }
    return { ok: true, redirectUri: row.redirect_uri, state: row.state, clientId: row.client_id, scopes, code: code?.code ?? null };
  }

  // --- codes ----------------------------------------------------------------------

  /** The code's hash and the verifier's S256 challenge, and at the token endpoint the new grant's tokens. */
  async prepareRedemption(request: CodeGrantRequest, endpoint: "token" | "authorization"): Promise<PreparedRedemption> {
    const [codeHash, verifierChallenge, grant] = await Promise.all([
      sha256Base64url(request.code),
      s256Challenge(request.codeVerifier),
      endpoint === "token" ? this.grants.prepareGrant() : null,
    ]);
    return { presented: { codeHash, clientId: request.clientId, redirectUri: request.redirectUri, verifierChallenge }, grant };
  }

  /**
   * Inside a transaction: one redemption of a code at the token endpoint (a grant
   * prepared: a successful one creates it) or at the authorization endpoint (none:
   * only the scopes come back, for the profile URL answer). The decision is
   * domain/indieauth/codes.ts's; this writes it: a consumed code is marked used, and
   * a replay revokes the grant the code created.
   */
  redeemCode(prepared: PreparedRedemption, terms: GrantTerms, nowMs: number): CodeRedemptionResult {
    const { presented, grant } = prepared;
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
      if (decision.revokeIssued && row?.grant_id) this.grants.revoke(row.grant_id, "code_replayed", null, nowMs);
      return { ok: false, error: decision.error };
    }
    if (!grant) return { ok: true, scopes: decision.scopes, tokens: null };

    const client = { clientId: row!.client_id, clientName: row!.client_name, scopes: decision.scopes };
    const tokens = this.grants.create(grant, client, terms, nowMs);
    this.sql.exec("UPDATE indieauth_codes SET grant_id = ? WHERE hash = ?", grant.grantId, presented.codeHash);
    return { ok: true, scopes: decision.scopes, tokens };
  }
}
