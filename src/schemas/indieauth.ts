/**
 * Request and response shapes of docs/api.md §14 (IndieAuth). The owner's JSON API
 * (`/api/indieauth/*`, `/api/profile`) follows §0; the form endpoints
 * (`/indieauth/*`) answer RFC 6749 / RFC 7662 JSON, described here too so that
 * tests and clients parse them with the same shapes. Form *requests* are parsed
 * by domain/indieauth/codes.ts (repeated parameters and RFC 6749 §3.1's "empty is
 * absent" are rules zod would blur).
 */
import * as z from "zod/mini";
import "./zodLocale";
/** A client_id, redirect_uri or state longer than this is not a real client's. */
export const MAX_URL_CHARS = 2048;
/** The whole authorization query: well above any real request, far below the 64 KiB body limit. */
export const MAX_QUERY_CHARS = 16 * 1024;

export const INDIEAUTH_LIMITS = {
  /** An authorization request id: 16 random bytes, base64url. */
  requestIdChars: 22,
  profileNameChars: 100,
  photoUrlChars: MAX_URL_CHARS,
  /** A space-separated scope list as the owner's page sends it back. */
  scopeChars: 32 * 65,
} as const;

const requestId = z.string().check(z.regex(/^[A-Za-z0-9_-]{22}$/, "must be a request id"));
const absoluteUrl = z.string().check(z.maxLength(MAX_URL_CHARS), z.url());

/** A photo the owner links to: an https URL (no `data:`; clients fetch it, so it must be fetchable). */
const photoUrl = z.string().check(
  z.maxLength(INDIEAUTH_LIMITS.photoUrlChars),
  z.refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === "https:" && u.username === "" && u.password === "";
    } catch {
      return false;
    }
  }, "must be an https URL"),
);

// ---- Owner API (Bearer, §0 errors) ----

/** POST /api/indieauth/requests: the authorization request's query string, as the consent page received it. */
export const indieAuthRequestBodySchema = z.strictObject({
  query: z.string().check(z.maxLength(MAX_QUERY_CHARS)),
});

export const indieAuthClientSchema = z.object({
  id: z.string(),
  name: z.optional(z.string()),
  url: z.optional(z.string()),
  logo: z.optional(z.string()),
});

export const indieAuthRequestResponseSchema = z.object({
  requestId,
  client: indieAuthClientSchema,
  redirectUri: z.string(),
  /** The scopes the owner may grant (requested ones, `email` left out). */
  scopes: z.array(z.string()),
});

/** 400 invalid_request for a redirectable defect: the page follows `redirect` (§14). */
export const indieAuthRedirectErrorSchema = z.object({
  error: z.literal("invalid_request"),
  message: z.string(),
  redirect: z.string(),
});

export const indieAuthApproveBodySchema = z.strictObject({
  requestId,
  /** Space-separated subset of the request's scopes; omitted: all of them; "": none (profile URL only). */
  scope: z.optional(z.string().check(z.maxLength(INDIEAUTH_LIMITS.scopeChars))),
});

export const indieAuthDenyBodySchema = z.strictObject({ requestId });

/** Approve and deny both answer where the browser goes next. */
export const indieAuthRedirectResponseSchema = z.object({ redirect: z.string() });

export const indieAuthGrantSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  clientName: z.optional(z.string()),
  scope: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number(),
});
export const indieAuthGrantsResponseSchema = z.object({ grants: z.array(indieAuthGrantSchema) });
export type IndieAuthGrant = z.infer<typeof indieAuthGrantSchema>;

/** PUT /api/profile (step-up) and GET /api/profile: what the `profile` scope shares; `url` is always `me`. */
export const profileBodySchema = z.strictObject({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(INDIEAUTH_LIMITS.profileNameChars)),
  photo: z.optional(photoUrl),
});
export const profileResponseSchema = z.object({
  name: z.string(),
  photo: z.optional(z.string()),
});

// ---- Form endpoints (RFC 6749 / 7662 / 6750 bodies) ----

/** LS §5.3.4 / §9: the profile object, also the userinfo response. */
export const indieAuthProfileSchema = z.object({
  name: z.string(),
  url: z.string(),
  photo: z.optional(z.string()),
});
export const userinfoResponseSchema = indieAuthProfileSchema;

/** POST /indieauth/authorize: the profile URL response (LS §5.3.2). */
export const profileUrlResponseSchema = z.strictObject({
  me: z.string(),
  profile: z.optional(indieAuthProfileSchema),
});

/** POST /indieauth/token (LS §5.3.3, RFC 6749 §5.1). */
export const tokenResponseSchema = z.strictObject({
  access_token: z.string().check(z.minLength(1)),
  token_type: z.literal("Bearer"),
  scope: z.string(),
  me: z.string(),
  expires_in: z.number().check(z.int(), z.positive()),
  refresh_token: z.string().check(z.minLength(1)),
  profile: z.optional(indieAuthProfileSchema),
});

/** POST /indieauth/introspect (RFC 7662 §2.2, LS §6.2); an inactive token carries nothing else. */
export const introspectionResponseSchema = z.discriminatedUnion("active", [
  z.strictObject({
    active: z.literal(true),
    me: z.string(),
    client_id: z.string(),
    scope: z.string(),
    exp: z.number().check(z.int()),
    iat: z.number().check(z.int()),
  }),
  z.strictObject({ active: z.literal(false) }),
]);

// ---- Form requests, for the route table (OpenAPI, the sweep) ----
// The server parses them with domain/indieauth/ (authorizationRequest.ts, codes.ts),
// never with these: repeated parameters and "empty is absent" (RFC 6749 §3.1) are
// rules a schema would blur. These describe what a client sends.

const formField = z.optional(z.string());

/** GET /indieauth/authorize (LS §5.2, RFC 7636 §4.3). */
export const authorizationQuerySchema = z.object({
  response_type: z.literal("code"),
  client_id: z.string(),
  redirect_uri: z.string(),
  state: z.string(),
  code_challenge: z.string(),
  code_challenge_method: z.literal("S256"),
  scope: formField,
  me: formField,
});

/** POST /indieauth/authorize: a code for the profile URL (LS §5.3.2; grant_type optional there). */
export const authorizationCodeFormSchema = z.object({
  grant_type: z.optional(z.literal("authorization_code")),
  code: z.string(),
  client_id: z.string(),
  redirect_uri: z.string(),
  code_verifier: z.string(),
});

/**
 * POST /indieauth/token: `authorization_code` (code, client_id, redirect_uri,
 * code_verifier), `refresh_token` (refresh_token, client_id, scope?), or, without a
 * grant_type, the legacy `action=revoke&token=…` (LS §7.1).
 */
export const tokenFormSchema = z.object({
  grant_type: z.optional(z.enum(["authorization_code", "refresh_token"])),
  code: formField,
  client_id: formField,
  redirect_uri: formField,
  code_verifier: formField,
  refresh_token: formField,
  scope: formField,
  action: z.optional(z.literal("revoke")),
  token: formField,
});

/** POST /indieauth/introspect (RFC 7662 §2.1) and POST /indieauth/revoke (RFC 7009 §2.1). */
export const tokenOnlyFormSchema = z.object({
  token: z.string(),
  token_type_hint: formField,
});

/** RFC 6749 §5.2 (and RFC 6750 §3 for userinfo). */
export const oauthErrorCodeSchema = z.enum([
  "invalid_request",
  "invalid_grant",
  "invalid_client",
  "invalid_scope",
  "unsupported_grant_type",
  "unauthorized_client",
  "invalid_token",
  "insufficient_scope",
]);
export type OAuthErrorCode = z.infer<typeof oauthErrorCodeSchema>;
export const oauthErrorResponseSchema = z.object({
  error: oauthErrorCodeSchema,
  error_description: z.optional(z.string()),
});

/** GET /.well-known/oauth-authorization-server (RFC 8414, §14). */
export const indieAuthMetadataSchema = z.object({
  issuer: absoluteUrl,
  authorization_endpoint: absoluteUrl,
  token_endpoint: absoluteUrl,
  introspection_endpoint: absoluteUrl,
  revocation_endpoint: absoluteUrl,
  userinfo_endpoint: absoluteUrl,
  response_types_supported: z.tuple([z.literal("code")]),
  grant_types_supported: z.tuple([z.literal("authorization_code"), z.literal("refresh_token")]),
  code_challenge_methods_supported: z.tuple([z.literal("S256")]),
  token_endpoint_auth_methods_supported: z.tuple([z.literal("none")]),
  revocation_endpoint_auth_methods_supported: z.tuple([z.literal("none")]),
  scopes_supported: z.array(z.string()),
  authorization_response_iss_parameter_supported: z.literal(true),
});
