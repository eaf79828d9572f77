import { describe, expect, it } from "vitest";
import { decideCodeRedemption, oauthErrorStatus, parseTokenRequest, type AuthorizationCodeRecord } from "../../src/domain/indieauth/codes";
import {
  decideGrantRefresh,
  decideUserinfo,
  grantRotationPolicy,
  isAccessTokenActive,
  type GrantState,
} from "../../src/domain/indieauth/grants";
import { s256Challenge } from "../../src/domain/indieauth/pkce";
import { GRANT_MAX_REFRESH_TOKENS } from "../../src/schemas/grants";
import { introspectionResponse, profileUrlResponse, tokenResponse } from "../../src/domain/indieauth/responses";
import { applyRotation, type SessionTokenState } from "../../src/domain/rotation";
import { introspectionResponseSchema, profileUrlResponseSchema, tokenResponseSchema } from "../../src/schemas/oauth";
import { RFC7636_PKCE } from "../helpers/constants";

const T0 = 1_700_000_000_000;
const ME = "https://id.example.test/";
const CLIENT = "https://app.example.com/";
const REDIRECT = "https://app.example.com/cb";
const { verifier: VERIFIER, challenge: CHALLENGE } = RFC7636_PKCE;

const form = (fields: Record<string, string>, extra = "") => new URLSearchParams(new URLSearchParams(fields).toString() + extra);

describe("parseTokenRequest", () => {
  const codeFields = { grant_type: "authorization_code", code: "c", client_id: "https://APP.example.com", redirect_uri: REDIRECT, code_verifier: VERIFIER };

  it("parses an authorization_code request, canonicalizing client_id and redirect_uri", () => {
    expect(parseTokenRequest(form(codeFields), "token")).toEqual({
      ok: true,
      value: { grantType: "authorization_code", code: "c", clientId: CLIENT, redirectUri: REDIRECT, codeVerifier: VERIFIER },
    });
  });

  it("lets the authorization endpoint omit grant_type (older clients), but not the token endpoint", () => {
    const { grant_type: _, ...rest } = codeFields;
    expect(parseTokenRequest(form(rest), "authorization").ok).toBe(true);
    expect(parseTokenRequest(form(rest), "token")).toMatchObject({ ok: false, error: { error: "invalid_request" } });
  });

  it("refuses missing and repeated parameters with invalid_request", () => {
    const { code_verifier: _, ...noVerifier } = codeFields;
    expect(parseTokenRequest(form(noVerifier), "token")).toMatchObject({ ok: false, error: { error: "invalid_request", error_description: "code_verifier is missing." } });
    expect(parseTokenRequest(form({ ...codeFields, code: "" }), "token")).toMatchObject({ ok: false, error: { error: "invalid_request" } });
    expect(parseTokenRequest(form(codeFields, "&code=d"), "token")).toMatchObject({ ok: false, error: { error: "invalid_request" } });
    expect(parseTokenRequest(form(codeFields, "&grant_type=refresh_token"), "token")).toMatchObject({ ok: false, error: { error: "invalid_request" } });
  });

  it("refuses a verifier outside RFC 7636 §4.1's syntax with invalid_grant", () => {
    expect(parseTokenRequest(form({ ...codeFields, code_verifier: "short" }), "token")).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
  });

  it("parses refresh_token requests at the token endpoint only", () => {
    const fields = { grant_type: "refresh_token", refresh_token: "rt", client_id: CLIENT };
    expect(parseTokenRequest(form(fields), "token")).toEqual({ ok: true, value: { grantType: "refresh_token", refreshToken: "rt", clientId: CLIENT, scope: null } });
    expect(parseTokenRequest(form({ ...fields, scope: "create" }), "token")).toMatchObject({ ok: true, value: { scope: "create" } });
    expect(parseTokenRequest(form(fields), "authorization")).toMatchObject({ ok: false, error: { error: "unsupported_grant_type" } });
  });

  it("refuses other grant types", () => {
    expect(parseTokenRequest(form({ grant_type: "password" }), "token")).toMatchObject({ ok: false, error: { error: "unsupported_grant_type" } });
  });

  it("reads the legacy action=revoke at the token endpoint (LS §7.1)", () => {
    expect(parseTokenRequest(form({ action: "revoke", token: "t" }), "token")).toEqual({ ok: true, value: { grantType: "revoke", token: "t" } });
    expect(parseTokenRequest(form({ action: "revoke" }), "token")).toMatchObject({ ok: false, error: { error: "invalid_request" } });
  });
});

describe("decideCodeRedemption", () => {
  const record = (overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord => ({
    clientId: CLIENT,
    redirectUri: REDIRECT,
    codeChallenge: CHALLENGE,
    scopes: ["profile", "create"],
    expiresAtMs: T0 + 60_000,
    usedAtMs: null,
    ...overrides,
  });
  const presented = async (overrides: Partial<{ clientId: string; redirectUri: string; verifier: string }> = {}) => ({
    clientId: overrides.clientId ?? CLIENT,
    redirectUri: overrides.redirectUri ?? REDIRECT,
    verifierChallenge: await s256Challenge(overrides.verifier ?? VERIFIER),
  });

  it("redeems a live code with the right client, redirect and verifier, using it up", async () => {
    expect(decideCodeRedemption(record(), await presented(), "token", T0)).toEqual({ ok: true, scopes: ["profile", "create"], consume: true });
    expect(decideCodeRedemption(record({ scopes: [] }), await presented(), "authorization", T0)).toEqual({ ok: true, scopes: [], consume: true });
  });

  it("refuses an unknown or expired code without touching anything", async () => {
    expect(decideCodeRedemption(null, await presented(), "token", T0)).toMatchObject({ ok: false, reason: "unknown", consume: false, revokeIssued: false });
    expect(decideCodeRedemption(record(), await presented(), "token", T0 + 60_000)).toMatchObject({ ok: false, reason: "expired", consume: false });
  });

  it("treats a second presentation as a replay that revokes what the code issued", async () => {
    const r = decideCodeRedemption(record({ usedAtMs: T0 }), await presented(), "authorization", T0 + 1);
    expect(r).toMatchObject({ ok: false, reason: "replayed", revokeIssued: true, error: { error: "invalid_grant" } });
  });

  it("refuses a code without scope at the token endpoint, leaving it for the authorization endpoint", async () => {
    expect(decideCodeRedemption(record({ scopes: [] }), await presented(), "token", T0)).toMatchObject({
      ok: false,
      reason: "no_scope",
      consume: false,
      error: { error: "invalid_grant" },
    });
  });

  it("uses the code up on a wrong client, redirect or verifier: no second guess", async () => {
    for (const [overrides, reason] of [
      [{ clientId: "https://evil.example/" }, "client_mismatch"],
      [{ redirectUri: "https://app.example.com/other" }, "redirect_mismatch"],
      [{ verifier: "x".repeat(43) }, "wrong_verifier"],
    ] as const) {
      expect(decideCodeRedemption(record(), await presented(overrides), "token", T0)).toMatchObject({
        ok: false,
        reason,
        consume: true,
        revokeIssued: false,
        error: { error: "invalid_grant" },
      });
    }
  });
});

describe("grant refresh: §5 rotation rules with §14's client and scope checks", () => {
  const policy = grantRotationPolicy({ refreshReuseGraceS: 10, refreshIdleTtlS: 100 * 86_400 });
  const tokens = (overrides: Partial<SessionTokenState> = {}): SessionTokenState => ({
    currentHash: "h2",
    previousHash: "h1",
    rotatedAtMs: T0,
    createdAtMs: T0 - 1000,
    lastRefreshAtMs: T0,
    revoked: false,
    ...overrides,
  });
  const grant = (overrides: Partial<SessionTokenState> = {}, issued = 2): GrantState => ({
    clientId: CLIENT,
    scopes: ["profile", "create"],
    tokens: tokens(overrides),
    issued,
  });
  const ask = { clientId: CLIENT, scope: null };

  it(`ends once it was issued ${GRANT_MAX_REFRESH_TOKENS} refresh tokens, with theft still decided first`, () => {
    const spent = GRANT_MAX_REFRESH_TOKENS;
    expect(decideGrantRefresh(grant({}, spent - 1), "h2", ask, T0 + 1000, policy)).toMatchObject({ ok: true, outcome: { kind: "rotate" } });
    const exhausted = { ok: false, error: { error: "invalid_grant", error_description: "The grant has expired." }, outcome: { kind: "exhausted" } };
    // What would rotate: the current token (rule 1), the previous one after the grace (rule 3).
    expect(decideGrantRefresh(grant({}, spent), "h2", ask, T0 + 1000, policy)).toEqual(exhausted);
    expect(decideGrantRefresh(grant({}, spent), "h1", ask, T0 + 60_000, policy)).toEqual(exhausted);
    // A replay within the grace (rule 2) issues no refresh token: it still answers.
    expect(decideGrantRefresh(grant({}, spent), "h1", ask, T0 + 1000, policy)).toMatchObject({ ok: true, outcome: { kind: "replay" } });
    // Another client_id or a wider scope changes nothing, at the bound too.
    expect(decideGrantRefresh(grant({}, spent), "h2", { clientId: "https://evil.example/", scope: null }, T0, policy)).toMatchObject({ ok: false, outcome: null });
    // A superseded token is still a reuse (a thief who ran the count up is caught), and revoked or idle say so.
    expect(decideGrantRefresh(grant({}, spent), "h0", ask, T0 + 1000, policy)).toMatchObject({ ok: false, outcome: { kind: "theft" } });
    expect(decideGrantRefresh(grant({ revoked: true }, spent), "h2", ask, T0, policy)).toMatchObject({ ok: false, outcome: { kind: "revoked" } });
    expect(decideGrantRefresh(grant({}, spent), "h2", ask, T0 + 100 * 86_400_000, policy)).toMatchObject({ ok: false, outcome: { kind: "expired" } });
  });

  it("has no absolute lifetime: a grant used within the idle window lives on", () => {
    expect(policy.maxTtlMs).toBe(Number.POSITIVE_INFINITY);
    const old = grant({ createdAtMs: T0 - 5 * 365 * 86_400_000 });
    expect(decideGrantRefresh(old, "h2", ask, T0 + 1000, policy)).toMatchObject({ ok: true, outcome: { kind: "rotate", rule: 1 } });
  });

  it("rotates the current token (rule 1) and replays the previous one within the grace (rule 2)", () => {
    expect(decideGrantRefresh(grant(), "h2", ask, T0 + 1000, policy)).toEqual({ ok: true, outcome: { kind: "rotate", rule: 1 }, scopes: ["profile", "create"] });
    expect(decideGrantRefresh(grant(), "h1", ask, T0 + 5000, policy)).toMatchObject({ ok: true, outcome: { kind: "replay" } });
    expect(decideGrantRefresh(grant(), "h1", ask, T0 + 20_000, policy)).toMatchObject({ ok: true, outcome: { kind: "rotate", rule: 3 } });
  });

  it("revokes the grant when a superseded token comes back, whatever client_id it names", () => {
    const d = decideGrantRefresh(grant(), "h0", { clientId: "https://evil.example/", scope: null }, T0 + 1000, policy);
    expect(d).toMatchObject({ ok: false, outcome: { kind: "theft" }, error: { error: "invalid_grant" } });
    if (d.ok || d.outcome?.kind !== "theft") throw new Error("expected theft");
    expect(applyRotation(grant().tokens, d.outcome, "unused", T0 + 1000).revoked).toBe(true);
  });

  it("refuses a revoked or idle grant", () => {
    expect(decideGrantRefresh(grant({ revoked: true }), "h2", ask, T0, policy)).toMatchObject({ ok: false, outcome: { kind: "revoked" } });
    expect(decideGrantRefresh(grant(), "h2", ask, T0 + 100 * 86_400_000, policy)).toMatchObject({ ok: false, outcome: { kind: "expired", reason: "idle" } });
  });

  it("refuses another client_id or a wider scope without changing the grant", () => {
    expect(decideGrantRefresh(grant(), "h2", { clientId: "https://evil.example/", scope: null }, T0, policy)).toEqual({
      ok: false,
      outcome: null,
      error: { error: "invalid_grant", error_description: expect.any(String) },
    });
    expect(decideGrantRefresh(grant(), "h2", { clientId: CLIENT, scope: "create delete" }, T0, policy)).toMatchObject({ ok: false, outcome: null, error: { error: "invalid_scope" } });
    expect(decideGrantRefresh(grant(), "h2", { clientId: CLIENT, scope: "create" }, T0, policy)).toMatchObject({ ok: true, scopes: ["create"] });
  });

  it("ends access tokens with their grant: revoked, idle, or their own expiry", () => {
    const token = { grantId: "g", scopes: ["create"], issuedAtMs: T0, expiresAtMs: T0 + 604_800_000 };
    const g = grant().tokens;
    expect(isAccessTokenActive(token, g, T0 + 1000, policy)).toBe(true);
    expect(isAccessTokenActive(token, { ...g, revoked: true }, T0 + 1000, policy)).toBe(false);
    expect(isAccessTokenActive(token, g, T0 + 604_800_000, policy)).toBe(false);
    expect(isAccessTokenActive({ ...token, expiresAtMs: T0 + 200 * 86_400_000 }, g, T0 + 100 * 86_400_000, policy)).toBe(false);
  });
});

describe("response bodies", () => {
  const owner = { name: "Owner", photo: "https://id.example.test/me.jpg" };

  it("token response: profile only with the profile scope", () => {
    const withProfile = tokenResponse({ accessToken: "a", refreshToken: "r", scopes: ["profile", "create"], me: ME, expiresInS: 604_800, owner });
    expect(tokenResponseSchema.parse(withProfile)).toEqual({
      access_token: "a",
      token_type: "Bearer",
      scope: "profile create",
      me: ME,
      expires_in: 604_800,
      refresh_token: "r",
      profile: { name: "Owner", url: ME, photo: "https://id.example.test/me.jpg" },
    });
    const without = tokenResponse({ accessToken: "a", refreshToken: "r", scopes: ["create"], me: ME, expiresInS: 60, owner });
    // As sent: the route answers with c.json, and JSON leaves out an undefined profile.
    expect("profile" in JSON.parse(JSON.stringify(without))).toBe(false);
  });

  it("profile URL response: me, and profile when granted and set", () => {
    expect(profileUrlResponseSchema.parse(profileUrlResponse(ME, [], owner))).toEqual({ me: ME });
    expect(profileUrlResponse(ME, ["profile"], { name: "Owner" })).toEqual({ me: ME, profile: { name: "Owner", url: ME } });
    expect(profileUrlResponse(ME, ["profile"], null)).toEqual({ me: ME });
  });

  it("introspection: seconds for exp and iat; an inactive token says only that", () => {
    const active = introspectionResponse({ me: ME, clientId: CLIENT, scopes: ["create"], issuedAtMs: T0 + 999, expiresAtMs: T0 + 604_800_999 });
    expect(introspectionResponseSchema.parse(active)).toEqual({
      active: true,
      me: ME,
      client_id: CLIENT,
      scope: "create",
      exp: (T0 + 604_800_000) / 1000,
      iat: T0 / 1000,
    });
    expect(introspectionResponseSchema.parse(introspectionResponse(null))).toEqual({ active: false });
  });
});

describe("error statuses", () => {
  it("answers 401 only for invalid_client (RFC 6749 §5.2)", () => {
    expect(oauthErrorStatus("invalid_client")).toBe(401);
    expect(oauthErrorStatus("invalid_grant")).toBe(400);
    expect(oauthErrorStatus("unsupported_grant_type")).toBe(400);
  });

  it("userinfo: a bare challenge without a token, invalid_token, insufficient_scope (RFC 6750 §3)", () => {
    // No token: the challenge names no error (RFC 6750 §3.1); the JSON body says invalid_token.
    expect(decideUserinfo("absent")).toEqual({
      ok: false,
      status: 401,
      error: "invalid_token",
      description: "An access token is required (Authorization: Bearer).",
      wwwAuthenticate: "Bearer",
    });
    expect(decideUserinfo({ active: false, scopes: ["profile"] })).toMatchObject({
      status: 401,
      error: "invalid_token",
      description: "The access token is invalid, expired or revoked.",
      wwwAuthenticate: 'Bearer error="invalid_token"',
    });
    expect(decideUserinfo({ active: true, scopes: ["create"] })).toMatchObject({
      status: 403,
      error: "insufficient_scope",
      description: "The token was not granted the profile scope.",
      wwwAuthenticate: 'Bearer error="insufficient_scope", scope="profile"',
    });
    expect(decideUserinfo({ active: true, scopes: ["profile", "create"] })).toEqual({ ok: true });
  });
});
