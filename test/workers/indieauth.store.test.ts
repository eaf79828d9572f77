/**
 * IndieAuth's state in the Durable Object (src/durable/indieauthRequests.ts,
 * indieauthGrants.ts and indieauthProfile.ts through InstanceDO's RPC methods,
 * docs/api.md §14), without the routes: consent requests
 * answered once, codes redeemed once (a replay revokes what the code issued), grants
 * rotating on the §5 rules, access tokens that end with their grant, and what
 * happens when many callers race for one single-use thing. The clock is the server's
 * (test/helpers/clock.ts).
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { CodeGrantRequest } from "../../src/domain/indieauth/codes";
import { grantRotationPolicy } from "../../src/domain/indieauth/grants";
import { GRANT_MAX_REFRESH_TOKENS } from "../../src/schemas/grants";
import { GRANT_ACCESS_TOKENS_KEPT } from "../../src/durable/indieauthGrants";
import { sha256Base64url } from "../../src/lib/bytes";
import type { InstanceDO, NewAuthorizationRequest } from "../../src/durable/instance";
import { advanceClock } from "../helpers/clock";
import type { ActivityEntry } from "../../src/schemas/apiResponses";
import { RFC7636_PKCE } from "../helpers/constants";

const stub = env.INSTANCE.get(env.INSTANCE.idFromName("indieauth-store"));
const policy = grantRotationPolicy({ refreshReuseGraceS: 10, refreshIdleTtlS: 8_640_000 });
const rateLimit = { key: "rl:indieauth:store-test", limit: 1_000_000, windowMs: 60_000 };
const ACCESS_TTL_S = 604_800;
const SESSION = "owner-session";
const CLIENT = "https://app.example.com/";
const REDIRECT = "https://app.example.com/callback";
const { verifier: VERIFIER, challenge: CHALLENGE } = RFC7636_PKCE;

const request = (overrides: Partial<NewAuthorizationRequest> = {}): NewAuthorizationRequest => ({
  clientId: CLIENT,
  clientName: "Quill",
  redirectUri: REDIRECT,
  state: "st4te",
  codeChallenge: CHALLENGE,
  scopes: ["profile", "create"],
  ...overrides,
});

/** A code the owner approved, for `scope` (undefined: everything asked for). */
async function approvedCode(scope?: string, overrides: Partial<NewAuthorizationRequest> = {}): Promise<string> {
  const id = await stub.openIndieAuthRequest(request(overrides));
  const answered = await stub.answerIndieAuthRequest(id, scope === undefined ? { approve: true } : { approve: true, scope }, SESSION);
  if (!answered.ok || !answered.code) throw new Error(`approval failed: ${JSON.stringify(answered)}`);
  return answered.code;
}

const codeRequest = (code: string, overrides: Partial<CodeGrantRequest> = {}): CodeGrantRequest => ({
  grantType: "authorization_code",
  code,
  clientId: CLIENT,
  redirectUri: REDIRECT,
  codeVerifier: VERIFIER,
  ...overrides,
});

const redeem = (code: string, overrides: Partial<CodeGrantRequest> = {}, endpoint: "token" | "authorization" = "token") =>
  stub.redeemIndieAuthCode({ rateLimit, request: codeRequest(code, overrides), endpoint, accessTtlS: ACCESS_TTL_S, policy });

async function tokensFor(code: string) {
  const redeemed = await redeem(code);
  if (!redeemed.ok || !redeemed.tokens) throw new Error(`redemption failed: ${JSON.stringify(redeemed)}`);
  return redeemed.tokens;
}

const refresh = (refreshToken: string, overrides: { clientId?: string; scope?: string | null } = {}) =>
  stub.refreshIndieAuthGrant({ rateLimit, refreshToken, clientId: CLIENT, scope: null, accessTtlS: ACCESS_TTL_S, policy, ...overrides });

/** The newest activity entry, read in the object (the activity log's own list). */
async function lastActivity(): Promise<ActivityEntry> {
  return runInDurableObject(stub, (instance: InstanceDO) => instance["activity"].list(undefined, 1)[0]!);
}

/** Unwraps a successful refresh, failing the test otherwise. */
function refreshed(result: Awaited<ReturnType<typeof refresh>>) {
  if (!result.ok) throw new Error(`refresh failed: ${JSON.stringify(result)}`);
  return result.tokens;
}

async function active(token: string) {
  const looked = await stub.indieAuthAccessToken({ rateLimit, token, policy });
  if (!looked.ok) throw new Error("rate limited");
  return looked.token;
}

/** How many refresh and access tokens the grant of `refreshToken` holds, counted in the object. */
async function grantRows(refreshToken: string): Promise<{ refresh: number; access: number }> {
  const hash = await sha256Base64url(refreshToken);
  return runInDurableObject(stub, (_instance: InstanceDO, state) => {
    const count = (table: string) =>
      state.storage.sql
        .exec<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE grant_id = (SELECT grant_id FROM indieauth_refresh_tokens WHERE hash = ?)`, hash)
        .one().n;
    return { refresh: count("indieauth_refresh_tokens"), access: count("indieauth_access_tokens") };
  });
}

describe("consent requests", () => {
  it("approval gives a code bound to the request, answers where to go, and logs app_authorized", async () => {
    const id = await stub.openIndieAuthRequest(request());
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const answered = await stub.answerIndieAuthRequest(id, { approve: true, scope: "create" }, SESSION);
    expect(answered).toEqual({ ok: true, redirectUri: REDIRECT, state: "st4te", clientId: CLIENT, scopes: ["create"], code: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const entry = await lastActivity();
    expect(entry).toMatchObject({ type: "app_authorized", sessionId: SESSION, detail: { clientId: CLIENT, clientName: "Quill", scope: "create" } });
  });

  it("is answered once: approve after approve, deny after approve, approve after deny are all not_found", async () => {
    const a = await stub.openIndieAuthRequest(request());
    expect((await stub.answerIndieAuthRequest(a, { approve: true }, SESSION)).ok).toBe(true);
    expect(await stub.answerIndieAuthRequest(a, { approve: true }, SESSION)).toEqual({ ok: false, error: "not_found" });
    expect(await stub.answerIndieAuthRequest(a, { approve: false }, SESSION)).toEqual({ ok: false, error: "not_found" });
    const d = await stub.openIndieAuthRequest(request());
    expect(await stub.answerIndieAuthRequest(d, { approve: false }, SESSION)).toEqual({ ok: true, redirectUri: REDIRECT, state: "st4te", clientId: CLIENT, scopes: [], code: null });
    expect(await stub.answerIndieAuthRequest(d, { approve: true }, SESSION)).toEqual({ ok: false, error: "not_found" });
    expect(await stub.answerIndieAuthRequest("AAAAAAAAAAAAAAAAAAAAAA", { approve: true }, SESSION)).toEqual({ ok: false, error: "not_found" });
  });

  it("refuses a scope the client never asked for without using the request up", async () => {
    const id = await stub.openIndieAuthRequest(request());
    expect(await stub.answerIndieAuthRequest(id, { approve: true, scope: "profile delete" }, SESSION)).toEqual({ ok: false, error: "scope" });
    expect(await stub.answerIndieAuthRequest(id, { approve: true, scope: "profile" }, SESSION)).toMatchObject({ ok: true, scopes: ["profile"] });
  });

  it("lives 10 minutes", async () => {
    const id = await stub.openIndieAuthRequest(request());
    advanceClock(10 * 60_000);
    expect(await stub.answerIndieAuthRequest(id, { approve: true }, SESSION)).toEqual({ ok: false, error: "not_found" });
  });

  it("of 20 concurrent approvals, exactly one gets a code", async () => {
    const id = await stub.openIndieAuthRequest(request());
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => stub.answerIndieAuthRequest(id, i % 2 ? { approve: true } : { approve: false }, SESSION)));
    expect(answers.filter((a) => a.ok)).toHaveLength(1);
    expect(answers.filter((a) => !a.ok).every((a) => !a.ok && a.error === "not_found")).toBe(true);
  });
});

describe("codes", () => {
  it("redeem once for a grant whose access token is active, with the granted scopes", async () => {
    const code = await approvedCode("profile create");
    const redeemed = await redeem(code);
    expect(redeemed).toMatchObject({ ok: true, scopes: ["profile", "create"], profile: null, tokens: { accessToken: expect.any(String), refreshToken: expect.any(String) } });
    const tokens = (redeemed.ok && redeemed.tokens) || { accessToken: "", refreshToken: "" };
    expect(await active(tokens.accessToken)).toMatchObject({ clientId: CLIENT, scopes: ["profile", "create"] });
    // A refresh token is not an access token.
    expect(await active(tokens.refreshToken)).toBeNull();
  });

  it("presented again, refuse it and revoke the grant it created", async () => {
    const code = await approvedCode();
    const tokens = await tokensFor(code);
    expect(await redeem(code)).toMatchObject({ ok: false, error: { error: "invalid_grant", error_description: expect.stringMatching(/already used/) } });
    expect(await active(tokens.accessToken)).toBeNull();
    expect(await refresh(tokens.refreshToken)).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
    const entry = await lastActivity();
    expect(entry).toMatchObject({ type: "app_revoked", detail: { clientId: CLIENT, reason: "code_replayed" } });
  });

  it("is used up by a wrong verifier, another client or another redirect URI", async () => {
    for (const wrong of [
      { codeVerifier: "x".repeat(43) },
      { clientId: "https://other.example.com/" },
      { redirectUri: "https://app.example.com/other" },
    ]) {
      const code = await approvedCode();
      expect(await redeem(code, wrong)).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
      expect(await redeem(code)).toMatchObject({ ok: false, error: { error_description: expect.stringMatching(/already used/) } });
    }
  });

  it("expires after 60 s", async () => {
    const code = await approvedCode();
    advanceClock(60_000);
    expect(await redeem(code)).toMatchObject({ ok: false, error: { error: "invalid_grant", error_description: expect.stringMatching(/expired/) } });
  });

  it("without a scope, is refused at the token endpoint but still redeems at the authorization endpoint, once", async () => {
    const code = await approvedCode("");
    expect(await redeem(code)).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
    expect(await redeem(code, {}, "authorization")).toEqual({ ok: true, scopes: [], tokens: null, profile: null });
    expect(await redeem(code, {}, "authorization")).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
  });

  it("of 20 concurrent redemptions, exactly one gets tokens, and the replays revoke them", async () => {
    const code = await approvedCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => redeem(code)));
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.error !== "rate_limited" && r.error.error === "invalid_grant")).toHaveLength(19);
    const winner = winners[0]!;
    expect(await active(winner.ok && winner.tokens ? winner.tokens.accessToken : "")).toBeNull();
  });
});

describe("grants: refresh-token rotation on the rules of §5", () => {
  it("rotates, keeps the grant's scopes, narrows only the new access token, and refuses a wider scope or another client", async () => {
    const first = await tokensFor(await approvedCode("profile create"));
    const narrowed = await refresh(first.refreshToken, { scope: "create" });
    expect(narrowed).toMatchObject({ ok: true, scopes: ["create"] });
    const second = refreshed(narrowed);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(await active(second.accessToken)).toMatchObject({ scopes: ["create"] });
    // The old access token lives on until it expires.
    expect(await active(first.accessToken)).toMatchObject({ scopes: ["profile", "create"] });
    expect(await refresh(second.refreshToken, { scope: "create delete" })).toMatchObject({ ok: false, error: { error: "invalid_scope" } });
    expect(await refresh(second.refreshToken, { clientId: "https://other.example.com/" })).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
    // Neither refusal used the token up.
    expect(await refresh(second.refreshToken)).toMatchObject({ ok: true, scopes: ["profile", "create"] });
  });

  it("rule 2: the previous token within the grace returns the same successor with a new access token", async () => {
    const first = await tokensFor(await approvedCode());
    const a = await refresh(first.refreshToken);
    const b = await refresh(first.refreshToken);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(b.tokens.refreshToken).toBe(a.tokens.refreshToken);
    expect(b.tokens.accessToken).not.toBe(a.tokens.accessToken);
    expect(await active(b.tokens.accessToken)).not.toBeNull();
  });

  it("rule 3 then rule 4: after the grace an unused successor dies, and presenting it revokes the grant", async () => {
    const first = await tokensFor(await approvedCode());
    const a = await refresh(first.refreshToken);
    if (!a.ok) throw new Error("refresh failed");
    advanceClock(11_000);
    const b = await refresh(first.refreshToken);
    if (!b.ok) throw new Error("refresh failed");
    expect(b.tokens.refreshToken).not.toBe(a.tokens.refreshToken);
    expect(await refresh(a.tokens.refreshToken)).toMatchObject({ ok: false, error: { error: "invalid_grant" } });
    expect(await refresh(b.tokens.refreshToken)).toMatchObject({ ok: false, error: { error: "invalid_grant", error_description: expect.stringMatching(/revoked/) } });
    expect(await active(b.tokens.accessToken)).toBeNull();
    const entry = await lastActivity();
    expect(entry).toMatchObject({ type: "app_revoked", detail: { reason: "refresh_token_reuse" } });
  });

  it("20 concurrent refreshes of one token: one rotation, the rest replay it; the grant stays live", async () => {
    const first = await tokensFor(await approvedCode());
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refreshToken)));
    expect(results.every((r) => r.ok)).toBe(true);
    const successors = new Set(results.map((r) => r.ok && r.tokens.refreshToken));
    expect(successors.size).toBe(1);
    expect(new Set(results.map((r) => r.ok && r.tokens.accessToken)).size).toBe(20);
    const [successor] = [...successors] as string[];
    expect(await refresh(successor!)).toMatchObject({ ok: true });
  });

  it(`keeps each grant's newest ${GRANT_ACCESS_TOKENS_KEPT} access tokens and every refresh token: a client refreshing in a loop cannot fill storage`, async () => {
    const first = await tokensFor(await approvedCode());
    const other = await tokensFor(await approvedCode());
    const issued = [first];
    for (let i = 0; i < GRANT_ACCESS_TOKENS_KEPT + 5; i++) issued.push(refreshed(await refresh(issued.at(-1)!.refreshToken)));
    expect(await grantRows(issued.at(-1)!.refreshToken)).toEqual({ refresh: GRANT_ACCESS_TOKENS_KEPT + 6, access: GRANT_ACCESS_TOKENS_KEPT });
    // The newest access tokens still work, the oldest are gone; another grant's are untouched.
    expect(await active(issued.at(-1)!.accessToken)).not.toBeNull();
    expect(await active(issued.at(-GRANT_ACCESS_TOKENS_KEPT)!.accessToken)).not.toBeNull();
    expect(await active(issued.at(-GRANT_ACCESS_TOKENS_KEPT - 1)!.accessToken)).toBeNull();
    expect(await active(other.accessToken)).not.toBeNull();
    // The very first refresh token is still known: presented again, it is a reuse that revokes the grant (§5 rule 4).
    expect(await refresh(first.refreshToken)).toMatchObject({ ok: false, error: { error: "invalid_grant", error_description: expect.stringMatching(/revoked/) } });
    expect(await lastActivity()).toMatchObject({ type: "app_revoked", detail: { reason: "refresh_token_reuse" } });
  });

  /** A new grant with `filled` refresh-token rows added, as if it had rotated that often before (rows only refreshes write). */
  async function grantWithIssued(filled: number) {
    const first = await tokensFor(await approvedCode());
    const grantId = await runInDurableObject(stub, (_instance: InstanceDO, state) => {
      const id = state.storage.sql.exec<{ id: string }>("SELECT id FROM indieauth_grants ORDER BY rowid DESC LIMIT 1").one().id;
      for (let i = 0; i < filled; i++) {
        state.storage.sql.exec("INSERT INTO indieauth_refresh_tokens (hash, grant_id, issued_at_ms) VALUES (?, ?, 0)", `old-${id}-${i}`, id);
      }
      return id;
    });
    return { first, grantId };
  }

  /** The grant's app_revoked entries, oldest first. */
  const revocations = (grantId: string) =>
    runInDurableObject(stub, (instance: InstanceDO) =>
      instance["activity"].list(undefined, 100).filter((e) => e.type === "app_revoked" && e.detail?.grantId === grantId),
    );

  it(`ends a grant at its next rotation once it was issued ${GRANT_MAX_REFRESH_TOKENS} refresh tokens: revoked (refresh_limit), its access tokens with it`, async () => {
    const { first, grantId } = await grantWithIssued(GRANT_MAX_REFRESH_TOKENS - 2);
    const last = refreshed(await refresh(first.refreshToken));
    expect(await grantRows(last.refreshToken)).toMatchObject({ refresh: GRANT_MAX_REFRESH_TOKENS });
    expect(await active(last.accessToken)).not.toBeNull();
    // A replay of the previous token within the grace issues no refresh token: it still answers.
    expect(refreshed(await refresh(first.refreshToken)).refreshToken).toBe(last.refreshToken);
    expect(await refresh(last.refreshToken)).toEqual({ ok: false, error: { error: "invalid_grant", error_description: "The grant has expired." } });
    // No refresh token was issued; the grant is revoked, so its access tokens stop; logged once, with why.
    expect(await grantRows(last.refreshToken)).toMatchObject({ refresh: GRANT_MAX_REFRESH_TOKENS });
    expect(await active(last.accessToken)).toBeNull();
    expect(await refresh(last.refreshToken)).toMatchObject({ ok: false, error: { error_description: expect.stringMatching(/revoked/) } });
    expect((await revocations(grantId)).map((e) => e.detail?.reason)).toEqual(["refresh_limit"]);
  });

  it("at the bound, a superseded token is still a reuse: the grant is revoked as refresh_token_reuse", async () => {
    const { first, grantId } = await grantWithIssued(GRANT_MAX_REFRESH_TOKENS - 3);
    const a = refreshed(await refresh(first.refreshToken));
    const b = refreshed(await refresh(a.refreshToken));
    expect(await grantRows(b.refreshToken)).toMatchObject({ refresh: GRANT_MAX_REFRESH_TOKENS });
    expect(await refresh(first.refreshToken)).toMatchObject({ ok: false, error: { error_description: expect.stringMatching(/already used/) } });
    expect(await active(b.accessToken)).toBeNull();
    expect((await revocations(grantId)).map((e) => e.detail?.reason)).toEqual(["refresh_token_reuse"]);
  });

  it("20 concurrent refreshes as the grant reaches the bound: one rotation, the rest replay it, nothing revoked", async () => {
    const { first, grantId } = await grantWithIssued(GRANT_MAX_REFRESH_TOKENS - 2);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refreshToken)));
    expect(results.every((r) => r.ok)).toBe(true);
    const successors = new Set(results.map((r) => r.ok && r.tokens.refreshToken));
    expect(successors.size).toBe(1);
    expect(await revocations(grantId)).toEqual([]);
    // The next rotation is the one past the bound.
    expect(await refresh([...successors][0] as string)).toMatchObject({ ok: false, error: { error_description: "The grant has expired." } });
    expect((await revocations(grantId)).map((e) => e.detail?.reason)).toEqual(["refresh_limit"]);
  });

  it("a grant idle past REFRESH_IDLE_TTL_S ends, its access tokens with it", async () => {
    const short = grantRotationPolicy({ refreshReuseGraceS: 10, refreshIdleTtlS: 3600 });
    const first = await tokensFor(await approvedCode());
    advanceClock(3600_000);
    const looked = await stub.indieAuthAccessToken({ rateLimit, token: first.accessToken, policy: short });
    expect(looked).toMatchObject({ ok: true, token: null });
    expect(await stub.refreshIndieAuthGrant({ rateLimit, refreshToken: first.refreshToken, clientId: CLIENT, scope: null, accessTtlS: ACCESS_TTL_S, policy: short })).toMatchObject({
      ok: false,
      error: { error: "invalid_grant", error_description: expect.stringMatching(/expired/) },
    });
    expect((await stub.listIndieAuthGrants(short)).length).toBe(0);
    // Under the default lifetime the same grant is still live.
    expect(await active(first.accessToken)).not.toBeNull();
  });
});

describe("revocation", () => {
  it("an access token ends alone; a refresh token ends the grant; the owner ends a grant by id", async () => {
    const one = await tokensFor(await approvedCode());
    const two = await refresh(one.refreshToken);
    if (!two.ok) throw new Error("refresh failed");
    expect(await stub.revokeIndieAuthToken(rateLimit, one.accessToken)).toEqual({ ok: true });
    expect(await active(one.accessToken)).toBeNull();
    expect(await active(two.tokens.accessToken)).not.toBeNull();
    expect(await stub.revokeIndieAuthToken(rateLimit, two.tokens.refreshToken)).toEqual({ ok: true });
    expect(await active(two.tokens.accessToken)).toBeNull();
    expect(await stub.revokeIndieAuthToken(rateLimit, "nothing-at-all")).toEqual({ ok: true });

    const three = await tokensFor(await approvedCode());
    const grants = await stub.listIndieAuthGrants(policy);
    const grant = grants[0]!;
    expect(grant).toMatchObject({ clientId: CLIENT, clientName: "Quill", scope: "profile create" });
    expect(await stub.revokeIndieAuthGrant(grant.id, SESSION, policy)).toBe(true);
    expect(await stub.revokeIndieAuthGrant(grant.id, SESSION, policy)).toBe(false);
    expect(await active(three.accessToken)).toBeNull();
    expect((await stub.listIndieAuthGrants(policy)).map((g) => g.id)).not.toContain(grant.id);
    const entry = await lastActivity();
    expect(entry).toMatchObject({ type: "app_revoked", sessionId: SESSION, detail: { grantId: grant.id, reason: "revoked_by_owner" } });
  });
});

describe("the profile", () => {
  it("is null until set, and comes back with a redemption", async () => {
    expect(await stub.indieAuthProfile()).toBeNull();
    await stub.setIndieAuthProfile({ name: "Ada", photo: "https://id.example.test/ada.jpg" });
    expect(await stub.indieAuthProfile()).toEqual({ name: "Ada", photo: "https://id.example.test/ada.jpg" });
    await stub.setIndieAuthProfile({ name: "Ada L." });
    expect(await stub.indieAuthProfile()).toEqual({ name: "Ada L." });
    expect(await redeem(await approvedCode("profile"))).toMatchObject({ ok: true, profile: { name: "Ada L." } });
  });
});
