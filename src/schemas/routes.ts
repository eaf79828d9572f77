/**
 * The route table: every route of the API with its method, path, auth, request and
 * response schemas and the error codes it may answer with. It is the contract in one
 * place, for the OpenAPI build (scripts/build-openapi.mjs), the tests (each response
 * that goes through the workers test helpers is checked against it) and sweeps that
 * iterate over every route (`ROUTE_LIST`).
 *
 * The Worker never imports it at runtime, so it adds nothing to the bundle: route
 * handlers use its types only (`import type { Reply } from "../schemas/routes"`).
 * docs/api.md says what a schema cannot (rules, order of checks, frames).
 */
import * as z from "zod/mini";
import { ERROR_STATUS } from "../errors";
import { activityQuerySchema, escrowUpdateRequestSchema, LIMITS, setupRequestSchema, totpConfirmRequestSchema } from "./api";
import { recoveryConfigureRequestSchema, recoveryStartRequestSchema } from "./recovery";
import { ARCHIVE_LIMITS, archiveSchema, restoreRequestSchema } from "./archive";
import {
  backupCodesWithFactorRequestSchema,
  escrowFetchWithFactorRequestSchema,
  loginWithFactorRequestSchema,
  reauthWithFactorRequestSchema,
  totpDisableWithFactorRequestSchema,
} from "./factors";
import { passkeyDeleteRequestSchema, passkeyIdParamSchema, passkeyRegisterRequestSchema, passkeyUpdateRequestSchema } from "./passkeys";
import { type ErrorCode } from "./errors";
import { indieAuthApproveBodySchema, indieAuthDenyBodySchema, indieAuthRequestBodySchema, profileBodySchema } from "./indieauth";
import {
  authorizationCodeFormSchema,
  authorizationQuerySchema,
  indieAuthMetadataSchema,
  introspectionResponseSchema,
  profileUrlResponseSchema,
  tokenFormSchema,
  tokenOnlyFormSchema,
  tokenResponseSchema,
  userinfoResponseSchema,
  type OAuthErrorCode,
} from "./oauth";
import { outboxIdParamSchema, outboxRequestSchema } from "./federation";
import { messageIdParamSchema, messagesQuerySchema, messageSubmitRequestSchema } from "./messages";
import {
  challengeWithPasskeyResponseSchema,
  passkeyCreationOptionsResponseSchema,
  passkeyRegisterResponseSchema,
  passkeyRequestOptionsResponseSchema,
  passkeysResponseSchema,
  passkeyUpdateResponseSchema,
  twoFactorStatusWithPasskeysResponseSchema,
} from "./passkeyResponses";
import { recoveryStartResponseSchema, recoveryStatusResponseSchema } from "./recoveryResponses";
import {
  actorResponseSchema,
  discoveryResponseSchema,
  escrowVersionResponseSchema,
  indieAuthGrantsResponseSchema,
  indieAuthRedirectResponseSchema,
  indieAuthRequestResponseSchema,
  jwksResponseSchema,
  outboxAcceptedResponseSchema,
  outboxStateSchema,
  profileResponseSchema,
  webfingerResponseSchema,
} from "./responses";
import {
  activityResponseSchema,
  backupCodesResponseSchema,
  escrowResponseSchema,
  loginResponseSchema,
  refreshResponseSchema,
  sessionsResponseSchema,
  totpConfirmResponseSchema,
  totpEnrolmentResponseSchema,
} from "./apiResponses";
import { messageAcceptedResponseSchema, messagesResponseSchema } from "./messageResponses";

/**
 * How a route authenticates its caller:
 * - `none`: public;
 * - `bearer`: `Authorization: Bearer <access token>` (docs/api.md §4);
 * - `step-up`: bearer, and the token's login is recent (and has a second factor when 2FA is on);
 * - `bearer-subprotocol`: the access token as the WebSocket subprotocol `bearer.<token>` (§10);
 * - `refresh-cookie`: the `__Secure-rt` cookie (§5);
 * - `setup-code`: the one-time setup code in the body (§3);
 * - `http-signature`: a peer server's HTTP signature (§11);
 * - `introspection-secret`: `Authorization: Bearer <INDIEAUTH_INTROSPECTION_SECRET>` (§14);
 * - `indieauth-token`: `Authorization: Bearer <an IndieAuth access token>` (§14).
 */
export type RouteAuth =
  | "none"
  | "bearer"
  | "step-up"
  | "bearer-subprotocol"
  | "refresh-cookie"
  | "setup-code"
  | "http-signature"
  | "introspection-secret"
  | "indieauth-token";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * The shape of a route's 4xx answers:
 * - `protocol` (the default): `{"error", "message"[, "issues"]}` with a protocol code (docs/api.md §0);
 * - `oauth`: an RFC 6749 §5.2 body `{"error"[, "error_description"]}` (the IndieAuth
 *   endpoints that OAuth clients call, /indieauth/*); refusals from before the handler
 *   (body limit, rate limit) may still be the protocol's;
 * - `page`: an HTML page, for a route a browser navigates to (the consent page).
 */
export type ErrorStyle = "protocol" | "oauth" | "page";

export interface ResponseSpec {
  description: string;
  /** The media type of the body; none for a bodiless answer (204, 101). */
  contentType?: string;
  schema?: z.ZodMiniType;
  /** The answer may also come without a body (POST /inbox: an ignored activity). */
  bodyOptional?: boolean;
}

export interface RouteSpec {
  method: HttpMethod;
  /** OpenAPI style: `{id}` for a path parameter. */
  path: string;
  summary: string;
  /** Section of docs/api.md that defines the route. */
  section: number;
  auth: RouteAuth;
  /** `Access-Control-Allow-Origin: *`, no cookies. */
  cors?: boolean;
  /** A static asset of the owner web app (wrangler.toml [assets]), not a Worker route. */
  asset?: boolean;
  body?: { schema: z.ZodMiniType; contentType: string; maxBytes: number; required: boolean };
  query?: z.ZodMiniObject;
  params?: z.ZodMiniObject;
  /** Successful answers by status. */
  responses: Partial<Record<200 | 201 | 202 | 204 | 101, ResponseSpec>>;
  /** Every error code the route may answer with; statuses follow ERROR_STATUS. */
  errors: readonly ErrorCode[];
  /** How its errors look; `protocol` when absent. */
  errorStyle?: ErrorStyle;
  /** `oauth` routes: the RFC 6749 §5.2 / RFC 6750 §3 codes it may answer with (besides `errors`, refusals before the handler). */
  oauthErrors?: readonly OAuthErrorCode[];
}

const JSON_TYPE = "application/json";
const json = <S extends z.ZodMiniType>(schema: S, description: string) => ({ description, contentType: JSON_TYPE, schema });
const jsonBody = (schema: z.ZodMiniType, maxBytes: number = LIMITS.bodyBytes, required = true) => ({
  schema,
  contentType: JSON_TYPE,
  maxBytes,
  required,
});
const noContent: ResponseSpec = { description: "Done; no body." };
const FORM_TYPE = "application/x-www-form-urlencoded";
const formBody = (schema: z.ZodMiniType, required = true) => ({ schema, contentType: FORM_TYPE, maxBytes: LIMITS.bodyBytes, required });

/**
 * Errors any request to the route can meet before its handler: a body over the limit
 * (every route, docs/api.md §0), the Origin check (state-changing /auth and /api
 * routes) and the access token's checks.
 */
const TOO_LARGE = ["payload_too_large"] as const;
const ORIGIN_CHECKED = ["forbidden"] as const;
const BEARER = ["unauthorized", "session_revoked"] as const;
const STEP_UP = [...BEARER, "step_up_required"] as const;

export const ROUTES = {
  // --- §2 discovery ---------------------------------------------------------------
  "GET /.well-known/jwks.json": {
    method: "GET",
    path: "/.well-known/jwks.json",
    summary: "The owner's public keys; retired ones marked `\"status\": \"retired\"`.",
    section: 2,
    auth: "none",
    cors: true,
    responses: { 200: json(jwksResponseSchema, "The JWKS (Cache-Control: public, max-age=300).") },
    errors: ["not_claimed", ...TOO_LARGE],
  },
  "GET /.well-known/indienet": {
    method: "GET",
    path: "/.well-known/indienet",
    summary: "Protocol, origin, whether the instance is claimed, and its endpoints.",
    section: 2,
    auth: "none",
    cors: true,
    responses: { 200: json(discoveryResponseSchema, "The discovery document.") },
    errors: [...TOO_LARGE],
  },

  // --- §11 federation (public side) -------------------------------------------------
  "GET /.well-known/webfinger": {
    method: "GET",
    path: "/.well-known/webfinger",
    summary: "WebFinger (RFC 7033): a JRD whose `self` link names the ActivityPub actor.",
    section: 11,
    auth: "none",
    cors: true,
    query: z.object({ resource: z.string().check(z.minLength(1), z.maxLength(512)) }),
    responses: {
      200: { description: "The JRD.", contentType: "application/jrd+json", schema: webfingerResponseSchema },
    },
    errors: ["invalid_request", "not_found", ...TOO_LARGE],
  },
  "GET /actor": {
    method: "GET",
    path: "/actor",
    summary: "The owner's ActivityPub actor: inbox, the instance's RSA federation key, the JWKS link.",
    section: 11,
    auth: "none",
    cors: true,
    responses: {
      200: {
        description: 'The actor; `application/ld+json; profile="https://www.w3.org/ns/activitystreams"` when asked for.',
        contentType: "application/activity+json",
        schema: actorResponseSchema,
      },
    },
    errors: [...TOO_LARGE],
  },
  "POST /inbox": {
    method: "POST",
    path: "/inbox",
    summary: "Deliveries from other servers, HTTP-signed (draft-cavage-12 or RFC 9421).",
    section: 11,
    auth: "http-signature",
    body: {
      schema: z.looseObject({ type: z.string() }),
      contentType: "application/activity+json",
      maxBytes: LIMITS.bodyBytes,
      required: true,
    },
    responses: {
      202: {
        description: "Accepted: `{id}` when stored (or stored before, for a redelivery); no body when ignored.",
        contentType: JSON_TYPE,
        schema: messageAcceptedResponseSchema,
        bodyOptional: true,
      },
    },
    errors: ["invalid_request", "unauthorized", "not_claimed", "rate_limited", "version_conflict", ...TOO_LARGE],
  },

  // --- §9 messages (public side) --------------------------------------------------
  "POST /messages": {
    method: "POST",
    path: "/messages",
    summary: "Anyone seals a compact JWE to the owner's current encryption key.",
    section: 9,
    auth: "none",
    cors: true,
    body: jsonBody(messageSubmitRequestSchema),
    responses: { 202: json(messageAcceptedResponseSchema, "Stored durably.") },
    errors: ["invalid_request", "not_claimed", "rate_limited", "version_conflict", ...TOO_LARGE],
  },

  // --- §3 claim -----------------------------------------------------------------------
  "POST /auth/challenge": {
    method: "POST",
    path: "/auth/challenge",
    summary: "A single-use 32-byte challenge, valid 120 s; says whether 2FA is on and a passkey can be used.",
    section: 3,
    auth: "none",
    responses: { 200: json(challengeWithPasskeyResponseSchema, "The challenge.") },
    errors: ["rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/setup": {
    method: "POST",
    path: "/auth/setup",
    summary: "Claims a fresh instance: setup code, public keys, escrow blob, signed challenge.",
    section: 3,
    auth: "setup-code",
    body: jsonBody(setupRequestSchema, LIMITS.escrowBodyBytes),
    responses: { 201: json(loginResponseSchema, "Claimed; a session begins (refresh cookie set).") },
    errors: ["invalid_request", "invalid_assertion", "already_claimed", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/restore": {
    method: "POST",
    path: "/auth/restore",
    summary: "Claims a fresh instance from an export archive (docs/export-restore.md).",
    section: 3,
    auth: "setup-code",
    body: jsonBody(z.extend(restoreRequestSchema, { archive: archiveSchema }), ARCHIVE_LIMITS.restoreBodyBytes),
    responses: { 201: json(loginResponseSchema, "Restored; a session begins (refresh cookie set).") },
    errors: ["invalid_request", "invalid_assertion", "already_claimed", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §4 login -------------------------------------------------------------------
  "POST /auth/login": {
    method: "POST",
    path: "/auth/login",
    summary: "A signed challenge (and the second factor when 2FA is on) → access token and refresh cookie.",
    section: 4,
    auth: "none",
    body: jsonBody(loginWithFactorRequestSchema),
    responses: { 200: json(loginResponseSchema, "Logged in (refresh cookie set).") },
    errors: [
      "invalid_request",
      "not_claimed",
      "invalid_assertion",
      "mfa_required",
      "invalid_code",
      "version_conflict",
      "rate_limited",
      ...ORIGIN_CHECKED,
      ...TOO_LARGE,
    ],
  },
  "POST /auth/escrow": {
    method: "POST",
    path: "/auth/escrow",
    summary: "The escrow blob for a new device; needs a code when 2FA is on.",
    section: 4,
    auth: "none",
    body: jsonBody(escrowFetchWithFactorRequestSchema, LIMITS.bodyBytes, false),
    responses: { 200: json(escrowResponseSchema, "The latest escrow, with an mfaTicket when a code or passkey (or a ready recovery, §13) was checked.") },
    errors: ["invalid_request", "not_claimed", "mfa_required", "invalid_code", "invalid_assertion", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/reauth": {
    method: "POST",
    path: "/auth/reauth",
    summary: "Step-up: a fresh signature (and code) → a token with a fresh auth_time.",
    section: 4,
    auth: "bearer",
    body: jsonBody(reauthWithFactorRequestSchema),
    responses: { 200: json(loginResponseSchema, "A new access token for the same session.") },
    errors: ["invalid_request", "not_claimed", "invalid_assertion", "invalid_code", "rate_limited", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §5 refresh -------------------------------------------------------------------
  "POST /auth/refresh": {
    method: "POST",
    path: "/auth/refresh",
    summary: "Rotates the refresh cookie; a new access token.",
    section: 5,
    auth: "refresh-cookie",
    responses: { 200: json(refreshResponseSchema, "Rotated (new refresh cookie set).") },
    errors: ["unauthorized", "session_revoked", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/logout": {
    method: "POST",
    path: "/auth/logout",
    summary: "Ends this session and clears the cookie.",
    section: 5,
    auth: "refresh-cookie",
    responses: { 204: noContent },
    errors: ["rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §6 sessions and activity ---------------------------------------------------
  "GET /api/sessions": {
    method: "GET",
    path: "/api/sessions",
    summary: "The live sessions.",
    section: 6,
    auth: "bearer",
    responses: { 200: json(sessionsResponseSchema, "Sessions, the caller's marked `current`.") },
    errors: [...BEARER, ...TOO_LARGE],
  },
  "DELETE /api/sessions": {
    method: "DELETE",
    path: "/api/sessions",
    summary: "Revokes every session but the current one.",
    section: 6,
    auth: "bearer",
    responses: { 204: noContent },
    errors: [...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "DELETE /api/sessions/{id}": {
    method: "DELETE",
    path: "/api/sessions/{id}",
    summary: "Revokes one session; its sockets close with 4403.",
    section: 6,
    auth: "bearer",
    params: z.object({ id: z.string() }),
    responses: { 204: noContent },
    errors: ["not_found", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "GET /api/activity": {
    method: "GET",
    path: "/api/activity",
    summary: "The security log, newest first.",
    section: 6,
    auth: "bearer",
    query: activityQuerySchema,
    responses: { 200: json(activityResponseSchema, "A page of entries.") },
    errors: ["invalid_request", ...BEARER, ...TOO_LARGE],
  },

  // --- §7 escrow maintenance ------------------------------------------------------
  "GET /api/escrow": {
    method: "GET",
    path: "/api/escrow",
    summary: "The latest escrow version, blob and public keys.",
    section: 7,
    auth: "bearer",
    responses: { 200: json(z.omit(escrowResponseSchema, { mfaTicket: true }), "The latest escrow.") },
    errors: ["not_claimed", ...BEARER, ...TOO_LARGE],
  },
  "PUT /api/escrow": {
    method: "PUT",
    path: "/api/escrow",
    summary: "Replaces the escrow (optimistic versioning); new publicKeys rotate the keys.",
    section: 7,
    auth: "step-up",
    body: jsonBody(escrowUpdateRequestSchema, LIMITS.escrowBodyBytes),
    responses: { 200: json(escrowVersionResponseSchema, "The new version.") },
    errors: ["invalid_request", "not_claimed", "invalid_assertion", "version_conflict", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §8 two-factor authentication -------------------------------------------------
  "GET /api/2fa": {
    method: "GET",
    path: "/api/2fa",
    summary: "Whether 2FA is on, by TOTP and how many passkeys, and how many backup codes are left.",
    section: 8,
    auth: "bearer",
    responses: { 200: json(twoFactorStatusWithPasskeysResponseSchema, "The status.") },
    errors: [...BEARER, ...TOO_LARGE],
  },
  "POST /api/2fa/totp": {
    method: "POST",
    path: "/api/2fa/totp",
    summary: "Begins TOTP enrolment: a pending secret, its otpauth URI and a QR code.",
    section: 8,
    auth: "step-up",
    responses: { 200: json(totpEnrolmentResponseSchema, "The pending secret.") },
    errors: ["rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /api/2fa/totp/confirm": {
    method: "POST",
    path: "/api/2fa/totp/confirm",
    summary: "Confirms enrolment with a code: 2FA is on, other sessions are revoked.",
    section: 8,
    auth: "bearer",
    body: jsonBody(totpConfirmRequestSchema),
    responses: {
      200: json(totpConfirmResponseSchema, "The 10 backup codes when this turned 2FA on; {} when it was on already (§12)."),
    },
    errors: ["invalid_request", "not_found", "invalid_code", "rate_limited", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "DELETE /api/2fa/totp": {
    method: "DELETE",
    path: "/api/2fa/totp",
    summary: "Removes TOTP with a factor; 2FA is off unless a passkey is left (404 when no TOTP is set up).",
    section: 8,
    auth: "step-up",
    body: jsonBody(totpDisableWithFactorRequestSchema),
    responses: { 204: noContent },
    errors: ["invalid_request", "not_found", "invalid_code", "rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /api/2fa/backup-codes": {
    method: "POST",
    path: "/api/2fa/backup-codes",
    summary: "A new set of backup codes; the old set stops working.",
    section: 8,
    auth: "step-up",
    body: jsonBody(backupCodesWithFactorRequestSchema),
    responses: { 200: json(backupCodesResponseSchema, "The 10 new backup codes.") },
    errors: ["invalid_request", "not_found", "invalid_code", "rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §12 passkeys ---------------------------------------------------------------------
  "POST /api/passkeys/options": {
    method: "POST",
    path: "/api/passkeys/options",
    summary: "Creation options for a new passkey; the challenge is bound to this session.",
    section: 12,
    auth: "step-up",
    responses: { 200: json(passkeyCreationOptionsResponseSchema, "PublicKeyCredentialCreationOptionsJSON.") },
    errors: ["invalid_request", "rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /api/passkeys": {
    method: "POST",
    path: "/api/passkeys",
    summary: "Registers a passkey (the session that asked for the options); the first one turns 2FA on.",
    section: 12,
    auth: "bearer",
    body: jsonBody(passkeyRegisterRequestSchema),
    responses: { 201: json(passkeyRegisterResponseSchema, "The passkey, and backup codes when it turned 2FA on.") },
    errors: ["invalid_request", "rate_limited", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "GET /api/passkeys": {
    method: "GET",
    path: "/api/passkeys",
    summary: "The registered passkeys.",
    section: 12,
    auth: "bearer",
    responses: { 200: json(passkeysResponseSchema, "The passkeys, oldest first.") },
    errors: [...BEARER, ...TOO_LARGE],
  },
  "PATCH /api/passkeys/{id}": {
    method: "PATCH",
    path: "/api/passkeys/{id}",
    summary: "Renames a passkey or records whether it supports PRF.",
    section: 12,
    auth: "step-up",
    params: z.object({ id: passkeyIdParamSchema }),
    body: jsonBody(passkeyUpdateRequestSchema),
    responses: { 200: json(passkeyUpdateResponseSchema, "The passkey.") },
    errors: ["invalid_request", "not_found", "rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "DELETE /api/passkeys/{id}": {
    method: "DELETE",
    path: "/api/passkeys/{id}",
    summary: "Removes a passkey; the last second factor also needs a factor in the body.",
    section: 12,
    auth: "step-up",
    params: z.object({ id: passkeyIdParamSchema }),
    body: jsonBody(passkeyDeleteRequestSchema, LIMITS.bodyBytes, false),
    responses: { 204: noContent },
    errors: ["invalid_request", "not_found", "invalid_code", "rate_limited", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/passkey/options": {
    method: "POST",
    path: "/auth/passkey/options",
    summary: "Request options for a passkey assertion (no allowCredentials); 404 while none is registered.",
    section: 12,
    auth: "none",
    responses: { 200: json(passkeyRequestOptionsResponseSchema, "PublicKeyCredentialRequestOptionsJSON.") },
    errors: ["invalid_request", "not_found", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §9 messages (owner side) -----------------------------------------------------
  "GET /api/messages": {
    method: "GET",
    path: "/api/messages",
    summary: "The owner's sealed messages, oldest first.",
    section: 9,
    auth: "bearer",
    query: messagesQuerySchema,
    responses: { 200: json(messagesResponseSchema, "A page of messages; `next` is the next page's `after`.") },
    errors: ["invalid_request", ...BEARER, ...TOO_LARGE],
  },
  "DELETE /api/messages/{id}": {
    method: "DELETE",
    path: "/api/messages/{id}",
    summary: "Deletes a message.",
    section: 9,
    auth: "bearer",
    params: messageIdParamSchema,
    responses: { 204: noContent },
    errors: ["not_found", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §10 live channel -------------------------------------------------------------
  "GET /api/ws": {
    method: "GET",
    path: "/api/ws",
    summary: "The live channel (WebSocket; subprotocols `indie.v1`, `bearer.<token>`). Frames: docs/api.md §10.",
    section: 10,
    auth: "bearer-subprotocol",
    responses: { 101: { description: "Switching protocols to `indie.v1`." } },
    errors: ["invalid_request", "unauthorized", "session_revoked", "forbidden", ...TOO_LARGE],
  },

  // --- §11 federation (owner side) --------------------------------------------------
  "POST /api/outbox": {
    method: "POST",
    path: "/api/outbox",
    summary: "Sends a JWE to a federated actor (URL or acct:), retried for up to 48 h.",
    section: 11,
    auth: "bearer",
    body: jsonBody(outboxRequestSchema),
    responses: { 202: json(outboxAcceptedResponseSchema, "Queued.") },
    errors: ["invalid_request", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "GET /api/outbox/{id}": {
    method: "GET",
    path: "/api/outbox/{id}",
    summary: "A delivery's status.",
    section: 11,
    auth: "bearer",
    params: outboxIdParamSchema,
    responses: { 200: json(outboxStateSchema, "The status.") },
    errors: ["not_found", ...BEARER, ...TOO_LARGE],
  },

  // --- §13 recovery ------------------------------------------------------------------
  "GET /api/recovery": {
    method: "GET",
    path: "/api/recovery",
    summary: "Whether a recovery verifier is set, and the open recovery request, if any.",
    section: 13,
    auth: "bearer",
    responses: { 200: json(recoveryStatusResponseSchema, "The recovery status.") },
    errors: [...BEARER, ...TOO_LARGE],
  },
  "PUT /api/recovery": {
    method: "PUT",
    path: "/api/recovery",
    summary: "Sets (or with null removes) the recovery verifier; ends any open request.",
    section: 13,
    auth: "step-up",
    body: jsonBody(recoveryConfigureRequestSchema),
    responses: { 204: noContent },
    errors: ["invalid_request", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "DELETE /api/recovery/request": {
    method: "DELETE",
    path: "/api/recovery/request",
    summary: "Cancels the open recovery request (any session, with a recent login).",
    section: 13,
    auth: "step-up",
    responses: { 204: noContent },
    errors: ["not_found", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /auth/recovery": {
    method: "POST",
    path: "/auth/recovery",
    summary: "Starts a recovery with an assertion by the recovery verifier; usable after RECOVERY_DELAY_S.",
    section: 13,
    auth: "none",
    body: jsonBody(recoveryStartRequestSchema),
    responses: { 202: json(recoveryStartResponseSchema, "The request is open (or was already): when it can be completed.") },
    errors: ["invalid_request", "not_claimed", "invalid_assertion", "rate_limited", ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- §14 IndieAuth -----------------------------------------------------------------
  // Every route answers 404 not_found while ORIGIN has a port, an IP address or plain
  // http (unless ALLOW_INSECURE_FEDERATION).
  "GET /.well-known/oauth-authorization-server": {
    method: "GET",
    path: "/.well-known/oauth-authorization-server",
    summary: "The IndieAuth server's metadata (RFC 8414): issuer (= me), endpoints, S256, scopes.",
    section: 14,
    auth: "none",
    cors: true,
    responses: { 200: json(indieAuthMetadataSchema, "The metadata (Cache-Control: no-store).") },
    errors: ["not_found", ...TOO_LARGE],
  },
  "GET /indieauth/authorize": {
    method: "GET",
    path: "/indieauth/authorize",
    summary: "The authorization endpoint: the owner app's consent page (it fetches nothing); an error page for a request with no trustworthy client_id or redirect_uri.",
    section: 14,
    auth: "none",
    query: authorizationQuerySchema,
    responses: { 200: { description: "The consent page (frame-ancestors 'none').", contentType: "text/html" } },
    errors: [],
    errorStyle: "page",
  },
  "POST /indieauth/authorize": {
    method: "POST",
    path: "/indieauth/authorize",
    summary: "Redeems a code for the profile URL (`me`, and `profile` with that scope); never a token.",
    section: 14,
    auth: "none",
    cors: true,
    body: formBody(authorizationCodeFormSchema),
    responses: { 200: json(profileUrlResponseSchema, "The profile URL.") },
    errors: ["not_found", "rate_limited", ...TOO_LARGE],
    errorStyle: "oauth",
    oauthErrors: ["invalid_request", "invalid_grant", "unsupported_grant_type"],
  },
  "POST /indieauth/token": {
    method: "POST",
    path: "/indieauth/token",
    summary: "A code (with PKCE S256) for an access and a refresh token; refresh-token rotation (§5 rules); the legacy action=revoke.",
    section: 14,
    auth: "none",
    cors: true,
    body: formBody(tokenFormSchema),
    responses: {
      200: {
        description: "The tokens; no body for action=revoke.",
        contentType: JSON_TYPE,
        schema: tokenResponseSchema,
        bodyOptional: true,
      },
    },
    errors: ["not_found", "rate_limited", ...TOO_LARGE],
    errorStyle: "oauth",
    oauthErrors: ["invalid_request", "invalid_grant", "invalid_scope", "unsupported_grant_type"],
  },
  "POST /indieauth/introspect": {
    method: "POST",
    path: "/indieauth/introspect",
    summary: "Token introspection (RFC 7662) for the owner's resource servers; the owner's own JWTs are inactive here.",
    section: 14,
    auth: "introspection-secret",
    body: formBody(tokenOnlyFormSchema),
    responses: { 200: json(introspectionResponseSchema, "`{active: true, me, client_id, scope, exp, iat}` or `{active: false}`.") },
    errors: ["not_found", "rate_limited", ...TOO_LARGE],
    errorStyle: "oauth",
    oauthErrors: ["invalid_request", "invalid_token"],
  },
  "POST /indieauth/revoke": {
    method: "POST",
    path: "/indieauth/revoke",
    summary: "Token revocation (RFC 7009): 200 whatever the token; a refresh token ends its grant.",
    section: 14,
    auth: "none",
    cors: true,
    // RFC 7009 §2.2: 200 for a token it cannot revoke, and PROTOCOL §14 for a missing one.
    body: formBody(tokenOnlyFormSchema, false),
    responses: { 200: { description: "Done (also for an unknown or missing token); no body." } },
    errors: ["not_found", "rate_limited", ...TOO_LARGE],
    errorStyle: "oauth",
    oauthErrors: [],
  },
  "GET /indieauth/userinfo": {
    method: "GET",
    path: "/indieauth/userinfo",
    summary: "The owner's profile, for an access token with the `profile` scope (errors: RFC 6750 §3).",
    section: 14,
    auth: "indieauth-token",
    cors: true,
    responses: { 200: json(userinfoResponseSchema, "The profile: name, url (= me), photo?.") },
    errors: ["not_found", "rate_limited", ...TOO_LARGE],
    errorStyle: "oauth",
    oauthErrors: ["invalid_token", "insufficient_scope"],
  },
  "POST /api/indieauth/requests": {
    method: "POST",
    path: "/api/indieauth/requests",
    summary:
      "Checks an authorization request (fetching client_id for the owner) and stores it for 10 minutes. A defect the client should hear about is `400 invalid_request` with a `redirect` to follow.",
    section: 14,
    auth: "bearer",
    body: jsonBody(indieAuthRequestBodySchema),
    responses: { 200: json(indieAuthRequestResponseSchema, "The request, the client as its document describes it, the grantable scopes.") },
    errors: ["invalid_request", "not_found", "step_up_required", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /api/indieauth/approve": {
    method: "POST",
    path: "/api/indieauth/approve",
    summary: "Approves a stored request (a subset of its scopes): a single-use code, valid 60 s, in the redirect.",
    section: 14,
    auth: "bearer",
    body: jsonBody(indieAuthApproveBodySchema),
    responses: { 200: json(indieAuthRedirectResponseSchema, "Where the browser goes: redirect_uri with code, state and iss.") },
    errors: ["invalid_request", "not_found", "step_up_required", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "POST /api/indieauth/deny": {
    method: "POST",
    path: "/api/indieauth/deny",
    summary: "Denies a stored request.",
    section: 14,
    auth: "bearer",
    body: jsonBody(indieAuthDenyBodySchema),
    responses: { 200: json(indieAuthRedirectResponseSchema, "Where the browser goes: redirect_uri with error=access_denied, state and iss.") },
    errors: ["invalid_request", "not_found", "step_up_required", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "GET /api/indieauth/grants": {
    method: "GET",
    path: "/api/indieauth/grants",
    summary: "The apps the owner signed in to that hold live tokens.",
    section: 14,
    auth: "bearer",
    responses: { 200: json(indieAuthGrantsResponseSchema, "The live grants, newest first.") },
    errors: ["not_found", ...BEARER, ...TOO_LARGE],
  },
  "DELETE /api/indieauth/grants/{id}": {
    method: "DELETE",
    path: "/api/indieauth/grants/{id}",
    summary: "Ends a grant: its tokens stop working at once.",
    section: 14,
    auth: "bearer",
    params: z.object({ id: z.string() }),
    responses: { 204: noContent },
    errors: ["not_found", ...BEARER, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },
  "GET /api/profile": {
    method: "GET",
    path: "/api/profile",
    summary: "What the `profile` scope shares (name, photo); until set, the owner's handle as the name.",
    section: 14,
    auth: "bearer",
    responses: { 200: json(profileResponseSchema, "The profile.") },
    errors: ["not_found", ...BEARER, ...TOO_LARGE],
  },
  "PUT /api/profile": {
    method: "PUT",
    path: "/api/profile",
    summary: "Sets what the `profile` scope shares.",
    section: 14,
    auth: "step-up",
    body: jsonBody(profileBodySchema),
    responses: { 200: json(profileResponseSchema, "The profile as stored.") },
    errors: ["invalid_request", "not_found", ...STEP_UP, ...ORIGIN_CHECKED, ...TOO_LARGE],
  },

  // --- export (docs/export-restore.md) ------------------------------------------------
  "GET /api/export": {
    method: "GET",
    path: "/api/export",
    summary: "The whole instance as one JSON archive (an attachment); never a secret.",
    section: 7,
    auth: "step-up",
    responses: { 200: { description: "The archive.", contentType: JSON_TYPE, schema: archiveSchema } },
    errors: ["not_claimed", ...STEP_UP, ...TOO_LARGE],
  },

  // --- the owner web app and this document (static assets) --------------------------
  "GET /": {
    method: "GET",
    path: "/",
    summary: "The owner web app; with IndieAuth, its `Link` header and `<link>`s name the metadata and endpoints (§14).",
    section: 0,
    auth: "none",
    asset: true,
    responses: { 200: { description: "The app's page.", contentType: "text/html" } },
    errors: [],
  },
  "GET /contact": {
    method: "GET",
    path: "/contact",
    summary: "The public page where anyone writes to the owner.",
    section: 9,
    auth: "none",
    asset: true,
    responses: { 200: { description: "The contact page.", contentType: "text/html" } },
    errors: [],
  },
  "GET /openapi.json": {
    method: "GET",
    path: "/openapi.json",
    summary: "This API as an OpenAPI 3.1 document, generated from the schemas at build time.",
    section: 0,
    auth: "none",
    asset: true,
    responses: { 200: { description: "The OpenAPI document.", contentType: JSON_TYPE } },
    errors: [],
  },
} as const satisfies Record<string, RouteSpec>;

export type RouteKey = keyof typeof ROUTES;

/** Every route, for sweeps and the OpenAPI build. */
export const ROUTE_LIST: ReadonlyArray<RouteSpec & { key: RouteKey }> = Object.entries(ROUTES).map(([key, spec]) => ({
  ...(spec as RouteSpec),
  key: key as RouteKey,
}));

type ResponsesOf<K extends RouteKey> = (typeof ROUTES)[K]["responses"];

/**
 * The body a handler may send for route `K` with status `S`, as the response schema's
 * input type: `return c.json({...} satisfies Reply<"POST /auth/challenge">)`.
 */
export type Reply<K extends RouteKey, S extends keyof ResponsesOf<K> = keyof ResponsesOf<K>> =
  ResponsesOf<K>[S] extends { schema: infer Z extends z.ZodMiniType } ? z.input<Z> : never;

/** The status an error code travels with (ERROR_STATUS), for building per-status error responses. */
export function errorStatus(code: ErrorCode): number {
  return code === "internal_error" ? 500 : ERROR_STATUS[code];
}

/** Matches a concrete path (`/api/sessions/abc`) to its route, or null. */
export function findRoute(method: string, pathname: string): (RouteSpec & { key: RouteKey }) | null {
  for (const route of ROUTE_LIST) {
    if (route.method !== method) continue;
    const pattern = new RegExp(`^${route.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (pattern.test(pathname)) return route;
  }
  return null;
}
