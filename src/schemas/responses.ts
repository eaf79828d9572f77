/**
 * Response shapes the Worker itself never parses: discovery (docs/api.md §2), the
 * federation documents and the outbox (§11), the escrow update's answer (§7) and
 * the owner's IndieAuth API (§14; the OAuth endpoints' are in oauth.ts). The
 * other answers are in the `…Responses.ts` module next to their requests' module
 * (apiResponses.ts, messageResponses.ts, passkeyResponses.ts, recoveryResponses.ts).
 *
 * Why apart from the requests: esbuild keeps every zod/mini schema of a module it
 * bundles (zod's calls are not marked pure), so a schema the Worker never parses
 * must live in a module the Worker never imports; the routes that build these
 * answers use their types only (`import type`). docs/benchmarks.md, "Worker size".
 * The route table (routes.ts), the OpenAPI document, the tests and the browser
 * client use the schemas.
 */
import * as z from "zod/mini";
import "./zodLocale";
import { encryptionJwkSchema, signingJwkSchema } from "./api";
import { indieAuthRequestId } from "./indieauth";

const retiredMark = { status: z.optional(z.literal("retired")) };

/** §2: the owner's public keys; retired ones carry `"status": "retired"`. */
export const jwksResponseSchema = z.object({
  keys: z.array(z.union([z.extend(signingJwkSchema, retiredMark), z.extend(encryptionJwkSchema, retiredMark)])).check(z.minLength(2)),
});
export type JwksResponse = z.input<typeof jwksResponseSchema>;

/** §2: GET /.well-known/indienet. */
export const discoveryResponseSchema = z.object({
  protocol: z.literal("indienet/1"),
  origin: z.string(),
  claimed: z.boolean(),
  jwks_uri: z.string(),
  messages_endpoint: z.string(),
  inbox: z.string(),
});
export type DiscoveryResponse = z.input<typeof discoveryResponseSchema>;

/** §7: PUT /api/escrow. */
export const escrowVersionResponseSchema = z.object({ version: z.number().check(z.int(), z.minimum(1)) });
export type EscrowVersionResponse = z.input<typeof escrowVersionResponseSchema>;

/** §11: the WebFinger JRD (RFC 7033 §4.4). */
export const webfingerResponseSchema = z.object({
  subject: z.string().check(z.startsWith("acct:")),
  aliases: z.optional(z.array(z.string())),
  links: z.array(z.object({ rel: z.string(), type: z.optional(z.string()), href: z.optional(z.string()) })),
});
export type WebfingerResponse = z.input<typeof webfingerResponseSchema>;

/**
 * §11: the ActivityPub actor. A loose object: JSON-LD documents may grow members
 * that peers ignore; what the protocol promises is the inbox and the federation key.
 */
export const actorResponseSchema = z.looseObject({
  "@context": z.union([z.string(), z.array(z.unknown())]),
  id: z.string(),
  type: z.string(),
  preferredUsername: z.string(),
  inbox: z.string(),
  publicKey: z.object({ id: z.string(), owner: z.string(), publicKeyPem: z.string().check(z.startsWith("-----BEGIN PUBLIC KEY-----")) }),
  jwks_uri: z.string(),
});
export type ActorResponse = z.input<typeof actorResponseSchema>;

// ---- §11: the outbox (requests: federation.ts) ----

export const outboxAcceptedResponseSchema = z.object({ id: z.string() });

export const outboxStateSchema = z.object({
  id: z.string(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().check(z.int()),
  lastError: z.optional(z.string()),
});
export type OutboxStateResponse = z.infer<typeof outboxStateSchema>;

// ---- §14: the owner's IndieAuth API (Bearer) ----

export const indieAuthClientSchema = z.object({
  id: z.string(),
  name: z.optional(z.string()),
  url: z.optional(z.string()),
  logo: z.optional(z.string()),
});

/** POST /api/indieauth/requests. */
export const indieAuthRequestResponseSchema = z.object({
  requestId: indieAuthRequestId,
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

/** Approve and deny both answer where the browser goes next. */
export const indieAuthRedirectResponseSchema = z.object({ redirect: z.string() });

const indieAuthGrantSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  clientName: z.optional(z.string()),
  scope: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number(),
});
export const indieAuthGrantsResponseSchema = z.object({ grants: z.array(indieAuthGrantSchema) });
export type IndieAuthGrant = z.infer<typeof indieAuthGrantSchema>;

/** GET and PUT /api/profile: what the `profile` scope shares; `url` is always `me`. */
export const profileResponseSchema = z.object({
  name: z.string(),
  photo: z.optional(z.string()),
});
