/**
 * IndieAuth (docs/api.md §14) helpers for the workers tests: a client's network
 * faked (its client_id document), PKCE pairs, authorization queries, the owner's
 * consent calls and the client's form posts, all through the contract-checked
 * fetcher.
 */
import { expect } from "vitest";
import { s256Challenge } from "../../src/domain/indieauth/pkce";
import { randomToken } from "../../src/lib/bytes";
import { useFakeFediverse, type FakeFediverse } from "./federation";
import { json, type OwnerClient } from "./owner";
import { selfFetch, TEST_ORIGIN } from "./workers";

export const ME = `${TEST_ORIGIN}/`;

/** Every outgoing fetch of the calling test file goes to a fresh fake network per test (a client's documents are served from it). */
export const useFakeClientNetwork = useFakeFediverse;

/** A client metadata document (never cached, so each test sees its own). */
export function serveClient(net: FakeFediverse, clientId: string, doc: Record<string, unknown> = {}): void {
  net.respond(
    clientId,
    () =>
      new Response(JSON.stringify({ client_id: clientId, client_name: "Quill", redirect_uris: [], ...doc }), {
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      }),
  );
}

export interface Pkce {
  verifier: string;
  challenge: string;
}

export async function makePkce(): Promise<Pkce> {
  const verifier = randomToken(48);
  return { verifier, challenge: await s256Challenge(verifier) };
}

export interface AuthorizationParams {
  clientId: string;
  redirectUri: string;
  pkce: Pkce;
  state?: string;
  scope?: string;
}

/** The query string of GET /indieauth/authorize; `extra` overrides or removes (undefined) parameters. */
export function authorizationQuery(p: AuthorizationParams, extra: Record<string, string | undefined> = {}): string {
  const fields: Record<string, string | undefined> = {
    response_type: "code",
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    state: p.state ?? "state-123",
    code_challenge: p.pkce.challenge,
    code_challenge_method: "S256",
    scope: p.scope,
    ...extra,
  };
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) query.append(k, v);
  return `?${query.toString()}`;
}

/** POST /api/indieauth/requests with the page's query. */
export function postRequest(owner: OwnerClient, query: string) {
  return owner.api("POST", "/api/indieauth/requests", { query });
}

/** Requests and approves: the code from the redirect. */
export async function approvedCode(owner: OwnerClient, p: AuthorizationParams, scope?: string): Promise<string> {
  const requested = await postRequest(owner, authorizationQuery(p));
  expect(requested.status, await requested.clone().text()).toBe(200);
  const { requestId } = await json<{ requestId: string }>(requested);
  const approved = await owner.api("POST", "/api/indieauth/approve", scope === undefined ? { requestId } : { requestId, scope });
  expect(approved.status, await approved.clone().text()).toBe(200);
  const redirect = new URL((await json<{ redirect: string }>(approved)).redirect);
  expect(redirect.searchParams.get("iss")).toBe(ME);
  return redirect.searchParams.get("code")!;
}

/** The whole flow for `p`: the client's document served, approved (with `scope` if given), the code redeemed: its tokens. */
export async function issuedTokens(net: FakeFediverse, owner: OwnerClient, p: AuthorizationParams, scope?: string): Promise<TokenResponse> {
  serveClient(net, p.clientId);
  const res = await redeemCode(await approvedCode(owner, p, scope), p);
  expect(res.status, await res.clone().text()).toBe(200);
  return await json<TokenResponse>(res);
}

/** A form POST to an IndieAuth endpoint, as a client (no cookies, no Origin). */
export function postForm(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return selfFetch(
    new Request(TEST_ORIGIN + path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
  );
}

export function redeemCode(code: string, p: AuthorizationParams, overrides: Record<string, string> = {}, path = "/indieauth/token") {
  return postForm(path, {
    grant_type: "authorization_code",
    code,
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    code_verifier: p.pkce.verifier,
    ...overrides,
  });
}

export function refreshGrant(refreshToken: string, clientId: string, extra: Record<string, string> = {}) {
  return postForm("/indieauth/token", { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, ...extra });
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  scope: string;
  me: string;
  expires_in: number;
  refresh_token: string;
  profile?: { name: string; url: string; photo?: string };
}

export function introspect(token: string, secret: string) {
  return postForm("/indieauth/introspect", { token }, { authorization: `Bearer ${secret}` });
}

export function userinfo(token: string | null) {
  return selfFetch(new Request(`${TEST_ORIGIN}/indieauth/userinfo`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } }));
}

/** The OAuth error body's code and the status, for compact assertions. */
export async function oauthError(res: Response): Promise<{ status: number; error: string }> {
  const body = await json<{ error: string }>(res);
  return { status: res.status, error: body.error };
}
