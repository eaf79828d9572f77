/**
 * Private messages (docs/api.md §9). Anyone can `seal` a message to an owner from
 * the owner's published JWKS; only the owner's devices can `open` it, with the key
 * the JWE names in its kid: the current encryption key or a retired one.
 */
import { compactDecrypt, CompactEncrypt, decodeProtectedHeader, importJWK } from "jose";
import * as z from "zod/mini";
import { encryptionJwkSchema, signingJwkSchema } from "../src/schemas/api";
import { IndieError } from "./errors";
import { requestJson, type FetchLike } from "./http";
import { MESSAGE_ALG, MESSAGE_ENC } from "./keys";
import { messageAcceptedResponseSchema } from "../src/schemas/messageResponses";

const status = { status: z.optional(z.literal("retired")) };
/** GET /.well-known/jwks.json (docs/api.md §2). Unknown key types are skipped, not fatal. */
export const jwksSchema = z.object({
  keys: z.array(
    z.union([
      z.extend(encryptionJwkSchema, status),
      z.extend(signingJwkSchema, status),
      z.pipe(
        z.looseObject({ kty: z.string() }),
        z.transform(() => null),
      ),
    ]),
  ),
});
export type EncryptionJwk = z.infer<typeof encryptionJwkSchema>;

const origin = (url: string) => new URL(url).origin;

/** The owner's current encryption key: use "enc", X25519, not marked retired. */
export async function fetchOwnerEncryptionKey(ownerOrigin: string, fetchFn: FetchLike = fetch): Promise<EncryptionJwk> {
  // Revalidate: the JWKS is cacheable for 5 minutes, and sealing to a key that was
  // retired in the meantime would be refused.
  const jwks = await requestJson(fetchFn, `${origin(ownerOrigin)}/.well-known/jwks.json`, jwksSchema, {
    credentials: "omit",
    cache: "no-cache",
  });
  for (const key of jwks.keys) {
    if (key && key.use === "enc" && key.crv === "X25519" && key.status !== "retired") {
      const { status: _status, ...jwk } = key;
      return jwk as EncryptionJwk;
    }
  }
  throw new IndieError("not_found", "This owner has not published an encryption key.");
}

/** Encrypts `text` to the key, ECDH-ES+A256KW / A256GCM, with the key's kid in the header. */
export async function sealTo(key: EncryptionJwk, text: string): Promise<string> {
  const publicKey = await importJWK(key, MESSAGE_ALG);
  return new CompactEncrypt(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: MESSAGE_ALG, enc: MESSAGE_ENC, kid: key.kid })
    .encrypt(publicKey);
}

/** Fetches the owner's published key and seals `text` to it. */
export async function seal(ownerOrigin: string, text: string, options: { fetch?: FetchLike } = {}): Promise<string> {
  return sealTo(await fetchOwnerEncryptionKey(ownerOrigin, options.fetch), text);
}

/** Seals and delivers: POST /messages (public, no cookies). Returns the message id. */
export async function sendMessage(
  ownerOrigin: string,
  text: string,
  options: { from?: string; fetch?: FetchLike } = {},
): Promise<{ id: number }> {
  const fetchFn = options.fetch ?? fetch;
  const jwe = await seal(ownerOrigin, text, { fetch: fetchFn });
  const from = options.from?.trim();
  return requestJson(fetchFn, `${origin(ownerOrigin)}/messages`, messageAcceptedResponseSchema, {
    method: "POST",
    body: from ? { jwe, from } : { jwe },
    credentials: "omit",
  });
}

/** A private key the owner holds, current or retired. */
export interface OpeningKey {
  kid: string;
  privateKey: CryptoKey;
}

/**
 * Decrypts a message with whichever of `keys` its kid names.
 *
 * A compressed JWE (`"zip": "DEF"`) is refused, never inflated: the sender chooses
 * the compression, so a few KiB of ciphertext could make every owner device
 * inflate up to jose's default 250,000 bytes per message (and more with a looser
 * jose), and compressing before encrypting leaks the plaintext through the
 * ciphertext's length. The SDK never compresses (sealTo), so no genuine message
 * uses it; the header check says why, and jose's `maxDecompressedLength: 0` refuses
 * it again should a header slip past.
 */
export async function open(jwe: string, keys: readonly OpeningKey[]): Promise<string> {
  let kid: unknown;
  let zip: unknown;
  try {
    ({ kid, zip } = decodeProtectedHeader(jwe));
  } catch (err) {
    throw new IndieError("decrypt_failed", "This message is not a JWE.", { cause: err });
  }
  if (zip !== undefined) throw new IndieError("decrypt_failed", "This message is compressed; compressed messages are refused.");
  const key = keys.find((k) => k.kid === kid);
  if (!key) throw new IndieError("unknown_key", "This message was sealed to a key this device does not have.");
  try {
    const { plaintext } = await compactDecrypt(jwe, key.privateKey, {
      keyManagementAlgorithms: ["ECDH-ES+A256KW", "ECDH-ES"],
      contentEncryptionAlgorithms: [MESSAGE_ENC],
      maxDecompressedLength: 0,
    });
    return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  } catch (err) {
    throw new IndieError("decrypt_failed", "This message could not be decrypted.", { cause: err });
  }
}
