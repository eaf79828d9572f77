/**
 * Scopes (RFC 6749 §3.3, IndieAuth LS §5.3.4, docs/api.md §14), pure.
 *
 * A scope is a space-separated list of tokens; a token is printable ASCII other
 * than space, `"` and `\`. The server may grant fewer scopes than asked for
 * (RFC 6749 §3.3), and tells the client which in the token response's `scope`.
 *
 * §14: `profile` is offered; `email` is not (the owner has no address on file to
 * give); `create`, `update`, `delete`, `media`, `read`, `follow`, `channels` and any
 * other token may be granted as text: this server issues the token, resource
 * servers decide what a scope means.
 */

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Enough for any real client; a longer list is an attempt to bloat storage. */
export const MAX_SCOPES = 32;
export const MAX_SCOPE_TOKEN_CHARS = 64;

/** The scopes the metadata advertises (scopes_supported). */
export const SCOPES_SUPPORTED = ["profile", "create", "update", "delete", "media", "read", "follow", "channels"] as const;

/** Scopes never granted, even when asked for: dropped before the owner sees the request. */
export const SCOPES_NOT_OFFERED: ReadonlySet<string> = new Set(["email"]);

export type ScopeRejection = "malformed" | "too_many" | "too_long";

/**
 * Parses a scope parameter. Absent or empty is the empty list (an authentication
 * request: LS §5.2, only `me` may come back). Tokens are deduplicated in order of
 * first appearance; runs of spaces are tolerated, as every OAuth server does.
 */
export function parseScope(raw: string | null | undefined): { ok: true; scopes: string[] } | { ok: false; reason: ScopeRejection } {
  if (!raw) return { ok: true, scopes: [] };
  const tokens = raw.split(" ").filter((t) => t !== "");
  if (tokens.some((t) => !SCOPE_TOKEN.test(t))) return { ok: false, reason: "malformed" };
  if (tokens.some((t) => t.length > MAX_SCOPE_TOKEN_CHARS)) return { ok: false, reason: "too_long" };
  const scopes = [...new Set(tokens)];
  if (scopes.length > MAX_SCOPES) return { ok: false, reason: "too_many" };
  return { ok: true, scopes };
}

/** The wire form: space-separated. */
export function formatScope(scopes: readonly string[]): string {
  return scopes.join(" ");
}

/**
 * What the owner is asked about: the requested scopes minus those never offered
 * (`email`). Ignoring an unoffered scope, rather than refusing the request, is what
 * RFC 6749 §3.3 allows and what keeps clients that ask for `profile email` working:
 * they get `profile` and see from `scope` that `email` was not granted.
 */
export function grantableScopes(requested: readonly string[]): string[] {
  return requested.filter((s) => !SCOPES_NOT_OFFERED.has(s));
}

export type GrantRejection = ScopeRejection | "not_requested";

/**
 * The scopes the owner granted on approval (`scope` of POST /api/indieauth/approve).
 * Omitted: everything grantable. Given: a subset of the grantable scopes (the empty
 * string grants none: the client learns only `me`). A scope the client never asked
 * for cannot be added by the owner's page.
 */
export function grantedScopes(
  grantable: readonly string[],
  approved: string | undefined,
): { ok: true; scopes: string[] } | { ok: false; reason: GrantRejection } {
  if (approved === undefined) return { ok: true, scopes: [...grantable] };
  const parsed = parseScope(approved);
  if (!parsed.ok) return parsed;
  if (parsed.scopes.some((s) => !grantable.includes(s))) return { ok: false, reason: "not_requested" };
  // In the order the client asked, so the token's scope reads like the request.
  return { ok: true, scopes: grantable.filter((s) => parsed.scopes.includes(s)) };
}

/**
 * RFC 6749 §6, LS §5.5.1: a refresh may ask for the same or fewer scopes. Omitted
 * (or empty) means the grant's scopes. Asking for more is `invalid_scope`. The grant itself
 * (and its refresh token) keeps its scopes: only the new access token is narrowed.
 */
export function narrowedScopes(
  grantScopes: readonly string[],
  requested: string | null | undefined,
): { ok: true; scopes: string[] } | { ok: false; reason: GrantRejection } {
  const parsed = parseScope(requested);
  if (!parsed.ok) return parsed;
  // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
  if (parsed.scopes.length === 0) return { ok: true, scopes: [...grantScopes] };
  if (parsed.scopes.some((s) => !grantScopes.includes(s))) return { ok: false, reason: "not_requested" };
  return { ok: true, scopes: grantScopes.filter((s) => parsed.scopes.includes(s)) };
}

/** Does a grant with these scopes include profile information (§14: `profile`)? */
export function includesProfile(scopes: readonly string[]): boolean {
  return scopes.includes("profile");
}
