/**
 * docs/api.md §14's OAuth side, as the sites that sign the owner in see it: the form
 * requests of the `/indieauth/*` endpoints and their RFC 6749 / 7662 / 6750 / 8414
 * JSON answers. The Worker parses none of them: form requests are read by
 * domain/indieauth/ (authorizationRequest.ts, codes.ts), because repeated parameters
 * and RFC 6749 §3.1's "empty is absent" are rules a schema would blur, and the
 * answers are built by domain/indieauth/responses.ts and metadata.ts. The route table
 * (OpenAPI, the sweep), the tests and clients use these schemas; the Worker imports
 * types only, so none of this is in its bundle.
 */
import * as z from "zod/mini";
import "./zodLocale";
import { MAX_URL_CHARS } from "./indieauth";

const absoluteUrl = z.string().check(z.maxLength(MAX_URL_CHARS), z.url());

// ---- Answers (RFC 6749 / 7662 / 6750 bodies) ----

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

// ---- Form requests, for the route table (OpenAPI, the sweep): what a client sends ----

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
