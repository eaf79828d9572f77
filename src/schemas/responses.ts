/**
 * Response shapes the Worker itself never parses: discovery (docs/api.md §2), the
 * federation documents (§11) and the escrow update's answer (§7). The routes that
 * build them use their types only (`import type`), so this module adds nothing to
 * the Worker's bundle; the route table (routes.ts), the OpenAPI document and the
 * tests use the schemas.
 */
import * as z from "zod/mini";
import "./zodLocale";
import { encryptionJwkSchema, signingJwkSchema } from "./api";

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
