/**
 * Authorization responses (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207, IndieAuth LS
 * §5.2.1), pure: the parameters are appended to whatever query the redirect URI
 * already has, which stays byte for byte as the client registered it (re-encoding
 * it through URLSearchParams could change `%20` to `+` and break a client that
 * signs or compares its own query). `iss` is the issuer exactly, so a client's
 * simple string comparison (RFC 9207 §2.4) succeeds.
 */

/** Error codes an authorization response may carry back to the client (RFC 6749 §4.1.2.1). */
export type AuthorizationErrorCode = "invalid_request" | "access_denied" | "unsupported_response_type" | "invalid_scope" | "server_error";

/** Appends `params` (in order, `undefined` ones left out) to the query of `redirectUri`. */
export function appendQuery(redirectUri: string, params: ReadonlyArray<readonly [string, string | undefined]>): string {
  // A fragment is refused when the redirect URI is checked; strip one anyway, since
  // anything after `#` would swallow the parameters.
  const base = redirectUri.split("#", 1)[0]!;
  const query = new URLSearchParams();
  for (const [name, value] of params) if (value !== undefined) query.append(name, value);
  const extra = query.toString();
  if (extra === "") return base;
  const separator = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&";
  return base + separator + extra;
}

/** The redirect after approval: `code`, `state` (exactly as sent) and `iss`. */
export function codeRedirect(input: { redirectUri: string; code: string; state: string; issuer: string }): string {
  return appendQuery(input.redirectUri, [
    ["code", input.code],
    ["state", input.state],
    ["iss", input.issuer],
  ]);
}

/**
 * An error redirect: `error`, an optional `error_description` (for developers,
 * RFC 6749 §4.1.2.1), `state` when the request had one, and `iss` (RFC 9207 §2:
 * error responses carry it too).
 */
export function errorRedirect(input: {
  redirectUri: string;
  error: AuthorizationErrorCode;
  description?: string;
  state: string | null;
  issuer: string;
}): string {
  return appendQuery(input.redirectUri, [
    ["error", input.error],
    ["error_description", input.description],
    ["state", input.state ?? undefined],
    ["iss", input.issuer],
  ]);
}
