/**
 * Sealing and opening the escrow blob (format: client/escrow/format.ts and
 * docs/escrow-format.md).
 */
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, errors as joseErrors } from "jose";
import { base64urlDecode, base64urlEncode, randomBytes } from "../../src/lib/bytes";
import { IndieError } from "../errors";
import { publicJwkOf, type PrivateOkpJwk } from "../keys";
import {
  ARGON2_DEFAULTS,
  ARGON2_HASH_BYTES,
  ARGON2_SALT_BYTES,
  ARGON2_VERSION,
  ESCROW_FORMAT_VERSION,
  escrowHeaderSchema,
  KEYRING_CONTENT_TYPE,
  keyringSchema,
  PBES2_DEFAULT_COUNT,
  PBES2_SALT_BYTES,
  READ_CEILINGS,
  WRITE_FLOORS,
  type EscrowHeader,
  type Keyring,
  type KeyringEntry,
} from "./format";
import { argon2Inline, passwordBytes, type Argon2Runner } from "./kdf";

export type EscrowKdf = "argon2id" | "pbes2";

/** What an unlock is doing, for a progress display. */
export type EscrowProgress =
  | { stage: "derive"; kdf: EscrowKdf; description: string }
  | { stage: "decrypt" }
  | { stage: "done"; elapsedMs: number };

export interface SealOptions {
  /** Default "argon2id". Use "pbes2" where webAssemblyAvailable() is false. */
  kdf?: EscrowKdf;
  argon2?: { memoryKiB: number; iterations: number; parallelism: number };
  p2c?: number;
  /**
   * Allows parameters below the floors (64 MiB / t=3, p2c=210,000). Only for tests,
   * which would otherwise spend seconds per escrow: never set it in an app.
   */
  testOnlyAllowWeakParameters?: boolean;
  argon2Runner?: Argon2Runner;
}

export interface OpenOptions {
  argon2Runner?: Argon2Runner;
  onProgress?: (progress: EscrowProgress) => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A new keyring with one fresh current key of each use. */
export function newKeyring(sig: PrivateOkpJwk, enc: PrivateOkpJwk, nowMs = Date.now()): Keyring {
  return { format: "indienet-keyring", v: 1, keys: [entry(sig, nowMs), entry(enc, nowMs)] };
}

/** The keyring after a rotation: the new keys are current, every earlier key is kept, retired. */
export function rotateKeyring(keyring: Keyring, sig: PrivateOkpJwk, enc: PrivateOkpJwk, nowMs = Date.now()): Keyring {
  const retired = keyring.keys.map((k) =>
    k.status === "current" ? { ...k, status: "retired" as const, retiredAt: nowMs } : k,
  );
  return { ...keyring, keys: [entry(sig, nowMs), entry(enc, nowMs), ...retired] };
}

function entry(jwk: PrivateOkpJwk, nowMs: number): KeyringEntry {
  return {
    kid: jwk.kid,
    use: jwk.use,
    status: "current",
    createdAt: nowMs,
    jwk: { kty: "OKP", crv: jwk.crv, x: jwk.x, d: jwk.d },
  };
}

/** The keyring's entries as private JWKs with kid and use. */
export function keyringJwks(keyring: Keyring): Array<PrivateOkpJwk & { status: "current" | "retired" }> {
  return keyring.keys.map((k) => ({ ...k.jwk, kid: k.kid, use: k.use, status: k.status }));
}

export function currentEntry(keyring: Keyring, use: "sig" | "enc"): KeyringEntry {
  return keyring.keys.find((k) => k.use === use && k.status === "current")!;
}

/** Encrypts the keyring under the password. Returns the blob (a compact JWE, ASCII). */
export async function sealEscrow(keyring: Keyring, password: string, options: SealOptions = {}): Promise<string> {
  if (password.length === 0) throw new IndieError("weak_password", "The password is empty.");
  const checked = keyringSchema.parse(keyring);
  const plaintext = encoder.encode(JSON.stringify(checked));
  const kdf = options.kdf ?? "argon2id";
  const weakAllowed = options.testOnlyAllowWeakParameters === true;

  if (kdf === "pbes2") {
    const p2c = options.p2c ?? PBES2_DEFAULT_COUNT;
    if (!weakAllowed && p2c < WRITE_FLOORS.p2c) throw new RangeError(`p2c must be at least ${WRITE_FLOORS.p2c}`);
    if (p2c > READ_CEILINGS.p2c) throw new RangeError(`p2c must be at most ${READ_CEILINGS.p2c}`);
    return new CompactEncrypt(plaintext)
      .setProtectedHeader({ alg: "PBES2-HS512+A256KW", enc: "A256GCM", cty: KEYRING_CONTENT_TYPE, iev: ESCROW_FORMAT_VERSION })
      // jose's default p2c is 2048: always set it, and the salt, explicitly.
      .setKeyManagementParameters({ p2c, p2s: randomBytes(PBES2_SALT_BYTES) })
      .encrypt(passwordBytes(password));
  }

  const params = options.argon2 ?? ARGON2_DEFAULTS;
  if (!weakAllowed && (params.memoryKiB < WRITE_FLOORS.memoryKiB || params.iterations < WRITE_FLOORS.iterations)) {
    throw new RangeError(`Argon2id needs at least ${WRITE_FLOORS.memoryKiB} KiB and ${WRITE_FLOORS.iterations} iterations`);
  }
  const salt = randomBytes(ARGON2_SALT_BYTES);
  const header = {
    alg: "A256KW",
    enc: "A256GCM",
    cty: KEYRING_CONTENT_TYPE,
    iev: ESCROW_FORMAT_VERSION,
    kdf: {
      name: "argon2id",
      v: ARGON2_VERSION,
      m: params.memoryKiB,
      t: params.iterations,
      p: params.parallelism,
      salt: base64urlEncode(salt),
    },
  } as const;
  escrowHeaderSchema.parse(header);
  const kek = await (options.argon2Runner ?? argon2Inline)({
    password: passwordBytes(password),
    salt,
    memoryKiB: params.memoryKiB,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashBytes: ARGON2_HASH_BYTES,
  });
  return new CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(kek);
}

/** Reads the blob's header without a password: which KDF, which parameters. */
export function inspectEscrow(blob: string): EscrowHeader {
  let raw: unknown;
  try {
    raw = decodeProtectedHeader(blob);
  } catch (err) {
    throw new IndieError("escrow_unreadable", "The stored key backup is not in a format this app can read.", { cause: err });
  }
  const parsed = escrowHeaderSchema.safeParse(raw);
  if (!parsed.success) {
    throw new IndieError(
      "escrow_unreadable",
      "The stored key backup uses a format or parameters this app does not accept.",
      { issues: parsed.error.issues },
    );
  }
  return parsed.data;
}

export function describeKdf(header: EscrowHeader): string {
  return header.alg === "A256KW"
    ? `Argon2id, ${Math.round(header.kdf.m / 1024)} MiB, ${header.kdf.t} passes`
    : `PBKDF2-SHA-512, ${header.p2c.toLocaleString("en")} iterations`;
}

/**
 * Decrypts the blob with the password. A wrong password fails the AES key unwrap's
 * integrity check (RFC 3394 §2.2.3) and is reported as `wrong_password`; it can
 * never yield garbage keys, since AES-GCM authenticates the plaintext as well.
 */
export async function openEscrow(blob: string, password: string, options: OpenOptions = {}): Promise<Keyring> {
  const started = performance.now();
  const header = inspectEscrow(blob);
  // No escrow is ever sealed under an empty password (sealEscrow refuses it).
  if (password.length === 0) throw new IndieError("wrong_password", "Enter the password that protects your keys.");
  const progress = options.onProgress ?? (() => {});
  let key: Uint8Array;
  if (header.alg === "A256KW") {
    progress({ stage: "derive", kdf: "argon2id", description: describeKdf(header) });
    const salt = base64urlDecode(header.kdf.salt);
    if (!salt) throw new IndieError("escrow_unreadable", "The stored key backup has a malformed salt.");
    key = await (options.argon2Runner ?? argon2Inline)({
      password: passwordBytes(password),
      salt,
      memoryKiB: header.kdf.m,
      iterations: header.kdf.t,
      parallelism: header.kdf.p,
      hashBytes: ARGON2_HASH_BYTES,
    });
  } else {
    progress({ stage: "derive", kdf: "pbes2", description: describeKdf(header) });
    key = passwordBytes(password);
  }

  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(blob, key, {
      keyManagementAlgorithms: [header.alg],
      contentEncryptionAlgorithms: ["A256GCM"],
      // Raised from jose's 10,000 only to our own ceiling, already checked above.
      maxPBES2Count: READ_CEILINGS.p2c,
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWEDecryptionFailed) {
      throw new IndieError("wrong_password", "That password does not unlock your keys. Check it and try again.", {
        cause: err,
      });
    }
    throw new IndieError("escrow_unreadable", "The stored key backup could not be decrypted.", { cause: err });
  }
  progress({ stage: "decrypt" });

  let keyring: Keyring;
  try {
    keyring = keyringSchema.parse(JSON.parse(decoder.decode(plaintext)));
  } catch (err) {
    throw new IndieError("escrow_unreadable", "The stored key backup decrypted, but its contents are not a keyring.", {
      cause: err,
    });
  }
  // The kids are thumbprints of the keys: a keyring that says otherwise is corrupt.
  for (const k of keyring.keys) {
    const pub = await publicJwkOf(k.jwk, k.use);
    if (pub.kid !== k.kid) throw new IndieError("escrow_unreadable", `Key ${k.kid} in the backup has the wrong kid.`);
  }
  progress({ stage: "done", elapsedMs: performance.now() - started });
  return keyring;
}
