/**
 * IndieAuth (docs/api.md §14) end to end through the Worker: discovery, the consent
 * page, the owner's consent calls, and the OAuth endpoints a client and a resource
 * server call, with the client's document served by a faked network. Refusals are
 * in indieauth.refusals.test.ts, races in indieauth.races.test.ts.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { grantRotationPolicy } from "../../src/domain/indieauth/grants";
import { ACTIVITY_TYPES } from "../../src/schemas/api";
import { countingFetcher } from "../helpers/instanceCalls";
import {
  approvedCode,
  authorizationQuery,
  introspect,
  issuedTokens,
  makePkce,
  ME,
  oauthError,
  postForm,
  postRequest,
  redeemCode,
  refreshGrant,
  serveClient,
  useFakeClientNetwork,
  userinfo,
  type AuthorizationParams,
  type TokenResponse,
} from "../helpers/indieauth";
import { advanceClock } from "../helpers/clock";
import { json, OwnerClient } from "../helpers/owner";
import { claimedOwner, connectLive, fetchWithVars, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const net = useFakeClientNetwork();
const SECRET = env.INDIEAUTH_INTROSPECTION_SECRET!;
const CLIENT = "https://quill.example.com/";
const REDIRECT = "https://quill.example.com/callback";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

async function params(scope?: string): Promise<AuthorizationParams> {
  return { clientId: CLIENT, redirectUri: REDIRECT, pkce: await makePkce(), scope };
}

const tokensFor = (p: AuthorizationParams, approvedScope?: string) => issuedTokens(net, owner, p, approvedScope);

describe("discovery", () => {
  it("serves RFC 8414 metadata with CORS and no-store", async () => {
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/oauth-authorization-server`));
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await json(res)).toEqual({
      issuer: ME,
      authorization_endpoint: `${TEST_ORIGIN}/indieauth/authorize`,
      token_endpoint: `${TEST_ORIGIN}/indieauth/token`,
      introspection_endpoint: `${TEST_ORIGIN}/indieauth/introspect`,
      revocation_endpoint: `${TEST_ORIGIN}/indieauth/revoke`,
      userinfo_endpoint: `${TEST_ORIGIN}/indieauth/userinfo`,
      response_types_supported: ["code"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      revocation_endpoint_auth_methods_supported: ["none"],
      scopes_supported: ["profile", "create", "update", "delete", "media", "read", "follow", "channels"],
      authorization_response_iss_parameter_supported: true,
    });
  });

  it("names the metadata and both endpoints in the Link header of GET and HEAD /, and in the page's <link>s", async () => {
    const expected = [
      `<${TEST_ORIGIN}/.well-known/oauth-authorization-server>; rel="indieauth-metadata"`,
      `<${TEST_ORIGIN}/indieauth/authorize>; rel="authorization_endpoint"`,
      `<${TEST_ORIGIN}/indieauth/token>; rel="token_endpoint"`,
    ].join(", ");
    const head = await selfFetch(new Request(`${TEST_ORIGIN}/`, { method: "HEAD" }));
    expect(head.status).toBe(200);
    expect(head.headers.get("link")).toBe(expected);
    const get = await selfFetch(new Request(`${TEST_ORIGIN}/`));
    expect(get.headers.get("link")).toBe(expected);
    const html = await get.text();
    expect(html).toContain(`<link rel="indieauth-metadata" href="${TEST_ORIGIN}/.well-known/oauth-authorization-server">`);
    expect(html).toContain(`<link rel="authorization_endpoint" href="${TEST_ORIGIN}/indieauth/authorize">`);
    expect(html).toContain(`<link rel="token_endpoint" href="${TEST_ORIGIN}/indieauth/token">`);
    expect(html).toContain('<script type="module" src="/app.js"></script>');
  });
});

describe("the consent page", () => {
  it("is the owner app's page, never framed, never cached, and fetches nothing", async () => {
    const p = await params("profile");
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/authorize${authorizationQuery(p)}`));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(await res.text()).toContain('<script type="module" src="/app.js"></script>');
    expect(net.requests).toEqual([]);
  });

  it("is served for a request with a defect the client must be told of: the page posts it, the server decides", async () => {
    const p = await params();
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/authorize${authorizationQuery(p, { code_challenge: undefined })}`));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("is an error page, not a redirect, for a request without a client_id URL or with a fragment in it", async () => {
    const p = await params();
    for (const clientId of ["not a url", "https://quill.example.com/#x", "https://user:pw@quill.example.com/"]) {
      const res = await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/authorize${authorizationQuery({ ...p, clientId })}`));
      expect(res.status, clientId).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).toContain("This sign-in request cannot be used");
      expect(html).not.toContain("<script");
    }
  });
});

describe("the whole flow", () => {
  it("requests → approve → token → refresh rotation → introspect → revoke the grant → inactive; userinfo with the profile", async () => {
    serveClient(net, CLIENT, { client_name: "Quill", logo_uri: "https://cdn.example.net/quill.png", client_uri: CLIENT });
    const p = await params("profile create email");

    // The page posts the query; the server fetches client_id for the owner.
    const requested = await postRequest(owner, authorizationQuery(p));
    expect(requested.status).toBe(200);
    const request = await json<{ requestId: string }>(requested);
    expect(request).toEqual({
      requestId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      client: { id: CLIENT, name: "Quill", url: CLIENT, logo: "https://cdn.example.net/quill.png" },
      redirectUri: REDIRECT,
      scopes: ["profile", "create"],
    });
    expect(net.requests).toEqual([CLIENT]);

    const approved = await owner.api("POST", "/api/indieauth/approve", { requestId: request.requestId });
    expect(approved.status).toBe(200);
    const redirect = new URL((await json<{ redirect: string }>(approved)).redirect);
    expect(redirect.origin + redirect.pathname).toBe(REDIRECT);
    expect([...redirect.searchParams.keys()]).toEqual(["code", "state", "iss"]);
    expect(redirect.searchParams.get("state")).toBe("state-123");
    expect(redirect.searchParams.get("iss")).toBe(ME);
    const code = redirect.searchParams.get("code")!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Until the owner sets a profile, it is the owner's handle (OWNER_HANDLE).
    const unset = await owner.api("GET", "/api/profile");
    expect(await json(unset)).toEqual({ name: "owner" });
    // The owner has set a profile by now.
    expect((await owner.api("PUT", "/api/profile", { name: "  Ada Lovelace ", photo: "https://id.example.test/ada.jpg" })).status).toBe(200);

    const tokenRes = await redeemCode(code, p);
    expect(tokenRes.status).toBe(200);
    expect(tokenRes.headers.get("cache-control")).toBe("no-store");
    expect(tokenRes.headers.get("access-control-allow-origin")).toBe("*");
    const tokens = await json<TokenResponse>(tokenRes);
    expect(tokens).toEqual({
      access_token: expect.any(String),
      token_type: "Bearer",
      scope: "profile create",
      me: ME,
      expires_in: 604_800,
      refresh_token: expect.any(String),
      profile: { name: "Ada Lovelace", url: ME, photo: "https://id.example.test/ada.jpg" },
    });

    // A resource server checks the token.
    const active = await introspect(tokens.access_token, SECRET);
    expect(active.status).toBe(200);
    const activeBody = await json<{ iat: number; exp: number }>(active);
    expect(activeBody).toEqual({ active: true, me: ME, client_id: CLIENT, scope: "profile create", iat: expect.any(Number), exp: expect.any(Number) });
    expect(activeBody.exp - activeBody.iat).toBe(604_800);

    const info = await userinfo(tokens.access_token);
    expect(info.status).toBe(200);
    expect(info.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json(info)).toEqual({ name: "Ada Lovelace", url: ME, photo: "https://id.example.test/ada.jpg" });

    // Rotation: a new refresh token; a narrower scope narrows only the access token.
    const rotated = await refreshGrant(tokens.refresh_token, CLIENT, { scope: "create" });
    expect(rotated.status).toBe(200);
    const next = await json<TokenResponse>(rotated);
    expect(next).toMatchObject({ scope: "create", me: ME, token_type: "Bearer" });
    expect(next.profile).toBeUndefined();
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(await json(await introspect(next.access_token, SECRET))).toMatchObject({ active: true, scope: "create" });
    expect(await oauthError(await userinfo(next.access_token))).toEqual({ status: 403, error: "insufficient_scope" });

    // The owner sees the grant and ends it.
    const listed = await json<{ grants: Array<{ id: string }> }>(await owner.api("GET", "/api/indieauth/grants"));
    expect(listed.grants).toEqual([
      { id: expect.any(String), clientId: CLIENT, clientName: "Quill", scope: "profile create", createdAt: expect.any(Number), lastUsedAt: expect.any(Number) },
    ]);
    const grantId = listed.grants[0]!.id;
    expect((await owner.api("DELETE", `/api/indieauth/grants/${grantId}`)).status).toBe(204);
    expect((await owner.api("DELETE", `/api/indieauth/grants/${grantId}`)).status).toBe(404);
    expect(await json<{ grants: unknown[] }>(await owner.api("GET", "/api/indieauth/grants"))).toEqual({ grants: [] });

    for (const token of [tokens.access_token, next.access_token]) {
      expect(await json(await introspect(token, SECRET))).toEqual({ active: false });
    }
    expect(await oauthError(await userinfo(tokens.access_token))).toEqual({ status: 401, error: "invalid_token" });
    expect(await oauthError(await refreshGrant(next.refresh_token, CLIENT))).toEqual({ status: 400, error: "invalid_grant" });

    const activity = await json<{ entries: Array<{ type: string; detail?: Record<string, unknown> }> }>(await owner.api("GET", "/api/activity?limit=5"));
    expect(activity.entries.map((e) => e.type).slice(0, 1)).toEqual(["app_revoked"]);
    expect(activity.entries.find((e) => e.type === "app_authorized")?.detail).toEqual({ clientId: CLIENT, clientName: "Quill", scope: "profile create" });
    expect(ACTIVITY_TYPES).toEqual(expect.arrayContaining(["app_authorized", "app_revoked"]));
  });

  it("a code without a scope redeems at the authorization endpoint for `me` only; the token endpoint refuses it", async () => {
    const p = await params("profile");
    serveClient(net, CLIENT);
    const code = await approvedCode(owner, p, "");
    expect(await oauthError(await redeemCode(code, p))).toEqual({ status: 400, error: "invalid_grant" });
    const { grant_type: _, ...withoutGrantType } = { grant_type: "", code, client_id: CLIENT, redirect_uri: REDIRECT, code_verifier: p.pkce.verifier };
    const res = await postForm("/indieauth/authorize", withoutGrantType);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json(res)).toEqual({ me: ME });
    expect(await oauthError(await postForm("/indieauth/authorize", withoutGrantType))).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("the authorization endpoint returns the profile too, for a code with the profile scope", async () => {
    const p = await params("profile");
    serveClient(net, CLIENT);
    const code = await approvedCode(owner, p);
    const res = await redeemCode(code, p, {}, "/indieauth/authorize");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ me: ME, profile: { name: "Ada Lovelace", url: ME, photo: "https://id.example.test/ada.jpg" } });
  });

  it("deny sends the browser back with access_denied, state and iss", async () => {
    serveClient(net, CLIENT);
    const p = await params("create");
    const { requestId } = await json<{ requestId: string }>(await postRequest(owner, authorizationQuery(p)));
    const denied = await owner.api("POST", "/api/indieauth/deny", { requestId });
    expect(denied.status).toBe(200);
    const redirect = new URL((await json<{ redirect: string }>(denied)).redirect);
    expect(Object.fromEntries(redirect.searchParams)).toEqual({ error: "access_denied", state: "state-123", iss: ME });
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId })).status).toBe(404);
  });
});

describe("revocation", () => {
  it("answers 200 for anything; a refresh token ends its grant, an access token only itself", async () => {
    const first = await tokensFor(await params("create"));
    const second = await json<TokenResponse>(await refreshGrant(first.refresh_token, CLIENT));
    const revokeAccess = await postForm("/indieauth/revoke", { token: first.access_token });
    expect(revokeAccess.status).toBe(200);
    expect(revokeAccess.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json(await introspect(first.access_token, SECRET))).toEqual({ active: false });
    expect(await json(await introspect(second.access_token, SECRET))).toMatchObject({ active: true });
    expect((await postForm("/indieauth/revoke", { token: first.refresh_token })).status).toBe(200);
    expect(await json(await introspect(second.access_token, SECRET))).toEqual({ active: false });
    for (const fields of [{ token: "no-such-token" }, {}, { token_type_hint: "access_token" }] as Array<Record<string, string>>) {
      const res = await postForm("/indieauth/revoke", fields);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
    }
    const notAForm = await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/revoke`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }));
    expect(notAForm.status).toBe(200);
    await notAForm.arrayBuffer();
  });

  it("the token endpoint's legacy action=revoke does the same", async () => {
    const tokens = await tokensFor(await params("create"));
    const res = await postForm("/indieauth/token", { action: "revoke", token: tokens.refresh_token });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    expect(await json(await introspect(tokens.access_token, SECRET))).toEqual({ active: false });
  });
});

describe("introspection and userinfo", () => {
  it("introspection needs the secret: 401 with WWW-Authenticate without it or with a wrong one", async () => {
    const tokens = await tokensFor(await params("create"));
    const none = await postForm("/indieauth/introspect", { token: tokens.access_token });
    expect(await oauthError(none.clone())).toEqual({ status: 401, error: "invalid_token" });
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    const wrong = await introspect(tokens.access_token, `${SECRET}x`);
    expect(await oauthError(wrong.clone())).toEqual({ status: 401, error: "invalid_token" });
    expect(wrong.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(wrong.headers.get("access-control-allow-origin")).toBeNull();
    expect(await oauthError(await postForm("/indieauth/introspect", {}, { authorization: `Bearer ${SECRET}` }))).toEqual({ status: 400, error: "invalid_request" });
  });

  it("the owner's own JWTs introspect as inactive and are no userinfo tokens; refresh tokens are not access tokens", async () => {
    expect(await json(await introspect(owner.accessToken!, SECRET))).toEqual({ active: false });
    expect(await oauthError(await userinfo(owner.accessToken!))).toEqual({ status: 401, error: "invalid_token" });
    const tokens = await tokensFor(await params("profile"));
    expect(await json(await introspect(tokens.refresh_token, SECRET))).toEqual({ active: false });
  });

  it("userinfo without a token is a bare Bearer challenge", async () => {
    const res = await userinfo(null);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    await res.arrayBuffer();
    const insufficient = await userinfo((await tokensFor(await params("create"))).access_token);
    expect(insufficient.status).toBe(403);
    expect(insufficient.headers.get("www-authenticate")).toBe('Bearer error="insufficient_scope", scope="profile"');
    await insufficient.arrayBuffer();
  });

  it("answers CORS preflights for browser clients, with the Authorization header allowed", async () => {
    for (const path of ["/indieauth/token", "/indieauth/userinfo", "/indieauth/revoke", "/indieauth/authorize"]) {
      const res = await selfFetch(new Request(TEST_ORIGIN + path, { method: "OPTIONS", headers: { origin: "https://quill.example.com", "access-control-request-method": "POST" } }));
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-headers")).toContain("Authorization");
    }
  });
});

describe("INDIEAUTH_ACCESS_TOKEN_TTL_S", () => {
  it("sets expires_in and the token's lifetime", async () => {
    const p = await params("create");
    serveClient(net, CLIENT);
    const code = await approvedCode(owner, p);
    const fetcher = fetchWithVars({ INDIEAUTH_ACCESS_TOKEN_TTL_S: "3600" });
    const res = await fetcher(
      new Request(`${TEST_ORIGIN}/indieauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "authorization_code", code, client_id: CLIENT, redirect_uri: REDIRECT, code_verifier: p.pkce.verifier }).toString(),
      }),
    );
    const tokens = await json<TokenResponse>(res);
    expect(tokens.expires_in).toBe(3600);
    const active = await json<{ exp: number; iat: number }>(await introspect(tokens.access_token, SECRET));
    expect(active.exp - active.iat).toBe(3600);
  });
});

describe("IndieAuth tokens are never the owner's", () => {
  it("are refused by /api/*, /auth/* and the live channel", async () => {
    const tokens = await tokensFor(await params("profile create"));
    for (const token of [tokens.access_token, tokens.refresh_token]) {
      const api = await owner.request("GET", "/api/sessions", { bearer: token });
      expect(api.status).toBe(401);
      expect(await json(api)).toMatchObject({ error: "unauthorized" });
      const reauth = await owner.request("POST", "/auth/reauth", { bearer: token, body: { assertion: await owner.assertion() } });
      expect(reauth.status).toBe(401);
      await reauth.arrayBuffer();
      const refresh = await owner.request("POST", "/auth/refresh", { cookie: token });
      expect(refresh.status).toBe(401);
      await refresh.arrayBuffer();
      await expect(connectLive(token)).rejects.toThrow(/upgrade: 401/);
    }
    // The grant is untouched by all that.
    expect(await json(await introspect(tokens.access_token, SECRET))).toMatchObject({ active: true });
  });
});

describe("one Durable Object call per OAuth request", () => {
  it("token, refresh, introspection, userinfo and revocation each make one", async () => {
    const p = await params("profile");
    serveClient(net, CLIENT);
    const code = await approvedCode(owner, p);
    const counting = countingFetcher();
    const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      counting.fetcher(new Request(TEST_ORIGIN + path, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(fields).toString() }));
    const tokens = await json<TokenResponse>(await form("/indieauth/token", { grant_type: "authorization_code", code, client_id: CLIENT, redirect_uri: REDIRECT, code_verifier: p.pkce.verifier }));
    expect(counting.take()).toEqual(["redeemIndieAuthCode"]);
    await json(await form("/indieauth/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: CLIENT }));
    expect(counting.take()).toEqual(["refreshIndieAuthGrant"]);
    await json(await form("/indieauth/introspect", { token: tokens.access_token }, { authorization: `Bearer ${SECRET}` }));
    expect(counting.take()).toEqual(["indieAuthAccessToken"]);
    await json(await counting.fetcher(new Request(`${TEST_ORIGIN}/indieauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })));
    expect(counting.take()).toEqual(["indieAuthAccessToken"]);
    await (await form("/indieauth/revoke", { token: tokens.access_token })).arrayBuffer();
    expect(counting.take()).toEqual(["revokeIndieAuthToken"]);
    // A refusal before the object is asked still counts its rate-limit hit, in one call.
    await (await form("/indieauth/token", { grant_type: "password" })).arrayBuffer();
    expect(counting.take()).toEqual(["hitRateLimit"]);
  });
});

describe("where IndieAuth is unavailable (§14: a port, an IP address or http in ORIGIN)", () => {
  const unavailable = ["http://id.example.test", "https://id.example.test:8443", "https://192.0.2.7", "https://[2001:db8::1]"];

  it.each(unavailable)("%s: every IndieAuth route answers 404 not_found, and / names no endpoints", async (origin) => {
    const fetcher = fetchWithVars({ ORIGIN: origin });
    const at = (path: string, init: RequestInit = {}) => fetcher(new Request(TEST_ORIGIN + path, init));
    for (const res of [
      await at("/.well-known/oauth-authorization-server"),
      await at("/indieauth/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=refresh_token" }),
      await at("/indieauth/userinfo"),
    ]) {
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ error: "not_found" });
    }
    const page = await at("/indieauth/authorize?client_id=https://quill.example.com/");
    expect(page.status).toBe(404);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    await page.arrayBuffer();
    const home = await at("/");
    expect(home.status).toBe(200);
    expect(home.headers.get("link")).toBeNull();
    expect(await home.text()).not.toContain("indieauth-metadata");
  });

  it("ALLOW_INSECURE_FEDERATION=1 serves it anyway (development), with an http issuer", async () => {
    const fetcher = fetchWithVars({ ORIGIN: "http://localhost:8787", ALLOW_INSECURE_FEDERATION: "1" });
    const res = await fetcher(new Request(`${TEST_ORIGIN}/.well-known/oauth-authorization-server`));
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ issuer: "http://localhost:8787/", token_endpoint: "http://localhost:8787/indieauth/token" });
  });

  it("the owner's IndieAuth API is 404 there too", async () => {
    const origin = "http://localhost:8787";
    const device = new OwnerClient(fetchWithVars({ ORIGIN: origin }), origin, owner.keys);
    expect((await device.login()).status).toBe(200);
    for (const [method, path, body] of [
      ["GET", "/api/indieauth/grants", undefined],
      ["GET", "/api/profile", undefined],
      ["POST", "/api/indieauth/requests", { query: "?client_id=https://quill.example.com/" }],
    ] as const) {
      const res = await device.api(method, path, body);
      expect(res.status, path).toBe(404);
      expect(await json(res)).toMatchObject({ error: "not_found" });
    }
    expect(net.requests).toEqual([]);
  });
});

describe("the profile", () => {
  beforeAll(async () => {
    // The profile the flow above sets; alone, this block sets it itself (PUT is idempotent).
    const res = await owner.api("PUT", "/api/profile", { name: "  Ada Lovelace ", photo: "https://id.example.test/ada.jpg" });
    if (res.status !== 200) throw new Error(`profile: ${res.status} ${await res.text()}`);
  });

  it("is what the owner set; PUT needs a recent login, a name and an https photo", async () => {
    // Set by the flow above (or this block's beforeAll); before that it is the owner's
    // handle, checked in the flow.
    const stale = new OwnerClient(fetchWithVars({ STEP_UP_MAX_AGE_S: "0" }), TEST_ORIGIN, owner.keys);
    stale.accessToken = owner.accessToken;
    advanceClock(1_000);
    const refused = await stale.api("PUT", "/api/profile", { name: "Someone Else" });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toMatchObject({ error: "step_up_required" });
    const got = await owner.api("GET", "/api/profile");
    expect(got.status).toBe(200);
    expect(await json(got)).toEqual({ name: "Ada Lovelace", photo: "https://id.example.test/ada.jpg" });
    for (const body of [{ name: "" }, { name: "A", photo: "http://insecure.example/p.jpg" }, { name: "A", photo: "data:image/png;base64,AAAA" }, { name: "x".repeat(101) }]) {
      const res = await owner.api("PUT", "/api/profile", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      await res.arrayBuffer();
    }
    expect(grantRotationPolicy({ refreshReuseGraceS: 10, refreshIdleTtlS: 1 }).maxTtlMs).toBe(Number.POSITIVE_INFINITY);
  });
});
