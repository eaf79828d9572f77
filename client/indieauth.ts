/**
 * IndieAuth from the owner's side (docs/api.md §14, docs/indieauth.md): the consent
 * page's calls (post the authorization request, approve or deny it), the connected
 * apps (grants), and the profile the `profile` scope shares. Every response is
 * parsed with the server's zod/mini schemas (src/schemas/indieauth.ts).
 *
 * The page follows a `redirect` from the server with location.assign. The server
 * built it from a redirect URI it checked against the client, and this module checks
 * it once more before handing it out: never a script-running scheme, and for approve
 * and deny, always the redirect URI the owner was shown (parameters appended).
 */
import {
  indieAuthGrantsResponseSchema,
  indieAuthRedirectErrorSchema,
  indieAuthRedirectResponseSchema,
  indieAuthRequestResponseSchema,
  profileResponseSchema,
  type IndieAuthGrant,
} from "../src/schemas/responses";
import type * as z from "zod/mini";
import { IndieError } from "./errors";
import { errorFrom, readJson } from "./http";
import type { OwnerClient } from "./owner";

export type { IndieAuthGrant };
/** What the consent page shows: POST /api/indieauth/requests' answer. */
export type AuthorizationRequest = z.infer<typeof indieAuthRequestResponseSchema>;
export type IndieAuthProfile = z.infer<typeof profileResponseSchema>;

/**
 * The outcome of posting a request: something to ask the owner about, or a defect
 * the client must hear about (`redirect`, §14: e.g. a missing code_challenge), which
 * the page follows. A request that cannot be trusted at all (an unknown client, a
 * redirect URI the client does not list) is thrown as an IndieError
 * (`invalid_request`): the page shows it and never redirects.
 */
export type AuthorizationStart =
  | { ok: true; request: AuthorizationRequest }
  | { ok: false; redirect: string; message: string };

/** Schemes a browser would run or render in place instead of navigating away. */
const UNSAFE_SCHEMES = new Set(["javascript:", "data:", "vbscript:", "blob:", "file:", "about:"]);

/**
 * `redirect` as a URL the page may follow: absolute, no script-running scheme and,
 * when `expected` (the redirect URI the owner was shown) is given, the same scheme,
 * host, port and path. Anything else is the server misbehaving: `bad_response`.
 */
export function followableRedirect(redirect: string, expected?: string): string {
  let url: URL;
  try {
    url = new URL(redirect);
  } catch {
    throw new IndieError("bad_response", "The server answered with a redirect that is not a URL.");
  }
  const same = (a: URL, b: string) => {
    try {
      const e = new URL(b);
      return a.protocol === e.protocol && a.host === e.host && a.pathname === e.pathname;
    } catch {
      return false;
    }
  };
  if (UNSAFE_SCHEMES.has(url.protocol) || (expected !== undefined && !same(url, expected))) {
    throw new IndieError("bad_response", "The server answered with a redirect to somewhere other than the app's redirect address.");
  }
  return url.href;
}

/**
 * POST /api/indieauth/requests with the authorization request's query string as
 * the page received it (`location.search` without the `?`).
 */
export async function startAuthorization(client: OwnerClient, query: string): Promise<AuthorizationStart> {
  const res = await client.session.fetch("/api/indieauth/requests", { method: "POST", body: { query } });
  if (res.status === 400) {
    const body: unknown = await res
      .clone()
      .json()
      .catch(() => undefined);
    const redirectable = indieAuthRedirectErrorSchema.safeParse(body);
    if (redirectable.success) {
      await res.body?.cancel();
      // Only to the redirect address the request itself named, as approve and deny check
      // (the first non-empty one, as the server reads it: an empty parameter counts as
      // absent). With none the server never redirects, so "" matches nothing.
      const expected = new URLSearchParams(query).getAll("redirect_uri").find((v) => v !== "") ?? "";
      return { ok: false, redirect: followableRedirect(redirectable.data.redirect, expected), message: redirectable.data.message };
    }
    throw await errorFrom(res);
  }
  const request = await readJson(res, indieAuthRequestResponseSchema);
  return { ok: true, request };
}

/**
 * POST /api/indieauth/approve with the scopes the owner left checked (a subset of
 * `request.scopes`; none at all: the app learns only who you are). Returns where
 * the browser goes next: the redirect URI with `code`, `state` and `iss`.
 */
export async function approveAuthorization(client: OwnerClient, request: AuthorizationRequest, scopes: readonly string[]): Promise<string> {
  const { redirect } = await client.api("/api/indieauth/approve", indieAuthRedirectResponseSchema, {
    method: "POST",
    body: { requestId: request.requestId, scope: scopes.join(" ") },
  });
  return followableRedirect(redirect, request.redirectUri);
}

/** POST /api/indieauth/deny: the redirect URI with `error=access_denied`, `state` and `iss`. */
export async function denyAuthorization(client: OwnerClient, request: AuthorizationRequest): Promise<string> {
  const { redirect } = await client.api("/api/indieauth/deny", indieAuthRedirectResponseSchema, {
    method: "POST",
    body: { requestId: request.requestId },
  });
  return followableRedirect(redirect, request.redirectUri);
}

/** GET /api/indieauth/grants: the apps the owner signed in to, with what each may do. */
export function listGrants(client: OwnerClient): Promise<IndieAuthGrant[]> {
  return client.api("/api/indieauth/grants", indieAuthGrantsResponseSchema).then((b) => b.grants);
}

/** DELETE /api/indieauth/grants/:id: the app's tokens stop working at once. */
export function revokeGrant(client: OwnerClient, id: string): Promise<void> {
  return client.apiNoContent(`/api/indieauth/grants/${encodeURIComponent(id)}`, { method: "DELETE" });
}

/** GET /api/profile: what `profile` shares (until the owner sets one, the server answers the owner's handle as the name). */
export function getProfile(client: OwnerClient): Promise<IndieAuthProfile> {
  return client.api("/api/profile", profileResponseSchema);
}

/** PUT /api/profile (step-up): the name and photo (an https URL) `profile` shares. */
export async function updateProfile(client: OwnerClient, profile: IndieAuthProfile): Promise<IndieAuthProfile> {
  const body = { name: profile.name, ...(profile.photo ? { photo: profile.photo } : {}) };
  const res = await client.session.fetch("/api/profile", { method: "PUT", body });
  if (res.status === 204) {
    await res.body?.cancel();
    return body;
  }
  return readJson(res, profileResponseSchema);
}
