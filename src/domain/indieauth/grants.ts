/**
 * IndieAuth grants: what one approval leaves behind, an access token and a
 * rotating refresh token (docs/api.md §14, RFC 6749 §6, IndieAuth LS §5.5), pure.
 *
 * Rotation reuses the session rules of §5 (domain/rotation.ts) unchanged: a
 * grant's refresh-token state is a SessionTokenState, and §14 asks for exactly
 * rules 1–4 ("within REFRESH_REUSE_GRACE_S the same refresh token comes back with
 * a new access token, and reuse of a superseded one revokes the grant"). Two
 * differences are policy, not rules:
 *  - a grant has no absolute lifetime (§14 only says grants expire after
 *    REFRESH_IDLE_TTL_S unused), so `maxTtlMs` is infinite;
 *  - rule 2 ("mint nothing") concerns the refresh token: the replay answer still
 *    carries a new access token, since IndieAuth access tokens are stored rows, not
 *    stateless JWTs, and the lost response's one is unknown to the client. The
 *    Durable Object returns the same successor through its successor wrap
 *    (domain/successorWrap.ts), as for sessions.
 * What §5 does not have, and this module adds: the client_id and scope checks of a
 * refresh request, in an order that keeps theft detection first.
 */
import { classifyPresented, decideRotation, type RotationOutcome, type RotationPolicy, type SessionTokenState } from "../rotation";
import { oauthError, type OAuthError } from "./codes";
import { includesProfile, narrowedScopes } from "./scopes";
import { GRANT_MAX_REFRESH_TOKENS } from "../../schemas/grants";

export interface GrantState {
  clientId: string;
  scopes: string[];
  tokens: SessionTokenState;
  /** How many refresh tokens the grant was issued, its first included. */
  issued: number;
}

/** The §5 policy for grants: same grace and idle lifetime, no absolute lifetime. */
export function grantRotationPolicy(settings: { refreshReuseGraceS: number; refreshIdleTtlS: number }): RotationPolicy {
  return {
    graceMs: settings.refreshReuseGraceS * 1000,
    idleTtlMs: settings.refreshIdleTtlS * 1000,
    maxTtlMs: Number.POSITIVE_INFINITY,
  };
}

export type GrantRefreshDecision =
  /** Rotate or replay (apply with applyRotation); the new access token gets `scopes`. */
  | { ok: true; outcome: Extract<RotationOutcome, { kind: "rotate" } | { kind: "replay" }>; scopes: string[] }
  /**
   * Refused. `outcome` is set when the grant's state changes (theft, or exhausted: it
   * was issued GRANT_MAX_REFRESH_TOKENS; revoke it) or is reported (expired, revoked).
   */
  | { ok: false; error: OAuthError; outcome: Exclude<RotationOutcome, { kind: "rotate" } | { kind: "replay" }> | { kind: "exhausted" } | null };

/**
 * Decides `grant_type=refresh_token` for a grant found by the presented token's
 * hash. Theft, revocation and expiry are decided first: a superseded token is
 * evidence that a copy exists whoever presents it, so a wrong client_id does not
 * hide it. Then, for a live token, the client_id must be the grant's and the scope
 * may only narrow; those refusals change nothing (the token stays usable by its
 * real client). Only then does a grant at GRANT_MAX_REFRESH_TOKENS end.
 */
export function decideGrantRefresh(
  grant: GrantState,
  presentedHash: string,
  request: { clientId: string; scope: string | null },
  nowMs: number,
  policy: RotationPolicy,
): GrantRefreshDecision {
  const outcome = decideRotation(grant.tokens, classifyPresented(grant.tokens, presentedHash), nowMs, policy);
  if (outcome.kind === "theft") return { ok: false, error: oauthError("invalid_grant", "The refresh token was already used; the grant is revoked."), outcome };
  if (outcome.kind === "revoked") return { ok: false, error: oauthError("invalid_grant", "The grant was revoked."), outcome };
  if (outcome.kind === "expired") return { ok: false, error: oauthError("invalid_grant", "The grant has expired."), outcome };
  if (request.clientId !== grant.clientId) return { ok: false, error: oauthError("invalid_grant", "The refresh token was issued to another client_id."), outcome: null };
  const scopes = narrowedScopes(grant.scopes, request.scope);
  if (!scopes.ok) return { ok: false, error: oauthError("invalid_scope", "scope may only narrow the scopes of the grant."), outcome: null };
  // Last, in place of a rotation (a replay issues no refresh token, so concurrent or
  // retried requests still get the successor already issued): at the bound the grant
  // ends, revoked (its access tokens stop; the security log names the reason).
  if (outcome.kind === "rotate" && grant.issued >= GRANT_MAX_REFRESH_TOKENS) return { ok: false, error: oauthError("invalid_grant", "The grant has expired."), outcome: { kind: "exhausted" } };
  return { ok: true, outcome, scopes: scopes.scopes };
}

/** What the Durable Object keeps about an access token (the token itself only as a hash). */
export interface AccessTokenRecord {
  grantId: string;
  scopes: string[];
  issuedAtMs: number;
  expiresAtMs: number;
}

/**
 * Is an access token active (introspection, userinfo)? Its own expiry, and its
 * grant: revoked (owner, revocation endpoint, theft, code replay) or idle past
 * REFRESH_IDLE_TTL_S ends every token at once, not at the token's expiry.
 */
export function isAccessTokenActive(
  token: AccessTokenRecord,
  grant: Pick<SessionTokenState, "createdAtMs" | "lastRefreshAtMs" | "revoked">,
  nowMs: number,
  policy: Pick<RotationPolicy, "idleTtlMs">,
): boolean {
  if (grant.revoked) return false;
  if (nowMs >= token.expiresAtMs) return false;
  return nowMs - grant.lastRefreshAtMs < policy.idleTtlMs;
}

/**
 * GET /indieauth/userinfo (LS §9, RFC 6750 §3): no token at all gets a bare
 * challenge (no error code in it, RFC 6750 §3.1; the body still says
 * `invalid_token`), an inactive or unknown one `invalid_token` (401), one without
 * the `profile` scope `insufficient_scope` (403).
 */
export function decideUserinfo(
  token: { active: boolean; scopes: readonly string[] } | "absent",
): { ok: true } | { ok: false; status: 401 | 403; error: "invalid_token" | "insufficient_scope"; description: string; wwwAuthenticate: string } {
  if (token === "absent") {
    return { ok: false, status: 401, error: "invalid_token", description: "An access token is required (Authorization: Bearer).", wwwAuthenticate: "Bearer" };
  }
  if (!token.active) {
    return { ok: false, status: 401, error: "invalid_token", description: "The access token is invalid, expired or revoked.", wwwAuthenticate: 'Bearer error="invalid_token"' };
  }
  if (!includesProfile(token.scopes)) {
    return {
      ok: false,
      status: 403,
      error: "insufficient_scope",
      description: "The token was not granted the profile scope.",
      wwwAuthenticate: 'Bearer error="insufficient_scope", scope="profile"',
    };
  }
  return { ok: true };
}
