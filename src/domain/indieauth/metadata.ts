/**
 * What the instance publishes about its IndieAuth server (docs/api.md §14,
 * RFC 8414, IndieAuth LS §4.1.1), pure.
 */
import { SCOPES_SUPPORTED } from "./scopes";
import { profileUrlFor, type Checked, type ClientIdPolicy, type ProfileUnavailable } from "./urls";

export const INDIEAUTH_PATHS = {
  metadata: "/.well-known/oauth-authorization-server",
  authorization: "/indieauth/authorize",
  token: "/indieauth/token",
  introspection: "/indieauth/introspect",
  revocation: "/indieauth/revoke",
  userinfo: "/indieauth/userinfo",
} as const;

export interface IndieAuthMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  introspection_endpoint: string;
  revocation_endpoint: string;
  userinfo_endpoint: string;
  response_types_supported: ["code"];
  grant_types_supported: ["authorization_code", "refresh_token"];
  code_challenge_methods_supported: ["S256"];
  token_endpoint_auth_methods_supported: ["none"];
  revocation_endpoint_auth_methods_supported: ["none"];
  scopes_supported: string[];
  authorization_response_iss_parameter_supported: true;
}

/**
 * The metadata document for an instance whose profile URL is `me` (profileUrlFor).
 * The issuer is `me`, with its trailing slash: LS §3.1 wants the issuer to be a
 * prefix of the metadata URL, and RFC 8414 §3.1 removes a terminating `/` before
 * inserting the well-known path, so `https://host/` is found at
 * `https://host/.well-known/oauth-authorization-server` either way.
 */
export function buildMetadata(me: string): IndieAuthMetadata {
  const origin = new URL(me).origin;
  return {
    issuer: me,
    authorization_endpoint: origin + INDIEAUTH_PATHS.authorization,
    token_endpoint: origin + INDIEAUTH_PATHS.token,
    introspection_endpoint: origin + INDIEAUTH_PATHS.introspection,
    revocation_endpoint: origin + INDIEAUTH_PATHS.revocation,
    userinfo_endpoint: origin + INDIEAUTH_PATHS.userinfo,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    scopes_supported: [...SCOPES_SUPPORTED],
    authorization_response_iss_parameter_supported: true,
  };
}

/**
 * What `GET /` and `HEAD /` announce (§14, LS §4.1), as `[rel, absolute URL]`: the
 * metadata, and the two endpoints for clients older than indieauth-metadata.
 */
export function discoveryLinks(me: string): Array<[rel: string, href: string]> {
  const origin = new URL(me).origin;
  return [
    ["indieauth-metadata", origin + INDIEAUTH_PATHS.metadata],
    ["authorization_endpoint", origin + INDIEAUTH_PATHS.authorization],
    ["token_endpoint", origin + INDIEAUTH_PATHS.token],
  ];
}

/** The discovery links as one `Link` header (RFC 8288). */
export function discoveryLinkHeader(me: string): string {
  return discoveryLinks(me)
    .map(([rel, href]) => `<${href}>; rel="${rel}"`)
    .join(", ");
}

export interface IndieAuthServer {
  /** The owner's profile URL: `new URL(ORIGIN).href`. */
  me: string;
  /** The issuer (RFC 9207 `iss`, metadata `issuer`): the same string as `me` (§14). */
  issuer: string;
  /** What checkClientId and discoverClient need. */
  clientIdPolicy: ClientIdPolicy;
}

/**
 * Everything the IndieAuth routes derive from ORIGIN and ALLOW_INSECURE_FEDERATION,
 * or why IndieAuth is unavailable (the routes then answer 404 not_found, §14).
 */
export function indieAuthServerFor(origin: string, options: { allowInsecure: boolean }): Checked<IndieAuthServer, ProfileUnavailable> {
  const me = profileUrlFor(origin, options);
  if (!me.ok) return me;
  return {
    ok: true,
    value: { me: me.value, issuer: me.value, clientIdPolicy: { allowInsecure: options.allowInsecure, ownHost: new URL(me.value).host } },
  };
}
