/**
 * IndieAuth against a real `npm run dev` (docs/api.md §14), with oauth4webapi as the
 * client, as a site the owner signs in to would use it. The client's metadata
 * document (JSON, client_id = its URL) is served by a node:http server on
 * 127.0.0.1; ALLOW_INSECURE_FEDERATION lets both be plain http on loopback. The
 * owner's side (consent) goes through the owner API, as the consent page does it.
 *
 * Discovery from the profile URL's Link header → metadata (issuer = me) →
 * authorization URL with PKCE S256 and state → POST /api/indieauth/requests with
 * the query, approve with a scope subset → validateAuthResponse (state and RFC 9207
 * iss) → code exchange (me, scope, profile) → refresh rotation → introspection with
 * the dev server's introspection secret → userinfo → revocation of the grant by the
 * owner, after which nothing works.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/devServer.mjs";
// @ts-expect-error: plain ESM helper shared with the dev and deploy scripts
import { parseDotenv as parseDotenvUntyped } from "../../scripts/lib/secrets.mjs";
import { introspectionResponseSchema, tokenResponseSchema, userinfoResponseSchema } from "../../src/schemas/oauth";
import { indieAuthGrantsResponseSchema, indieAuthRequestResponseSchema } from "../../src/schemas/responses";
import { json, OwnerClient } from "../helpers/owner";
import { nodeFetch, startInstance, type DevServer } from "./devServer";
import { authorizationUrl, discover, exchangeCode, INSECURE, startClientApp, type ClientApp } from "./indieauthClient";

const parseDotenv: (text: string) => Map<string, string> = parseDotenvUntyped;

const PROFILE = { name: "Ada Lovelace", photo: "https://photos.example.org/ada.jpg" };

describe("IndieAuth with oauth4webapi, against npm run dev", () => {
  let server: DevServer;
  let owner: OwnerClient;
  let app: ClientApp;
  let me: string;
  let as: oauth.AuthorizationServer;
  let introspectionSecret: string;
  const client = () => ({ client_id: app.clientId }) satisfies oauth.Client;

  /** The owner's half of consent: post the query as the page does, approve `scope`; returns the redirect. */
  async function consent(url: URL, scope: string | undefined): Promise<URL> {
    const started = await owner.api("POST", "/api/indieauth/requests", { query: url.search.slice(1) });
    expect(started.status).toBe(200);
    const request = indieAuthRequestResponseSchema.parse(await started.json());
    const approved = await owner.api("POST", "/api/indieauth/approve", { requestId: request.requestId, ...(scope === undefined ? {} : { scope }) });
    expect(approved.status).toBe(200);
    return new URL(((await approved.json()) as { redirect: string }).redirect);
  }

  /** A full sign-in: discovery is done; authorization, consent for `granted`, code exchange. */
  async function signIn(requested: string, granted: string) {
    const flow = await authorizationUrl(as, app, { scope: requested });
    const redirect = await consent(flow.url, granted);
    return { tokens: await exchangeCode(as, app, redirect, flow), flow, redirect };
  }

  function introspect(token: string, secret = introspectionSecret) {
    // The secret is a static Bearer token (docs/indieauth.md): a ClientAuth of our own.
    const bearer: oauth.ClientAuth = (_as, _client, _body, headers) => {
      headers.set("authorization", `Bearer ${secret}`);
    };
    return oauth.introspectionRequest(as, client(), bearer, token, INSECURE);
  }

  beforeAll(async () => {
    server = await startInstance({ vars: { ALLOW_INSECURE_FEDERATION: "1" } });
    // `npm run dev` creates the instance's secrets in .dev.vars, the introspection secret among them.
    introspectionSecret = parseDotenv(readFileSync(join(REPO_ROOT, ".dev.vars"), "utf8")).get("INDIEAUTH_INTROSPECTION_SECRET") ?? "";
    owner = await OwnerClient.create(nodeFetch, server.url);
    expect((await owner.claim(server.setupCode)).status).toBe(201);
    app = await startClientApp();
    me = new URL(server.url).href;
  });

  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it("the dev command made an introspection secret", () => {
    expect(introspectionSecret.length).toBeGreaterThanOrEqual(32);
  });

  it("discovers the metadata from the profile URL's Link header; the issuer is the profile URL", async () => {
    const found = await discover(me);
    as = found.as;
    expect(found.metadataUrl).toBe(`${server.url}/.well-known/oauth-authorization-server`);
    expect(as).toMatchObject({
      issuer: me,
      authorization_endpoint: `${server.url}/indieauth/authorize`,
      token_endpoint: `${server.url}/indieauth/token`,
      introspection_endpoint: `${server.url}/indieauth/introspect`,
      revocation_endpoint: `${server.url}/indieauth/revoke`,
      userinfo_endpoint: `${server.url}/indieauth/userinfo`,
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
    });
    expect(as.scopes_supported).toContain("profile");
    expect(as.scopes_supported).not.toContain("email");
    // HEAD carries the same Link (§14), and the older rels too.
    const head = await fetch(me, { method: "HEAD" });
    const link = head.headers.get("link") ?? "";
    expect(link).toContain(`<${found.metadataUrl}>; rel="indieauth-metadata"`);
    expect(link).toMatch(/rel="authorization_endpoint"/);
    expect(link).toMatch(/rel="token_endpoint"/);
  });

  it("GET /indieauth/authorize serves the owner app, never framed, without fetching the client", async () => {
    const { url } = await authorizationUrl(as, app, { scope: "profile create" });
    const before = app.metadataFetches();
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    // The client's logo is an https URL: the consent page (only) may show images from https origins.
    expect(csp).toContain("img-src 'self' data: https:");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(await res.text()).toContain('<main id="app"');
    const home = await fetch(me);
    expect(home.headers.get("content-security-policy")).toContain("img-src 'self' data:;");
    await home.body?.cancel();
    expect(app.metadataFetches()).toBe(before);
  });

  it("the owner sets the profile that `profile` shares (step-up: the fresh login)", async () => {
    const res = await owner.api("PUT", "/api/profile", PROFILE);
    expect(res.status).toBeLessThan(300);
    expect(await json(await owner.api("GET", "/api/profile"))).toEqual(PROFILE);
  });

  let tokens: oauth.TokenEndpointResponse;

  it("the consent request names the client from its metadata document; the grant is the owner's subset", async () => {
    const flow = await authorizationUrl(as, app, { scope: "profile create update" });
    const started = await owner.api("POST", "/api/indieauth/requests", { query: flow.url.search.slice(1) });
    expect(started.status).toBe(200);
    const request = indieAuthRequestResponseSchema.parse(await started.json());
    expect(request.client).toMatchObject({ id: app.clientId, name: app.name, url: app.clientId });
    expect(request.redirectUri).toBe(app.redirectUri);
    expect(request.scopes).toEqual(["profile", "create", "update"]);

    const approved = await owner.api("POST", "/api/indieauth/approve", { requestId: request.requestId, scope: "profile create" });
    expect(approved.status).toBe(200);
    const redirect = new URL(((await approved.json()) as { redirect: string }).redirect);
    expect(redirect.origin + redirect.pathname).toBe(app.redirectUri);
    expect(redirect.searchParams.get("state")).toBe(flow.state);
    expect(redirect.searchParams.get("iss")).toBe(me);

    // oauth4webapi checks state and iss, then redeems the code with the verifier.
    tokens = await exchangeCode(as, app, redirect, flow);
    const body = tokenResponseSchema.parse({ ...tokens, token_type: "Bearer" });
    expect(body.me).toBe(me);
    expect(body.scope).toBe("profile create");
    expect(body.profile).toEqual({ ...PROFILE, url: me });
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.refresh_token).toBeTruthy();
  });

  it("the same iss check refuses a response that claims another issuer", async () => {
    const forged = new URL(app.redirectUri);
    forged.searchParams.set("code", "x");
    forged.searchParams.set("state", "s");
    forged.searchParams.set("iss", "https://attacker.example/");
    expect(() => oauth.validateAuthResponse(as, client(), forged, "s")).toThrow(/iss/);
  });

  it("introspects the access token as active (with the secret), and refuses a wrong secret", async () => {
    const res = await introspect(tokens.access_token);
    const body = introspectionResponseSchema.parse(await oauth.processIntrospectionResponse(as, client(), res));
    expect(body).toMatchObject({ active: true, me, client_id: app.clientId, scope: "profile create" });
    if (body.active) {
      expect(body.exp).toBeGreaterThan(body.iat);
      expect(Math.abs(body.iat - Date.now() / 1000)).toBeLessThan(120);
    }
    const wrong = await introspect(tokens.access_token, "not-the-secret");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("userinfo answers the profile for a token with `profile`", async () => {
    const res = await oauth.userInfoRequest(as, client(), tokens.access_token, INSECURE);
    expect(res.status).toBe(200);
    expect(userinfoResponseSchema.parse(await res.json())).toEqual({ ...PROFILE, url: me });
  });

  it("rotates the refresh token; within the grace the old one gives the same new one back", async () => {
    const first = await oauth.processRefreshTokenResponse(
      as,
      client(),
      await oauth.refreshTokenGrantRequest(as, client(), oauth.None(), tokens.refresh_token!, INSECURE),
    );
    expect(first.refresh_token).toBeTruthy();
    expect(first.refresh_token).not.toBe(tokens.refresh_token);
    expect(first.access_token).not.toBe(tokens.access_token);
    expect(first.scope).toBe("profile create");
    expect((first as { me?: string }).me).toBe(me);

    const replay = await oauth.processRefreshTokenResponse(
      as,
      client(),
      await oauth.refreshTokenGrantRequest(as, client(), oauth.None(), tokens.refresh_token!, INSECURE),
    );
    expect(replay.refresh_token).toBe(first.refresh_token);
    expect(replay.access_token).not.toBe(first.access_token);

    // A narrower scope applies to the new access token only; a wider one is refused.
    const narrow = await oauth.processRefreshTokenResponse(
      as,
      client(),
      await oauth.refreshTokenGrantRequest(as, client(), oauth.None(), first.refresh_token!, { ...INSECURE, additionalParameters: { scope: "create" } }),
    );
    expect(narrow.scope).toBe("create");
    const wider = await oauth.refreshTokenGrantRequest(as, client(), oauth.None(), narrow.refresh_token!, { ...INSECURE, additionalParameters: { scope: "create delete" } });
    expect(wider.status).toBe(400);
    expect(await json(wider)).toMatchObject({ error: "invalid_scope" });
    tokens = narrow;
  });

  it("the owner sees the grant, revokes it, and its tokens stop working at once", async () => {
    const listed = indieAuthGrantsResponseSchema.parse(await json(await owner.api("GET", "/api/indieauth/grants")));
    expect(listed.grants).toHaveLength(1);
    const grant = listed.grants[0]!;
    expect(grant).toMatchObject({ clientId: app.clientId, clientName: app.name, scope: "profile create" });

    const active = await oauth.processIntrospectionResponse(as, client(), await introspect(tokens.access_token));
    expect(active.active).toBe(true);

    const revoked = await owner.api("DELETE", `/api/indieauth/grants/${encodeURIComponent(grant.id)}`);
    expect(revoked.status).toBe(204);

    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(tokens.access_token))).toEqual({ active: false });
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(tokens.refresh_token!))).toEqual({ active: false });
    const userinfo = await oauth.userInfoRequest(as, client(), tokens.access_token, INSECURE);
    expect(userinfo.status).toBe(401);
    expect(userinfo.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const refresh = await oauth.refreshTokenGrantRequest(as, client(), oauth.None(), tokens.refresh_token!, INSECURE);
    expect(refresh.status).toBe(400);
    expect(await json(refresh)).toMatchObject({ error: "invalid_grant" });
    expect((await json<{ grants: unknown[] }>(await owner.api("GET", "/api/indieauth/grants"))).grants).toEqual([]);

    const activity = await json<{ entries: Array<{ type: string }> }>(await owner.api("GET", "/api/activity?limit=20"));
    const types = activity.entries.map((e) => e.type);
    expect(types).toContain("app_authorized");
    expect(types).toContain("app_revoked");
  });

  it("the owner's own access token is never an IndieAuth token", async () => {
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(owner.accessToken!))).toEqual({ active: false });
    const userinfo = await oauth.userInfoRequest(as, client(), owner.accessToken!, INSECURE);
    expect(userinfo.status).toBe(401);
  });

  it("an IndieAuth access token is refused by the owner API", async () => {
    const { tokens: t } = await signIn("create", "create");
    const res = await owner.request("GET", "/api/sessions", { bearer: t.access_token });
    expect(res.status).toBe(401);
    // Revoking the refresh token at the revocation endpoint ends the grant (RFC 7009).
    const revoked = await oauth.revocationRequest(as, client(), oauth.None(), t.refresh_token!, INSECURE);
    await oauth.processRevocationResponse(revoked);
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(t.access_token))).toEqual({ active: false });
  });

  it("a code presented again is invalid_grant and revokes what it issued (RFC 6749 §4.1.2)", async () => {
    const { tokens: t, flow, redirect } = await signIn("create", "create");
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(t.access_token))).toMatchObject({ active: true });
    const params = oauth.validateAuthResponse(as, client(), redirect, flow.state);
    const again = await oauth.authorizationCodeGrantRequest(as, client(), oauth.None(), params, app.redirectUri, flow.verifier, INSECURE);
    expect(again.status).toBe(400);
    expect(await json(again)).toMatchObject({ error: "invalid_grant" });
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(t.access_token))).toEqual({ active: false });
    expect(await oauth.processIntrospectionResponse(as, client(), await introspect(t.refresh_token!))).toEqual({ active: false });
  });

  it("deny sends the client access_denied with state and iss", async () => {
    const flow = await authorizationUrl(as, app, { scope: "create" });
    const started = await owner.api("POST", "/api/indieauth/requests", { query: flow.url.search.slice(1) });
    const { requestId } = indieAuthRequestResponseSchema.parse(await started.json());
    const denied = await owner.api("POST", "/api/indieauth/deny", { requestId });
    expect(denied.status).toBe(200);
    const redirect = new URL(((await denied.json()) as { redirect: string }).redirect);
    expect(redirect.searchParams.get("error")).toBe("access_denied");
    expect(() => oauth.validateAuthResponse(as, client(), redirect, flow.state)).toThrow(oauth.AuthorizationResponseError);
    // The request is used: approving it now fails.
    const late = await owner.api("POST", "/api/indieauth/approve", { requestId });
    expect(late.status).toBeGreaterThanOrEqual(400);
    expect(late.status).toBeLessThan(500);
  });

  it("no scope granted: the code is redeemed at the authorization endpoint for `me` alone, never a token", async () => {
    const flow = await authorizationUrl(as, app, { scope: "profile create" });
    const redirect = await consent(flow.url, "");
    const params = oauth.validateAuthResponse(as, client(), redirect, flow.state);
    const form = (extra: Record<string, string> = {}) =>
      new URLSearchParams({ code: params.get("code")!, client_id: app.clientId, redirect_uri: app.redirectUri, code_verifier: flow.verifier, ...extra });
    const atToken = await fetch(as.token_endpoint!, { method: "POST", body: form({ grant_type: "authorization_code" }) });
    expect(atToken.status).toBe(400);
    expect(await json(atToken)).toMatchObject({ error: "invalid_grant" });
    const atAuthorize = await fetch(as.authorization_endpoint!, { method: "POST", body: form(), headers: { accept: "application/json" } });
    expect(atAuthorize.status).toBe(200);
    expect(await atAuthorize.json()).toEqual({ me });
  });

  it("a request with no PKCE comes back with a redirect for the client, never a consent", async () => {
    const flow = await authorizationUrl(as, app, { scope: "create" });
    flow.url.searchParams.delete("code_challenge");
    flow.url.searchParams.delete("code_challenge_method");
    const res = await owner.api("POST", "/api/indieauth/requests", { query: flow.url.search.slice(1) });
    expect(res.status).toBe(400);
    const body = await json<{ error: string; redirect: string }>(res);
    expect(body.error).toBe("invalid_request");
    const redirect = new URL(body.redirect);
    expect(redirect.origin + redirect.pathname).toBe(app.redirectUri);
    expect(redirect.searchParams.get("error")).toBe("invalid_request");
    expect(redirect.searchParams.get("iss")).toBe(me);
  });

  it("a redirect URI the client does not list is refused without a redirect", async () => {
    const flow = await authorizationUrl(as, { clientId: app.clientId, redirectUri: "http://127.0.0.2:9/elsewhere" }, { scope: "create" });
    const res = await owner.api("POST", "/api/indieauth/requests", { query: flow.url.search.slice(1) });
    expect(res.status).toBe(400);
    const body = await json<{ error: string; redirect?: string }>(res);
    expect(body.error).toBe("invalid_request");
    expect(body.redirect).toBeUndefined();
  });

  it("20 concurrent approvals of one request: exactly one wins", async () => {
    const flow = await authorizationUrl(as, app, { scope: "create" });
    const started = await owner.api("POST", "/api/indieauth/requests", { query: flow.url.search.slice(1) });
    const { requestId } = indieAuthRequestResponseSchema.parse(await started.json());
    const answers = await Promise.all(Array.from({ length: 20 }, () => owner.api("POST", "/api/indieauth/approve", { requestId, scope: "create" })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.every((s) => s === 200 || (s >= 400 && s < 500))).toBe(true);
    await Promise.all(answers.map((r) => r.body?.cancel()));
  });

  it("20 concurrent redemptions of one code: exactly one token", async () => {
    const flow = await authorizationUrl(as, app, { scope: "create" });
    const redirect = await consent(flow.url, "create");
    const params = oauth.validateAuthResponse(as, client(), redirect, flow.state);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => oauth.authorizationCodeGrantRequest(as, client(), oauth.None(), params, app.redirectUri, flow.verifier, INSECURE)),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
    await Promise.all(answers.map((r) => r.body?.cancel()));
  });
});
