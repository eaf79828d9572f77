/**
 * IndieAuth (docs/api.md §14): every refusal, through the Worker. What cannot be
 * trusted is shown to the owner and never redirected to; what the client must hear
 * about goes back to it at a redirect URI it vouches for; codes are single use,
 * bound to their client, redirect URI and PKCE challenge, and short-lived. The
 * client's network is faked; time is the server's (test/helpers/clock.ts).
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { advanceClock } from "../helpers/clock";
import {
  approvedCode,
  authorizationQuery,
  introspect,
  makePkce,
  ME,
  oauthError,
  postForm,
  postRequest,
  redeemCode,
  serveClient,
  useFakeClientNetwork,
  type AuthorizationParams,
  type TokenResponse,
} from "../helpers/indieauth";
import { json, type OwnerClient } from "../helpers/owner";
import { enrolTotp, reauthWithCode } from "../helpers/twoFactor";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const net = useFakeClientNetwork();
const SECRET = env.INDIEAUTH_INTROSPECTION_SECRET!;
const CLIENT = "https://app.example.org/";
const REDIRECT = "https://app.example.org/cb";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

async function params(overrides: Partial<AuthorizationParams> = {}): Promise<AuthorizationParams> {
  return { clientId: CLIENT, redirectUri: REDIRECT, pkce: await makePkce(), scope: "create", ...overrides };
}

/** 400 invalid_request from POST /api/indieauth/requests, and whether it carries a redirect. */
async function refusedRequest(query: string): Promise<{ message: string; redirect?: string }> {
  const res = await postRequest(owner, query);
  expect(res.status, await res.clone().text()).toBe(400);
  const body = await json<{ error: string; message: string; redirect?: string }>(res);
  expect(body.error).toBe("invalid_request");
  return body;
}

describe("requests the server cannot trust: shown to the owner, never redirected to", () => {
  it.each([
    ["a client_id that is not a URL", "quill"],
    ["a client_id with an IP literal", "https://203.0.113.5/"],
    ["a client_id with an IPv6 literal", "https://[2001:db8::5]/"],
    ["a client_id on an odd port", "https://app.example.org:8443/"],
    ["a client_id over plain http", "http://app.example.org/"],
    ["a client_id on the instance's own host", `${TEST_ORIGIN}/app`],
    ["a client_id on loopback", "http://localhost:3000/"],
    ["a single-label client_id", "https://intranet/"],
    ["a client_id with a fragment", "https://app.example.org/#frag"],
  ])("%s", async (_what, clientId) => {
    const body = await refusedRequest(authorizationQuery(await params({ clientId, redirectUri: `${clientId.split("#")[0]}cb` })));
    expect(body.redirect).toBeUndefined();
    expect(net.requests).toEqual([]);
  });

  it("a redirect URI on another host that the client does not list", async () => {
    serveClient(net, CLIENT, { redirect_uris: ["https://elsewhere.example.net/listed"] });
    const body = await refusedRequest(authorizationQuery(await params({ redirectUri: "https://evil.example.net/cb" })));
    expect(body.redirect).toBeUndefined();
    expect(body.message).toMatch(/neither on the client's own origin nor listed/);
    expect(net.requests).toEqual([CLIENT]);
  });

  it("…while one it lists is accepted, custom schemes included", async () => {
    for (const redirectUri of ["https://elsewhere.example.net/listed", "com.example.app:/oauth"]) {
      serveClient(net, CLIENT, { redirect_uris: ["https://elsewhere.example.net/listed", "com.example.app:/oauth"] });
      const res = await postRequest(owner, authorizationQuery(await params({ redirectUri })));
      expect(res.status, redirectUri).toBe(200);
      expect(await json(res)).toMatchObject({ redirectUri });
    }
  });

  it("a client document whose client_id differs from its URL is not believed: only the client's own origin is accepted", async () => {
    net.respond(CLIENT, () =>
      Response.json({ client_id: "https://app.example.org/other", client_name: "Impostor", redirect_uris: ["https://evil.example.net/cb"] }),
    );
    const body = await refusedRequest(authorizationQuery(await params({ redirectUri: "https://evil.example.net/cb" })));
    expect(body.redirect).toBeUndefined();
    // The same origin still works, without the document's name.
    const ok = await postRequest(owner, authorizationQuery(await params()));
    expect(ok.status).toBe(200);
    expect(await json(ok)).toMatchObject({ client: { id: CLIENT }, redirectUri: REDIRECT });
    expect(JSON.stringify(await json(await postRequest(owner, authorizationQuery(await params()))))).not.toContain("Impostor");
  });

  it("a client whose document cannot be fetched: only its own origin", async () => {
    // The fake network answers 404 for a client it does not know.
    expect((await postRequest(owner, authorizationQuery(await params()))).status).toBe(200);
    const body = await refusedRequest(authorizationQuery(await params({ redirectUri: "https://other.example.net/cb" })));
    expect(body.redirect).toBeUndefined();
  });
});

describe("defects the client must hear about: a redirect with error=invalid_request, state and iss", () => {
  it.each([
    ["no code_challenge (PKCE missing)", { code_challenge: undefined }],
    ["no code_challenge_method (plain by default)", { code_challenge_method: undefined }],
    ["code_challenge_method=plain", { code_challenge_method: "plain" }],
    ["a malformed code_challenge", { code_challenge: "short" }],
    ["response_type=token", { response_type: "token" }],
    ["a malformed scope", { scope: 'create "quoted"' }],
  ])("%s", async (_what, extra) => {
    serveClient(net, CLIENT);
    const body = await refusedRequest(authorizationQuery(await params(), extra));
    const redirect = new URL(body.redirect!);
    expect(redirect.origin + redirect.pathname).toBe(REDIRECT);
    expect(redirect.searchParams.get("error")).toBe("invalid_request");
    expect(redirect.searchParams.get("error_description")).toBeTruthy();
    expect(redirect.searchParams.get("state")).toBe("state-123");
    expect(redirect.searchParams.get("iss")).toBe(ME);
  });

  it("is not redirected to a redirect URI the client does not vouch for", async () => {
    serveClient(net, CLIENT);
    const body = await refusedRequest(authorizationQuery(await params({ redirectUri: "https://evil.example.net/cb" }), { code_challenge: undefined }));
    expect(body.redirect).toBeUndefined();
  });
});

describe("approving and denying", () => {
  async function openRequest(): Promise<string> {
    serveClient(net, CLIENT);
    const res = await postRequest(owner, authorizationQuery(await params({ scope: "create update" })));
    expect(res.status).toBe(200);
    return (await json<{ requestId: string }>(res)).requestId;
  }

  it("a request that expired (10 minutes) cannot be approved or denied", async () => {
    const requestId = await openRequest();
    advanceClock(10 * 60_000);
    // The owner's access token has expired too by now.
    expect((await owner.login()).status).toBe(200);
    for (const path of ["/api/indieauth/approve", "/api/indieauth/deny"]) {
      const res = await owner.api("POST", path, { requestId });
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ error: "not_found" });
    }
  });

  it("a request already used cannot be approved again", async () => {
    const requestId = await openRequest();
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId })).status).toBe(200);
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId })).status).toBe(404);
    expect((await owner.api("POST", "/api/indieauth/deny", { requestId })).status).toBe(404);
  });

  it("a scope the client did not ask for is refused, and the request stays open", async () => {
    const requestId = await openRequest();
    const res = await owner.api("POST", "/api/indieauth/approve", { requestId, scope: "create delete" });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request" });
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId, scope: "update" })).status).toBe(200);
  });

  it("an unknown or malformed request id", async () => {
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId: "A".repeat(22) })).status).toBe(404);
    expect((await owner.api("POST", "/api/indieauth/approve", { requestId: "../x" })).status).toBe(400);
  });

  it("a cross-origin page cannot ask, approve or deny", async () => {
    const requestId = await openRequest();
    const res = await owner.request("POST", "/api/indieauth/approve", { bearer: true, body: { requestId }, headers: { origin: "https://evil.example.net" } });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "forbidden" });
  });
});

describe("redeeming codes", () => {
  async function freshCode(p: AuthorizationParams): Promise<string> {
    serveClient(net, CLIENT);
    return await approvedCode(owner, p);
  }

  it("a missing verifier is invalid_request; a malformed or wrong one invalid_grant, and uses the code up", async () => {
    const p = await params();
    const code = await freshCode(p);
    expect(await oauthError(await postForm("/indieauth/token", { grant_type: "authorization_code", code, client_id: CLIENT, redirect_uri: REDIRECT }))).toEqual({
      status: 400,
      error: "invalid_request",
    });
    expect(await oauthError(await redeemCode(code, p, { code_verifier: "too-short" }))).toEqual({ status: 400, error: "invalid_grant" });
    // Neither reached the code: it still works.
    expect((await redeemCode(code, p)).status).toBe(200);

    const again = await params();
    const code2 = await freshCode(again);
    const wrong = (await makePkce()).verifier;
    expect(await oauthError(await redeemCode(code2, again, { code_verifier: wrong }))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await oauthError(await redeemCode(code2, again))).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("a replayed code is refused and revokes the tokens it issued", async () => {
    const p = await params();
    const code = await freshCode(p);
    const tokens = await json<TokenResponse>(await redeemCode(code, p));
    expect(await json(await introspect(tokens.access_token, SECRET))).toMatchObject({ active: true });
    const replay = await redeemCode(code, p);
    expect(await json(replay.clone())).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/already used/) });
    expect(replay.status).toBe(400);
    expect(await json(await introspect(tokens.access_token, SECRET))).toEqual({ active: false });
    expect(await oauthError(await postForm("/indieauth/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: CLIENT }))).toEqual({
      status: 400,
      error: "invalid_grant",
    });
  });

  it.each([
    ["another client", { client_id: "https://thief.example.net/" }],
    ["another redirect URI", { redirect_uri: "https://app.example.org/other" }],
  ])("a code presented by %s is refused, and used up", async (_who, overrides) => {
    const p = await params();
    const code = await freshCode(p);
    expect(await oauthError(await redeemCode(code, p, overrides))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await oauthError(await redeemCode(code, p))).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("an expired code (60 s) is refused", async () => {
    const p = await params();
    const code = await freshCode(p);
    advanceClock(60_000);
    const res = await redeemCode(code, p);
    expect(await json(res.clone())).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/expired/) });
    expect(res.status).toBe(400);
  });

  it("unknown codes, other grant types and non-form bodies", async () => {
    const p = await params();
    expect(await oauthError(await redeemCode("no-such-code", p))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await oauthError(await postForm("/indieauth/token", { grant_type: "client_credentials" }))).toEqual({ status: 400, error: "unsupported_grant_type" });
    expect(await oauthError(await postForm("/indieauth/token", {}))).toEqual({ status: 400, error: "invalid_request" });
    expect(await oauthError(await postForm("/indieauth/authorize", { grant_type: "refresh_token", refresh_token: "x", client_id: CLIENT }))).toEqual({
      status: 400,
      error: "unsupported_grant_type",
    });
    const json_ = await selfFetch(
      new Request(`${TEST_ORIGIN}/indieauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"grant_type":"authorization_code"}' }),
    );
    expect(await oauthError(json_)).toEqual({ status: 400, error: "invalid_request" });
    const repeated = await selfFetch(
      new Request(`${TEST_ORIGIN}/indieauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=authorization_code&grant_type=refresh_token",
      }),
    );
    expect(await oauthError(repeated)).toEqual({ status: 400, error: "invalid_request" });
  });

  it("a refresh token presented by another client, or for a wider scope, is refused and keeps working", async () => {
    const p = await params({ scope: "create update" });
    const tokens = await json<TokenResponse>(await redeemCode(await freshCode(p), p));
    const refresh = (extra: Record<string, string>) => postForm("/indieauth/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: CLIENT, ...extra });
    expect(await oauthError(await refresh({ client_id: "https://thief.example.net/" }))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await oauthError(await refresh({ scope: "create delete" }))).toEqual({ status: 400, error: "invalid_scope" });
    expect((await refresh({})).status).toBe(200);
  });
});

describe("the second factor", () => {
  it("once 2FA is on, asking and approving need a login with the second factor", async () => {
    expect((await owner.login()).status).toBe(200);
    const { auth } = await enrolTotp(owner);
    serveClient(net, CLIENT);
    const query = authorizationQuery(await params());
    const res = await postRequest(owner, query);
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
    const approve = await owner.api("POST", "/api/indieauth/approve", { requestId: "A".repeat(22) });
    expect(approve.status).toBe(403);
    await approve.arrayBuffer();
    expect((await reauthWithCode(owner, { totp: await auth.nextCode() })).status).toBe(200);
    expect((await postRequest(owner, query)).status).toBe(200);
  });
});
