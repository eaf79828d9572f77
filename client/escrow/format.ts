/**
 * The escrow blob, format version 1 (docs/escrow-format.md). The server stores the
 * blob byte for byte and never parses it (PROTOCOL.md §1); this file is the only
 * place that knows its shape.
 *
 * The blob is a compact JWE (RFC 7516) whose plaintext is the owner's keyring (every
 * private key the owner ever had, retired ones included). Two variants, told apart
 * by the protected header's "alg":
 *
 *  - "A256KW" with "kdf": {"name": "argon2id", ...}: the key-wrapping key is
 *    Argon2id(password, salt, m, t, p), 32 bytes. The parameters and the salt sit in
 *    the protected header, which is AES-GCM's additional authenticated data, so
 *    changing any of them makes the blob fail to open.
 *  - "PBES2-HS512+A256KW" (RFC 7518 §4.8), for browsers without WebAssembly: p2s
 *    and p2c are in the protected header as RFC 7518 specifies, authenticated the
 *    same way.
 */
import { z } from "zod";
import { base64urlString } from "../../src/schemas/api";

/** "iev" in the protected header: the version of this format. */
export const ESCROW_FORMAT_VERSION = 1;
export const KEYRING_CONTENT_TYPE = "application/vnd.indienet.keyring+json";

/** Argon2id parameters used for new blobs (RFC 9106 §4 second recommendation: 64 MiB, t=3, p=1). */
export const ARGON2_DEFAULTS = { memoryKiB: 65_536, iterations: 3, parallelism: 1 } as const;
export const ARGON2_SALT_BYTES = 16;
export const ARGON2_HASH_BYTES = 32;
/** Argon2 version 1.3 (0x13), the only one hash-wasm implements. */
export const ARGON2_VERSION = 19;

/** PBKDF2-HMAC-SHA512 iterations for new PBES2 blobs (OWASP 2023: 210,000). */
export const PBES2_DEFAULT_COUNT = 210_000;
export const PBES2_SALT_BYTES = 16;

/** Floors for new blobs; below them only with the explicit test-only option. */
export const WRITE_FLOORS = { memoryKiB: 65_536, iterations: 3, p2c: 210_000 } as const;

/**
 * Ceilings when opening a blob: a blob is data from the server, and a hostile one
 * must not make the browser allocate gigabytes or spin for minutes. jose's own
 * maxPBES2Count default is 10,000, below our floor, so it is raised to exactly this.
 */
export const READ_CEILINGS = { memoryKiB: 1_048_576, iterations: 16, parallelism: 4, p2c: 2_000_000 } as const;

export const argon2ParamsSchema = z.strictObject({
  name: z.literal("argon2id"),
  v: z.literal(ARGON2_VERSION),
  m: z.number().int().min(8).max(READ_CEILINGS.memoryKiB),
  t: z.number().int().min(1).max(READ_CEILINGS.iterations),
  p: z.number().int().min(1).max(READ_CEILINGS.parallelism),
  salt: base64urlString.min(11).max(86),
});
export type Argon2Params = z.infer<typeof argon2ParamsSchema>;

const commonHeader = {
  enc: z.literal("A256GCM"),
  cty: z.literal(KEYRING_CONTENT_TYPE),
  iev: z.literal(ESCROW_FORMAT_VERSION),
};

export const escrowHeaderSchema = z.discriminatedUnion("alg", [
  z.object({ alg: z.literal("A256KW"), kdf: argon2ParamsSchema, ...commonHeader }),
  z.object({
    alg: z.literal("PBES2-HS512+A256KW"),
    p2s: base64urlString.min(11),
    p2c: z.number().int().min(1000).max(READ_CEILINGS.p2c),
    ...commonHeader,
  }),
]);
export type EscrowHeader = z.infer<typeof escrowHeaderSchema>;

const privateOkpSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.enum(["Ed25519", "X25519"]),
  x: base64urlString.length(43),
  d: base64urlString.length(43),
});

export const keyringEntrySchema = z.object({
  kid: z.string().min(1).max(128),
  use: z.enum(["sig", "enc"]),
  status: z.enum(["current", "retired"]),
  createdAt: z.number(),
  retiredAt: z.number().optional(),
  jwk: privateOkpSchema,
});
export type KeyringEntry = z.infer<typeof keyringEntrySchema>;

/** The plaintext: every private key the owner ever had, exactly one current per use. */
export const keyringSchema = z
  .object({
    format: z.literal("indienet-keyring"),
    v: z.literal(1),
    keys: z.array(keyringEntrySchema).min(2).max(200),
  })
  .refine(
    (k) => (["sig", "enc"] as const).every((use) => k.keys.filter((e) => e.use === use && e.status === "current").length === 1),
    "a keyring has exactly one current key of each use",
  );
export type Keyring = z.infer<typeof keyringSchema>;
