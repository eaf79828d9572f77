/**
 * The escrow blob (docs/escrow-format.md). The server stores the blob byte for byte
 * and never parses it (docs/api.md §1); this file is the only place that knows its
 * shapes. The plaintext is always the owner's keyring (every private key the owner
 * ever had, retired ones included).
 *
 * Format 2 (written today): a JWE in General JSON serialization (RFC 7516 §7.2),
 * one recipient per unlock method (docs/api.md §12): the password, and an
 * ECDH-ES+A256KW (X25519) recipient per PRF passkey and for the recovery key. See
 * the v2 schemas at the end of this file.
 *
 * Format 1 (still read): a compact JWE (RFC 7516) with the password as its only
 * key. Two variants, told apart by the protected header's "alg":
 *
 *  - "A256KW" with "kdf": {"name": "argon2id", ...}: the key-wrapping key is
 *    Argon2id(password, salt, m, t, p), 32 bytes. The parameters and the salt sit in
 *    the protected header, which is AES-GCM's additional authenticated data, so
 *    changing any of them makes the blob fail to open.
 *  - "PBES2-HS512+A256KW" (RFC 7518 §4.8), for browsers without WebAssembly: p2s
 *    and p2c are in the protected header as RFC 7518 specifies, authenticated the
 *    same way.
 */
import * as z from "zod/mini";
import { base64urlString } from "../../src/schemas/api";
import { PASSKEY_KID_PREFIX, PASSWORD_RECIPIENT_KID, RECOVERY_KID_PREFIX } from "../../src/schemas/escrowRecipients";

/** "iev" in the protected header of a format 1 blob. */
export const ESCROW_FORMAT_VERSION = 1;
/** "iev" in the protected header of a format 2 blob: the version every new blob has. */
export const ESCROW_FORMAT_V2 = 2;
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

/**
 * Floors for new blobs; below them only with the explicit test-only option. The same
 * floors hold when opening (issue #11): every blob this client ever wrote meets them,
 * so a blob claiming weaker parameters was altered, by someone who hopes the owner's
 * next password guess (or the next re-seal under the reused key) gets cheaper to attack.
 */
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
  m: z.number().check(z.int(), z.minimum(8), z.maximum(READ_CEILINGS.memoryKiB)),
  t: z.number().check(z.int(), z.minimum(1), z.maximum(READ_CEILINGS.iterations)),
  p: z.number().check(z.int(), z.minimum(1), z.maximum(READ_CEILINGS.parallelism)),
  salt: base64urlString.check(z.minLength(11), z.maxLength(86)),
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
    p2s: base64urlString.check(z.minLength(11)),
    p2c: z.number().check(z.int(), z.minimum(1000), z.maximum(READ_CEILINGS.p2c)),
    ...commonHeader,
  }),
]);
export type EscrowHeader = z.infer<typeof escrowHeaderSchema>;

const privateOkpSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.enum(["Ed25519", "X25519"]),
  x: base64urlString.check(z.length(43)),
  d: base64urlString.check(z.length(43)),
});

export const keyringEntrySchema = z.object({
  kid: z.string().check(z.minLength(1), z.maxLength(128)),
  use: z.enum(["sig", "enc"]),
  status: z.enum(["current", "retired"]),
  createdAt: z.number(),
  retiredAt: z.optional(z.number()),
  jwk: privateOkpSchema,
});
export type KeyringEntry = z.infer<typeof keyringEntrySchema>;

/** The plaintext: every private key the owner ever had, exactly one current per use. */
export const keyringSchema = z
  .object({
    format: z.literal("indienet-keyring"),
    v: z.literal(1),
    keys: z.array(keyringEntrySchema).check(z.minLength(2), z.maxLength(200)),
  })
  .check(
    z.refine(
      (k) => (["sig", "enc"] as const).every((use) => k.keys.filter((e) => e.use === use && e.status === "current").length === 1),
      "a keyring has exactly one current key of each use",
    ),
  );
export type Keyring = z.infer<typeof keyringSchema>;

// --- format 2 -------------------------------------------------------------------------

/**
 * The password recipient's KDF in a format 2 blob. It sits in the protected header
 * (authenticated by AES-GCM for every recipient), and the password recipient is a
 * plain A256KW recipient whose key-wrapping key is the KDF's output:
 *  - argon2id: as in format 1, 32 bytes of Argon2id;
 *  - pbkdf2-sha512: 32 bytes of PBKDF2-HMAC-SHA-512(password, salt, c), the WebAssembly-free
 *    fallback (WebCrypto), in place of format 1's PBES2-HS512+A256KW. Why not PBES2:
 *    jose moves p2s/p2c into the unauthenticated per-recipient header as soon as a blob
 *    has two recipients, and a PBES2 key is the password itself, so a re-seal could not
 *    reuse a derived key (docs/escrow-format.md, "The password recipient").
 */
export const pbkdf2ParamsSchema = z.strictObject({
  name: z.literal("pbkdf2-sha512"),
  c: z.number().check(z.int(), z.minimum(1000), z.maximum(READ_CEILINGS.p2c)),
  salt: base64urlString.check(z.minLength(11), z.maxLength(86)),
});
export type Pbkdf2Params = z.infer<typeof pbkdf2ParamsSchema>;
export const passwordKdfSchema = z.discriminatedUnion("name", [argon2ParamsSchema, pbkdf2ParamsSchema]);
export type PasswordKdfParams = z.infer<typeof passwordKdfSchema>;

// The recipients' kids, shared with the server, which reads them (src/domain/escrowBlob.ts).
export { PASSKEY_KID_PREFIX, PASSWORD_RECIPIENT_KID, RECOVERY_KID_PREFIX };
/** 1 password + 10 passkeys (docs/api.md §12's limit) + 1 recovery key, with room to spare. */
export const MAX_KEY_RECIPIENTS = 15;
/** The server's limit on a blob (docs/api.md §1). */
export const ESCROW_MAX_BYTES = 65_536;

export const recipientKidSchema = z
  .string()
  .check(z.regex(/^(passkey:[A-Za-z0-9_-]{2,1364}|recovery:[A-Za-z0-9_-]{43})$/, "must be passkey:<credential id> or recovery:<verifier kid>"));

const x25519X = base64urlString.check(z.length(43));

/** A key recipient's public key as the manifest in the protected header names it. */
export const recipientJwkSchema = z.strictObject({
  kid: recipientKidSchema,
  kty: z.literal("OKP"),
  crv: z.literal("X25519"),
  x: x25519X,
});
export type EscrowRecipientJwk = z.infer<typeof recipientJwkSchema>;

/**
 * The protected header of a format 2 blob. "rcp" is the manifest: every key
 * recipient's public key, so a re-seal needs only the blob (docs/api.md §12: "public
 * keys are all a re-seal needs"). It is authenticated (AES-GCM's additional data),
 * so once a blob has opened, its manifest is the owner's and not the server's:
 * a re-seal cannot be steered to a key the server slipped in.
 */
export const escrowV2ProtectedSchema = z.strictObject({
  enc: z.literal("A256GCM"),
  cty: z.literal(KEYRING_CONTENT_TYPE),
  iev: z.literal(ESCROW_FORMAT_V2),
  kdf: passwordKdfSchema,
  rcp: z.array(recipientJwkSchema).check(z.maxLength(MAX_KEY_RECIPIENTS)),
});
export type EscrowV2Protected = z.infer<typeof escrowV2ProtectedSchema>;

/** A 256-bit key wrapped with AES key wrap: 40 bytes, 54 base64url characters. */
const wrappedKey = base64urlString.check(z.length(54));

export const passwordRecipientSchema = z.strictObject({
  encrypted_key: wrappedKey,
  header: z.strictObject({ alg: z.literal("A256KW"), kid: z.literal(PASSWORD_RECIPIENT_KID) }),
});

export const keyRecipientSchema = z.strictObject({
  encrypted_key: wrappedKey,
  header: z.strictObject({
    alg: z.literal("ECDH-ES+A256KW"),
    kid: recipientKidSchema,
    epk: z.strictObject({ kty: z.literal("OKP"), crv: z.literal("X25519"), x: x25519X }),
  }),
});

/**
 * The whole blob: exactly these members (no shared "unprotected" header, no "aad"),
 * the password recipient first, then one recipient per manifest entry, in order.
 */
export const escrowV2Schema = z.strictObject({
  protected: base64urlString,
  recipients: z.tuple([passwordRecipientSchema], keyRecipientSchema).check(z.maxLength(1 + MAX_KEY_RECIPIENTS)),
  iv: base64urlString.check(z.length(16)),
  ciphertext: base64urlString,
  tag: base64urlString.check(z.length(22)),
});
export type EscrowV2 = z.infer<typeof escrowV2Schema>;
