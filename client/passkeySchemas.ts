/**
 * The §12 responses as the browser reads them. Leaner than src/schemas/passkeys.ts
 * (which bounds every member of the requests the server takes): the web app's
 * JavaScript budget is 100 KiB gzipped, and the client only needs the shapes it uses.
 * The request types still come from the server's schemas (type-only imports).
 */
import * as z from "zod/mini";

const b64 = z.string().check(z.regex(/^[A-Za-z0-9_-]*$/));
const credential = z.object({ type: z.literal("public-key"), id: b64 });

export const creationOptionsSchema = z.object({
  rp: z.object({ id: z.string(), name: z.string() }),
  user: z.object({ id: b64, name: z.string(), displayName: z.string() }),
  challenge: b64,
  pubKeyCredParams: z.array(z.object({ type: z.literal("public-key"), alg: z.int() })),
  timeout: z.int(),
  excludeCredentials: z.array(credential),
  authenticatorSelection: z.object({
    residentKey: z.literal("required"),
    requireResidentKey: z.literal(true),
    userVerification: z.literal("required"),
  }),
  attestation: z.literal("none"),
});
export const creationOptionsResponseSchema = z.object({ options: creationOptionsSchema });

export const requestOptionsSchema = z.object({
  challenge: b64,
  rpId: z.string(),
  timeout: z.int(),
  userVerification: z.literal("required"),
});
export const requestOptionsResponseSchema = z.object({ options: requestOptionsSchema });

export const passkeySchema = z.object({
  id: b64,
  name: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.nullable(z.number()),
  backedUp: z.boolean(),
  prf: z.boolean(),
});
export type PasskeyListing = z.infer<typeof passkeySchema>;
export const passkeysResponseSchema = z.object({ passkeys: z.array(passkeySchema) });
export const registerResponseSchema = z.object({ passkey: passkeySchema, backupCodes: z.optional(z.array(z.string())) });
