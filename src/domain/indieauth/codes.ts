/**
 * Authorization codes and the form requests that redeem them (docs/api.md §14,
 * RFC 6749 §4.1.3 and §5.2, RFC 7636 §4.5–4.6, IndieAuth LS §5.3), pure.
 *
 * A code is single use at either endpoint. The Durable Object hashes the presented
 * code, computes `s256Challenge(code_verifier)` (async, before its transaction), then
 * inside one transactionSync loads the record, asks `decideCodeRedemption`, and
 * writes the outcome: `consume` marks the code used, `revokeIssued` revokes the
 * grant the code produced (RFC 6749 §4.1.2: a code presented twice means someone
 * else has it, so what it issued is no longer trusted).
 */
import type { OAuthErrorCode as WireOAuthErrorCode } from "../../schemas/oauth";
import { challengesEqual, isValidCodeVerifier } from "./pkce";
import { canonicalHref } from "./urls";

/** §14: a consent request lives 10 minutes. */
export const AUTHORIZATION_REQUEST_TTL_MS = 10 * 60_000;
/** §14: a code is valid 60 s (LS §5.2.1 recommends at most 10 minutes). */
export const AUTHORIZATION_CODE_TTL_MS = 60_000;
/** §14: 32 random bytes. */
export const AUTHORIZATION_CODE_BYTES = 32;
/** §14: INDIEAUTH_ACCESS_TOKEN_TTL_S default: a week, since many IndieAuth clients never refresh. */
export const DEFAULT_INDIEAUTH_ACCESS_TOKEN_TTL_S = 604_800;

/** What the Durable Object keeps about a code (the code itself only as a hash). */
export interface AuthorizationCodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scopes: string[];
  expiresAtMs: number;
  /** Set by the first redemption attempt; a second one is a replay. */
  usedAtMs: number | null;
}

/** RFC 6749 §5.2 error codes of the form endpoints (the wire's list less RFC 6750's, which are userinfo's). */
export type OAuthErrorCode = Exclude<WireOAuthErrorCode, "invalid_token" | "insufficient_scope">;

export interface OAuthError {
  error: OAuthErrorCode;
  error_description: string;
}

export const oauthError = (error: OAuthErrorCode, error_description: string): OAuthError => ({ error, error_description });

/** RFC 6749 §5.2: 400 for every error but a failed client authentication, which is 401. */
export function oauthErrorStatus(error: OAuthErrorCode): 400 | 401 {
  return error === "invalid_client" ? 401 : 400;
}

export type CodeGrantRequest = {
  grantType: "authorization_code";
  code: string;
  /** Canonical (checkClientId's form) when it parses; as sent otherwise. */
  clientId: string;
  redirectUri: string;
  codeVerifier: string;
};

export type RefreshGrantRequest = {
  grantType: "refresh_token";
  refreshToken: string;
  clientId: string;
  /** null: not sent (or sent empty), i.e. the grant's scopes. */
  scope: string | null;
};

/** The pre-RFC 7009 revocation at the token endpoint (LS §7.1: `action=revoke&token=…`). */
export type LegacyRevokeRequest = { grantType: "revoke"; token: string };

type Parsed<T> = { ok: true; value: T } | { ok: false; error: OAuthError };

const refused = (error: OAuthErrorCode, description: string) => ({ ok: false as const, error: oauthError(error, description) });

/**
 * One parameter of a form: absent or empty is null (RFC 6749 §3.1); sent twice is
 * an error, the caller reports it as invalid_request.
 */
export function single(form: URLSearchParams, name: string): string | null | "repeated" {
  const values = form.getAll(name).filter((v) => v !== "");
  if (values.length > 1) return "repeated";
  return values[0] ?? null;
}

/** A parameter that may be left out: null then; sent twice, `invalid_request`. */
function optional(form: URLSearchParams, name: string): Parsed<string | null> {
  const value = single(form, name);
  return value === "repeated" ? refused("invalid_request", `${name} appears more than once.`) : { ok: true, value };
}

function required(form: URLSearchParams, names: readonly string[]): Parsed<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = optional(form, name);
    if (!value.ok) return value;
    if (value.value === null) return refused("invalid_request", `${name} is missing.`);
    out[name] = value.value;
  }
  return { ok: true, value: out };
}

/**
 * Parses a POST to the token endpoint (`endpoint: "token"`) or to the authorization
 * endpoint (`"authorization"`, LS §5.3.1: the profile URL redemption, where older
 * clients leave out grant_type). Checks presence, repetition and the verifier's
 * syntax (RFC 7636 §4.1; a malformed verifier is `invalid_grant`, since it cannot
 * be the right one, RFC 7636 §4.6); the code, client and redirect are checked by
 * decideCodeRedemption.
 */
export function parseTokenRequest(form: URLSearchParams, endpoint: "token"): Parsed<CodeGrantRequest | RefreshGrantRequest | LegacyRevokeRequest>;
/** The authorization endpoint redeems codes only: any other grant_type is `unsupported_grant_type`. */
export function parseTokenRequest(form: URLSearchParams, endpoint: "authorization"): Parsed<CodeGrantRequest>;
export function parseTokenRequest(
  form: URLSearchParams,
  endpoint: "token" | "authorization",
): Parsed<CodeGrantRequest | RefreshGrantRequest | LegacyRevokeRequest> {
  const sent = optional(form, "grant_type");
  if (!sent.ok) return sent;
  const grantType = sent.value;
  if (endpoint === "token" && grantType === null && single(form, "action") === "revoke") {
    const token = required(form, ["token"]);
    return token.ok ? { ok: true, value: { grantType: "revoke", token: token.value.token! } } : token;
  }
  const effective = grantType ?? (endpoint === "authorization" ? "authorization_code" : null);
  if (effective === null) return refused("invalid_request", "grant_type is missing.");
  if (effective === "authorization_code") {
    const p = required(form, ["code", "client_id", "redirect_uri", "code_verifier"]);
    if (!p.ok) return p;
    if (!isValidCodeVerifier(p.value.code_verifier!)) {
      return refused("invalid_grant", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1).");
    }
    return {
      ok: true,
      value: {
        grantType: "authorization_code",
        code: p.value.code!,
        clientId: canonicalHref(p.value.client_id!),
        redirectUri: canonicalHref(p.value.redirect_uri!),
        codeVerifier: p.value.code_verifier!,
      },
    };
  }
  if (effective === "refresh_token" && endpoint === "token") {
    const p = required(form, ["refresh_token", "client_id"]);
    if (!p.ok) return p;
    const scope = optional(form, "scope");
    if (!scope.ok) return scope;
    return {
      ok: true,
      value: { grantType: "refresh_token", refreshToken: p.value.refresh_token!, clientId: canonicalHref(p.value.client_id!), scope: scope.value },
    };
  }
  return refused("unsupported_grant_type", "grant_type must be authorization_code or refresh_token.");
}

export type CodeRedemptionFailure =
  | "unknown"
  | "replayed"
  | "expired"
  | "no_scope"
  | "client_mismatch"
  | "redirect_mismatch"
  | "wrong_verifier";

export type CodeRedemption =
  | { ok: true; scopes: string[]; consume: true }
  | { ok: false; reason: CodeRedemptionFailure; error: OAuthError; consume: boolean; revokeIssued: boolean };

const CODE_MESSAGES: Record<CodeRedemptionFailure, string> = {
  unknown: "The authorization code is invalid.",
  replayed: "The authorization code was already used.",
  expired: "The authorization code has expired.",
  no_scope: "This code was issued without a scope: redeem it at the authorization endpoint for the profile URL (no access token).",
  client_mismatch: "The authorization code was issued to another client_id.",
  redirect_mismatch: "The redirect_uri differs from the one in the authorization request.",
  wrong_verifier: "The code_verifier does not match the code_challenge.",
};

/**
 * Decides a redemption. `verifierChallenge` is s256Challenge(code_verifier),
 * computed before the transaction. Order matters:
 *  - unknown, replayed (revoke what the code issued), expired;
 *  - a no-scope code at the token endpoint is refused without being used up: the
 *    client knocked at the wrong door (LS §5.3.3) and may still redeem it at the
 *    authorization endpoint;
 *  - from here any attempt uses the code up, right or wrong (RFC 6749 §4.1.2:
 *    "MUST NOT be used more than once"), so a code leaked with a wrong guess at its
 *    verifier is dead, not open to more guesses.
 */
export function decideCodeRedemption(
  record: AuthorizationCodeRecord | null,
  presented: { clientId: string; redirectUri: string; verifierChallenge: string },
  endpoint: "token" | "authorization",
  nowMs: number,
): CodeRedemption {
  const refuse = (reason: CodeRedemptionFailure, consume: boolean, revokeIssued = false): CodeRedemption => ({
    ok: false,
    reason,
    error: oauthError("invalid_grant", CODE_MESSAGES[reason]),
    consume,
    revokeIssued,
  });
  if (!record) return refuse("unknown", false);
  if (record.usedAtMs !== null) return refuse("replayed", false, true);
  if (nowMs >= record.expiresAtMs) return refuse("expired", false);
  if (endpoint === "token" && record.scopes.length === 0) return refuse("no_scope", false);
  if (presented.clientId !== record.clientId) return refuse("client_mismatch", true);
  if (presented.redirectUri !== record.redirectUri) return refuse("redirect_mismatch", true);
  if (!challengesEqual(presented.verifierChallenge, record.codeChallenge)) return refuse("wrong_verifier", true);
  return { ok: true, scopes: record.scopes, consume: true };
}
