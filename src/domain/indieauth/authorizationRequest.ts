/**
 * The authorization request (IndieAuth LS §5.2, RFC 6749 §4.1.1, RFC 7636 §4.3,
 * docs/api.md §14), pure: a query string in, a typed request or a typed failure out.
 *
 * RFC 6749 §4.1.2.1 splits failures in two, and so does this module:
 *  - *untrusted*: the client_id or redirect_uri is missing, malformed or not to be
 *    trusted. Redirecting would send the browser to an address nobody vouched for
 *    (an open redirector), so the owner sees an error page and nothing else;
 *  - *redirectable*: anything else (response_type, PKCE, state, scope). The error
 *    goes back to the client at its redirect_uri, but only once that redirect_uri is
 *    accepted for the client (`acceptRedirectUri`, after the client's document is
 *    fetched): until then a redirectable failure is still shown, never followed.
 *    `decideAuthorizationRequest` puts the two steps together.
 */
import { errorRedirect } from "./redirects";
import { grantableScopes, parseScope } from "./scopes";
import { isValidS256Challenge } from "./pkce";
import { acceptRedirectUri, canonicalHref, checkClientId, checkRedirectUriSyntax, type ClientIdPolicy, type ClientIdRejection, type RedirectAcceptance, type RedirectUriRejection } from "./urls";

import { MAX_QUERY_CHARS } from "../../schemas/indieauth";

/** `state` travels back verbatim; clients may pack session data into it (LS §5.2.1), within reason. */
export const MAX_STATE_CHARS = 2048;

export interface AuthorizationRequest {
  /** Canonical client_id (checkClientId). */
  clientId: string;
  /** Canonical redirect_uri (checkRedirectUriSyntax); not yet accepted for the client. */
  redirectUri: string;
  state: string;
  /** S256 challenge, 43 base64url characters. */
  codeChallenge: string;
  /** Requested scopes, in order, deduplicated; may be empty (authentication only). */
  requestedScopes: string[];
  /** Requested scopes the owner may grant (`email` is never offered). */
  grantableScopes: string[];
  /** The `me` hint as sent (LS §5.2: unverified, only a hint), or null. */
  meHint: string | null;
}

export type UntrustedReason =
  | `client_id_${ClientIdRejection}`
  | `redirect_uri_${RedirectUriRejection}`
  | "client_id_repeated"
  | "redirect_uri_repeated"
  | "redirect_uri_not_allowed"
  | "query_too_long";

export type RedirectableReason =
  | "response_type_missing"
  | "response_type_unsupported"
  | "code_challenge_missing"
  | "code_challenge_malformed"
  | "code_challenge_method_unsupported"
  | "state_missing"
  | "state_too_long"
  | "scope_malformed"
  | "parameter_repeated";

export type AuthorizationRequestParse =
  | { ok: true; request: AuthorizationRequest }
  | { ok: false; kind: "untrusted"; reason: UntrustedReason; description: string }
  | {
      ok: false;
      kind: "redirectable";
      reason: RedirectableReason;
      description: string;
      /** Always "invalid_request" (§14). */
      error: "invalid_request";
      clientId: string;
      redirectUri: string;
      state: string | null;
    };

const UNTRUSTED_DESCRIPTIONS: Record<UntrustedReason, string> = {
  client_id_missing: "The request has no client_id.",
  client_id_not_a_url: "The client_id is not a URL.",
  client_id_scheme: "The client_id must be an https URL.",
  client_id_fragment: "The client_id must not have a fragment.",
  client_id_credentials: "The client_id must not contain a user name or password.",
  client_id_dot_segment: "The client_id must not contain . or .. path segments.",
  client_id_ip_literal: "The client_id must name a host by domain name, not by IP address.",
  client_id_port: "The client_id must use the default port.",
  client_id_not_a_domain: "The client_id must name a public domain.",
  client_id_loopback: "The client_id names this computer (loopback); that is only allowed in development.",
  client_id_own_host: "The client_id names this identity server itself.",
  client_id_too_long: "The client_id is too long.",
  client_id_repeated: "The request has more than one client_id.",
  redirect_uri_missing: "The request has no redirect_uri.",
  redirect_uri_not_a_url: "The redirect_uri is not an absolute URL.",
  redirect_uri_fragment: "The redirect_uri must not have a fragment.",
  redirect_uri_credentials: "The redirect_uri must not contain a user name or password.",
  redirect_uri_too_long: "The redirect_uri is too long.",
  redirect_uri_scheme: "The redirect_uri uses a scheme that cannot receive an authorization response.",
  redirect_uri_repeated: "The request has more than one redirect_uri.",
  redirect_uri_not_allowed: "The redirect_uri is neither on the client's own origin nor listed by the client.",
  query_too_long: "The authorization request is too long.",
};

const REDIRECTABLE_DESCRIPTIONS: Record<RedirectableReason, string> = {
  response_type_missing: "response_type is missing; it must be code.",
  response_type_unsupported: "response_type must be code.",
  code_challenge_missing: "code_challenge is missing: PKCE with S256 is required.",
  code_challenge_malformed: "code_challenge must be 43 base64url characters (S256).",
  code_challenge_method_unsupported: "code_challenge_method must be S256.",
  state_missing: "state is missing.",
  state_too_long: "state is too long.",
  scope_malformed: "scope is not a space-separated list of scope tokens.",
  parameter_repeated: "A parameter appears more than once.",
};


/** The parameters of RFC 6749 §4.1.1, RFC 7636 §4.3 and LS §5.2; any other is ignored (RFC 6749 §3.1). */
const KNOWN = ["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "me"] as const;
type Known = (typeof KNOWN)[number];

/**
 * Parses the query string of GET /indieauth/authorize (with or without the `?`).
 * Needs nothing fetched: the GET route uses it to decide between the consent page
 * and an error page, POST /api/indieauth/requests to start the real checks.
 */
export function parseAuthorizationRequest(query: string, policy: ClientIdPolicy): AuthorizationRequestParse {
  if (query.length > MAX_QUERY_CHARS) return untrusted("query_too_long");
  const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  // RFC 6749 §3.1: parameters without a value are omitted; none may appear twice.
  const values = new Map<Known, string[]>();
  for (const name of KNOWN) values.set(name, params.getAll(name).filter((v) => v !== ""));
  const one = (name: Known): string | null => values.get(name)![0] ?? null;
  const repeated = (name: Known) => values.get(name)!.length > 1;

  if (repeated("client_id")) return untrusted("client_id_repeated");
  const clientId = checkClientId(one("client_id"), policy);
  if (!clientId.ok) return untrusted(`client_id_${clientId.reason}`);
  if (repeated("redirect_uri")) return untrusted("redirect_uri_repeated");
  const redirectUri = checkRedirectUriSyntax(one("redirect_uri"));
  if (!redirectUri.ok) return untrusted(`redirect_uri_${redirectUri.reason}`);

  const state = repeated("state") ? null : one("state");
  const fail = (reason: RedirectableReason): AuthorizationRequestParse => ({
    ok: false,
    kind: "redirectable",
    reason,
    description: REDIRECTABLE_DESCRIPTIONS[reason],
    error: "invalid_request",
    clientId: clientId.value,
    redirectUri: redirectUri.value,
    // A state that is too long still goes back: the client may need it to match the answer.
    state,
  });

  if (KNOWN.some(repeated)) return fail("parameter_repeated");
  const responseType = one("response_type");
  if (responseType === null) return fail("response_type_missing");
  if (responseType !== "code") return fail("response_type_unsupported");
  if (state === null) return fail("state_missing");
  if (state.length > MAX_STATE_CHARS) return fail("state_too_long");
  const codeChallenge = one("code_challenge");
  if (codeChallenge === null) return fail("code_challenge_missing");
  // RFC 7636 §4.3: an absent method means "plain", which §14 does not support.
  if (one("code_challenge_method") !== "S256") return fail("code_challenge_method_unsupported");
  if (!isValidS256Challenge(codeChallenge)) return fail("code_challenge_malformed");
  const scope = parseScope(one("scope"));
  if (!scope.ok) return fail("scope_malformed");

  return {
    ok: true,
    request: {
      clientId: clientId.value,
      redirectUri: redirectUri.value,
      state,
      codeChallenge,
      requestedScopes: scope.scopes,
      grantableScopes: grantableScopes(scope.scopes),
      meHint: one("me"),
    },
  };
}

function untrusted(reason: UntrustedReason): AuthorizationRequestParse {
  return { ok: false, kind: "untrusted", reason, description: UNTRUSTED_DESCRIPTIONS[reason] };
}

/** Does the `me` hint name our owner (after LS §3.4 canonicalization)? A mismatch is shown, not refused (LS §5.2). */
export function meHintMatches(meHint: string | null, me: string): boolean {
  if (meHint === null) return true;
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(meHint) ? meHint : `https://${meHint}`;
  return canonicalHref(withScheme) === me;
}

/** What POST /api/indieauth/requests does once the client's redirect URIs are known (or their fetch failed). */
export type AuthorizationDecision =
  | { kind: "untrusted"; reason: UntrustedReason; description: string }
  | { kind: "redirect_error"; reason: RedirectableReason; description: string; redirect: string }
  | { kind: "ok"; request: AuthorizationRequest; redirectAcceptance: RedirectAcceptance };

/**
 * Combines the parse with the client's redirect URIs (`listed`: from its document;
 * null when the fetch failed). A redirectable failure is only redirected once the
 * redirect_uri is accepted for the client; until then it is untrusted.
 */
export function decideAuthorizationRequest(
  parsed: AuthorizationRequestParse,
  listed: readonly string[] | null,
  issuer: string,
): AuthorizationDecision {
  if (!parsed.ok && parsed.kind === "untrusted") return { kind: "untrusted", reason: parsed.reason, description: parsed.description };
  const { clientId, redirectUri } = parsed.ok ? parsed.request : parsed;
  const acceptance = acceptRedirectUri(clientId, redirectUri, listed);
  if (!acceptance) return { kind: "untrusted", reason: "redirect_uri_not_allowed", description: UNTRUSTED_DESCRIPTIONS.redirect_uri_not_allowed };
  if (parsed.ok) return { kind: "ok", request: parsed.request, redirectAcceptance: acceptance };
  return {
    kind: "redirect_error",
    reason: parsed.reason,
    description: parsed.description,
    redirect: errorRedirect({ redirectUri, error: parsed.error, description: parsed.description, state: parsed.state, issuer }),
  };
}
