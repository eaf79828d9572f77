/**
 * Sealing and opening the escrow blob (formats: client/escrow/format.ts and
 * docs/escrow-format.md). New blobs are format 2: a General JSON JWE with the
 * password as one recipient and an X25519 key per PRF passkey and for the recovery
 * key as the others. Format 1 blobs (compact, password only) still open.
 */
import {
  compactDecrypt,
  decodeProtectedHeader,
  GeneralEncrypt,
  generalDecrypt,
  type DecryptOptions,
  type GeneralJWE,
} from "jose";
import { base64urlDecode, base64urlEncode, randomBytes, utf8 } from "../../src/lib/bytes";
import { IndieError } from "../errors";
import { publicJwkOf, type PrivateOkpJwk } from "../keys";
import { EscrowError } from "./errors";
import {
  ARGON2_DEFAULTS,
  ARGON2_HASH_BYTES,
  ARGON2_SALT_BYTES,
  ARGON2_VERSION,
  ESCROW_FORMAT_V2,
  ESCROW_MAX_BYTES,
  escrowHeaderSchema,
  escrowV2ProtectedSchema,
  escrowV2Schema,
  KEYRING_CONTENT_TYPE,
  keyringSchema,
  MAX_KEY_RECIPIENTS,
  PASSWORD_RECIPIENT_KID,
  PBES2_DEFAULT_COUNT,
  PBES2_SALT_BYTES,
  READ_CEILINGS,
  recipientJwkSchema,
  WRITE_FLOORS,
  type EscrowHeader,
  type EscrowRecipientJwk,
  type EscrowV2,
  type EscrowV2Protected,
  type Keyring,
  type KeyringEntry,
  type PasswordKdfParams,
} from "./format";
import { argon2Inline, passwordBytes, type Argon2Runner } from "./kdf";
import type { UnlockKey } from "./unlockKeys";

/** The password KDF for new blobs: "pbes2" is the WebAssembly-free fallback (PBKDF2-HMAC-SHA-512). */
export type EscrowKdf = "argon2id" | "pbes2";

/** What an unlock is doing, for a progress display. */
export type EscrowProgress =
  | { stage: "derive"; kdf: EscrowKdf; description: string }
  | { stage: "decrypt" }
  | { stage: "done"; elapsedMs: number };

export interface SealOptions {
  /** Default "argon2id". Use "pbes2" where webAssemblyAvailable() is false. Ignored when sealing with a PasswordKey. */
  kdf?: EscrowKdf;
  argon2?: { memoryKiB: number; iterations: number; parallelism: number };
  /** PBKDF2-HMAC-SHA-512 iterations for the fallback (the name is format 1's). */
  p2c?: number;
  /**
   * Allows parameters below the floors (64 MiB / t=3, p2c=210,000). Only for tests,
   * which would otherwise spend seconds per escrow: never set it in an app.
   */
  testOnlyAllowWeakParameters?: boolean;
  argon2Runner?: Argon2Runner;
  /**
   * The other unlock methods: one X25519 public key per PRF passkey and for the
   * recovery key (kid passkey:<credential id> / recovery:<verifier kid>). Public keys
   * are all a re-seal needs: pass `opened.recipients` of the blob being replaced to
   * keep them, minus any being removed. Without it, the blob opens with the password only.
   */
  recipients?: readonly EscrowRecipientJwk[];
}

export interface OpenOptions {
  argon2Runner?: Argon2Runner;
  onProgress?: (progress: EscrowProgress) => void;
  /** Opens blobs below the KDF floors (tests only; see SealOptions). */
  testOnlyAllowWeakParameters?: boolean;
}

/**
 * The password's key-wrapping key for one blob: the KDF parameters (salt included)
 * and the derived key as a non-extractable AES-KW CryptoKey. Sealing with it wraps
 * a fresh content key under the same derived key, so adding or removing a passkey
 * or the recovery key does not need the password typed again nor Argon2id run again;
 * it never leaves the page, and a password change makes a new one (new salt).
 */
export interface PasswordKey {
  readonly kdf: PasswordKdfParams;
  readonly kek: CryptoKey;
}

/** How to open a blob: the password, or the unlock key of a passkey or of the recovery key. */
export type EscrowUnlock = { password: string } | { key: UnlockKey };

export interface OpenedEscrow {
  keyring: Keyring;
  /** 1 for a legacy blob (rewrite it as format 2 at the next change). */
  format: 1 | 2;
  /** The recipient that opened it: "password", "passkey:…" or "recovery:…". */
  openedBy: string;
  /** The blob's key recipients, from its authenticated manifest: pass them to the next seal to keep them. */
  recipients: EscrowRecipientJwk[];
  /** Present when a format 2 blob was opened with the password: seals the next blob without re-deriving. */
  passwordKey?: PasswordKey;
}

/** A summary of a blob's header, readable without any secret (not yet authenticated). */
export interface EscrowSummary {
  format: 1 | 2;
  kdf: { name: "argon2id"; m: number; t: number; p: number } | { name: "pbkdf2-sha512" | "pbes2"; iterations: number };
  /** Every recipient's kid, "password" first. */
  recipientKids: string[];
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

// --- the password recipient ------------------------------------------------------------

const KEK_USAGES: KeyUsage[] = ["wrapKey", "unwrapKey"];

function assertWriteFloors(kdf: PasswordKdfParams, weakAllowed: boolean) {
  if (kdf.name === "pbkdf2-sha512") {
    if (!weakAllowed && kdf.c < WRITE_FLOORS.p2c) throw new RangeError(`p2c must be at least ${WRITE_FLOORS.p2c}`);
    if (kdf.c > READ_CEILINGS.p2c) throw new RangeError(`p2c must be at most ${READ_CEILINGS.p2c}`);
  } else if (!weakAllowed && (kdf.m < WRITE_FLOORS.memoryKiB || kdf.t < WRITE_FLOORS.iterations)) {
    throw new RangeError(`Argon2id needs at least ${WRITE_FLOORS.memoryKiB} KiB and ${WRITE_FLOORS.iterations} iterations`);
  }
}

/** Whether a blob's KDF parameters meet the floors every blob this client wrote meets. */
function meetsFloors(kdf: PasswordKdfParams | { name: "pbes2"; c: number }): boolean {
  if (kdf.name === "argon2id") return kdf.m >= WRITE_FLOORS.memoryKiB && kdf.t >= WRITE_FLOORS.iterations;
  return kdf.c >= WRITE_FLOORS.p2c;
}

/** Runs the KDF and imports its output as a non-extractable AES-KW key; zeroes the bytes in between. */
async function kekFor(password: string, kdf: PasswordKdfParams, runner: Argon2Runner): Promise<CryptoKey> {
  const salt = base64urlDecode(kdf.salt);
  if (!salt) throw new EscrowError("unsupported_format", "The stored key backup has a malformed salt.");
  const secret = passwordBytes(password);
  try {
    if (kdf.name === "pbkdf2-sha512") {
      const base = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveKey"]);
      return await crypto.subtle.deriveKey(
        { name: "PBKDF2", hash: "SHA-512", salt, iterations: kdf.c },
        base,
        { name: "AES-KW", length: 256 },
        false,
        KEK_USAGES,
      );
    }
    const raw = await runner({
      password: secret,
      salt,
      memoryKiB: kdf.m,
      iterations: kdf.t,
      parallelism: kdf.p,
      hashBytes: ARGON2_HASH_BYTES,
    });
    try {
      return await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-KW", false, KEK_USAGES);
    } finally {
      raw.fill(0);
    }
  } finally {
    secret.fill(0);
  }
}

/**
 * Derives a new password key (fresh salt) with the KDF the options choose: what
 * sealEscrow does with a password, exposed so a page can derive once (in a worker)
 * and seal several times.
 */
export async function derivePasswordKey(password: string, options: SealOptions = {}): Promise<PasswordKey> {
  if (password.length === 0) throw new IndieError("weak_password", "The password is empty.");
  let kdf: PasswordKdfParams;
  if ((options.kdf ?? "argon2id") === "pbes2") {
    kdf = { name: "pbkdf2-sha512", c: options.p2c ?? PBES2_DEFAULT_COUNT, salt: base64urlEncode(randomBytes(PBES2_SALT_BYTES)) };
  } else {
    const params = options.argon2 ?? ARGON2_DEFAULTS;
    kdf = {
      name: "argon2id",
      v: ARGON2_VERSION,
      m: params.memoryKiB,
      t: params.iterations,
      p: params.parallelism,
      salt: base64urlEncode(randomBytes(ARGON2_SALT_BYTES)),
    };
  }
  assertWriteFloors(kdf, options.testOnlyAllowWeakParameters === true);
  return { kdf, kek: await kekFor(password, kdf, options.argon2Runner ?? argon2Inline) };
}

// --- sealing -----------------------------------------------------------------------------

/**
 * Encrypts the keyring as a format 2 blob (a General JSON JWE, serialized): a fresh
 * random content key every time, wrapped for the password (a string: a new salt and
 * a new derived key; or the PasswordKey of the blob being replaced) and for each of
 * `options.recipients`. A recipient left out cannot open this blob nor any later one.
 */
export async function sealEscrow(keyring: Keyring, password: string | PasswordKey, options: SealOptions = {}): Promise<string> {
  const checked = keyringSchema.parse(keyring);
  const recipients = checkRecipients(options.recipients ?? []);
  const passwordKey = typeof password === "string" ? await derivePasswordKey(password, options) : password;
  assertWriteFloors(passwordKey.kdf, options.testOnlyAllowWeakParameters === true);

  const header: EscrowV2Protected = {
    enc: "A256GCM",
    cty: KEYRING_CONTENT_TYPE,
    iev: ESCROW_FORMAT_V2,
    kdf: passwordKey.kdf,
    rcp: recipients,
  };
  const jwe = new GeneralEncrypt(utf8(JSON.stringify(checked))).setProtectedHeader(header);
  jwe.addRecipient(passwordKey.kek).setUnprotectedHeader({ alg: "A256KW", kid: PASSWORD_RECIPIENT_KID });
  for (const r of recipients) {
    jwe.addRecipient({ kty: r.kty, crv: r.crv, x: r.x }).setUnprotectedHeader({ alg: "ECDH-ES+A256KW", kid: r.kid });
  }
  // GeneralEncrypt draws the content key (and each ephemeral ECDH key) afresh per call.
  const blob = JSON.stringify(await jwe.encrypt());
  if (utf8(blob).length > ESCROW_MAX_BYTES) {
    throw new IndieError(
      "payload_too_large",
      `The key backup would be ${Math.ceil(blob.length / 1024)} KiB, over the server's 64 KiB: remove an unlock method or old keys.`,
    );
  }
  return blob;
}

function checkRecipients(recipients: readonly EscrowRecipientJwk[]): EscrowRecipientJwk[] {
  if (recipients.length > MAX_KEY_RECIPIENTS) throw new RangeError(`at most ${MAX_KEY_RECIPIENTS} unlock keys besides the password`);
  const kids = new Set<string>();
  return recipients.map((r) => {
    const parsed = recipientJwkSchema.parse({ kid: r.kid, kty: r.kty, crv: r.crv, x: r.x });
    if (kids.has(parsed.kid)) throw new RangeError(`two recipients named ${parsed.kid}`);
    kids.add(parsed.kid);
    return parsed;
  });
}

// --- reading the header ------------------------------------------------------------------

type ParsedBlob =
  | { format: 1; compact: string; header: EscrowHeader }
  | { format: 2; jwe: EscrowV2; header: EscrowV2Protected };

const FORBIDDEN_MEMBERS = ["zip", "crit"] as const;

/** Issue #11: we never compress nor mark anything critical, so either member means someone else wrote this. */
function refuseForbiddenMembers(headers: unknown[]) {
  for (const h of headers) {
    if (h === null || typeof h !== "object") continue;
    for (const name of FORBIDDEN_MEMBERS) {
      if (Object.hasOwn(h, name)) {
        throw new EscrowError(
          "forbidden_header",
          `The stored key backup carries a "${name}" header this app never writes: it was altered, so it is not opened.`,
        );
      }
    }
  }
}

function decodeJsonPart(part: unknown): unknown {
  const bytes = typeof part === "string" ? base64urlDecode(part) : null;
  if (!bytes) throw new EscrowError("unsupported_format", "The stored key backup is not in a format this app can read.");
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new EscrowError("unsupported_format", "The stored key backup is not in a format this app can read.", { cause: err });
  }
}

function parseBlob(blob: string, weakAllowed: boolean): ParsedBlob {
  const unreadable = (issues?: unknown[]) =>
    new EscrowError("unsupported_format", "The stored key backup uses a format or parameters this app does not accept.", {
      issues,
    });
  if (blob.trimStart().startsWith("{")) {
    let raw: unknown;
    try {
      raw = JSON.parse(blob);
    } catch (err) {
      throw new EscrowError("unsupported_format", "The stored key backup is not in a format this app can read.", { cause: err });
    }
    if (raw === null || typeof raw !== "object") throw unreadable();
    const obj = raw as { protected?: unknown; unprotected?: unknown; recipients?: unknown };
    const headerRaw = decodeJsonPart(obj.protected);
    const recipientHeaders = Array.isArray(obj.recipients)
      ? obj.recipients.map((r: unknown) => (r && typeof r === "object" ? (r as { header?: unknown }).header : undefined))
      : [];
    refuseForbiddenMembers([headerRaw, obj.unprotected, ...recipientHeaders]);
    const jwe = escrowV2Schema.safeParse(raw);
    if (!jwe.success) throw unreadable(jwe.error.issues);
    const header = escrowV2ProtectedSchema.safeParse(headerRaw);
    if (!header.success) throw unreadable(header.error.issues);
    // The recipients are the password and then exactly the manifest, in order. The
    // manifest is authenticated and the recipient headers are not: a mismatch is an edit.
    const kids = jwe.data.recipients.slice(1).map((r) => r.header.kid);
    if (kids.length !== header.data.rcp.length || kids.some((kid, i) => kid !== header.data.rcp[i]!.kid)) {
      throw new EscrowError("tampered", "The stored key backup's recipients do not match its signed list: it was altered.");
    }
    if (!weakAllowed && !meetsFloors(header.data.kdf)) throw weakParameters();
    return { format: 2, jwe: jwe.data, header: header.data };
  }

  const parts = blob.split(".");
  if (parts.length !== 5) throw unreadable();
  let rawHeader: unknown;
  try {
    rawHeader = decodeProtectedHeader(blob);
  } catch (err) {
    throw new EscrowError("unsupported_format", "The stored key backup is not in a format this app can read.", { cause: err });
  }
  refuseForbiddenMembers([rawHeader]);
  const parsed = escrowHeaderSchema.safeParse(rawHeader);
  if (!parsed.success) throw unreadable(parsed.error.issues);
  const kdf = parsed.data.alg === "A256KW" ? parsed.data.kdf : { name: "pbes2" as const, c: parsed.data.p2c };
  if (!weakAllowed && !meetsFloors(kdf)) throw weakParameters();
  return { format: 1, compact: blob, header: parsed.data };
}

function weakParameters() {
  return new EscrowError(
    "weak_parameters",
    "The stored key backup claims a password protection far weaker than this app ever writes: it was altered, so it is not opened.",
  );
}

/** Reads the blob's header without a secret: which format, KDF and recipients (not yet authenticated). */
export function inspectEscrow(blob: string, options: { testOnlyAllowWeakParameters?: boolean } = {}): EscrowSummary {
  const parsed = parseBlob(blob, options.testOnlyAllowWeakParameters === true);
  if (parsed.format === 2) {
    const kdf = parsed.header.kdf;
    return {
      format: 2,
      kdf: kdf.name === "argon2id" ? { name: kdf.name, m: kdf.m, t: kdf.t, p: kdf.p } : { name: kdf.name, iterations: kdf.c },
      recipientKids: [PASSWORD_RECIPIENT_KID, ...parsed.header.rcp.map((r) => r.kid)],
    };
  }
  const h = parsed.header;
  return {
    format: 1,
    kdf: h.alg === "A256KW" ? { name: "argon2id", m: h.kdf.m, t: h.kdf.t, p: h.kdf.p } : { name: "pbes2", iterations: h.p2c },
    recipientKids: [PASSWORD_RECIPIENT_KID],
  };
}

export function describeKdf(summary: EscrowSummary | EscrowSummary["kdf"]): string {
  const kdf = "kdf" in summary ? summary.kdf : summary;
  return kdf.name === "argon2id"
    ? `Argon2id, ${Math.round(kdf.m / 1024)} MiB, ${kdf.t} passes`
    : `PBKDF2-SHA-512, ${kdf.iterations.toLocaleString("en")} iterations`;
}

// --- opening ------------------------------------------------------------------------------

const DECRYPT_OPTIONS = {
  contentEncryptionAlgorithms: ["A256GCM"],
  // Issue #11: no decompression, ever (a "zip" member is refused before this anyway).
  maxDecompressedLength: 0,
} satisfies DecryptOptions;

/**
 * Decrypts the blob with the password. A wrong password is `wrong_password`; an
 * altered blob is `escrow_unreadable` (an EscrowError, whose reason says how). It can
 * never yield garbage keys: AES-GCM authenticates the plaintext.
 */
export async function openEscrow(blob: string, password: string, options: OpenOptions = {}): Promise<Keyring> {
  return (await openEscrowWith(blob, { password }, options)).keyring;
}

/** Opens a blob of either format with the password, or a format 2 blob with a passkey's or the recovery key's unlock key. */
export async function openEscrowWith(blob: string, unlock: EscrowUnlock, options: OpenOptions = {}): Promise<OpenedEscrow> {
  const started = performance.now();
  const parsed = parseBlob(blob, options.testOnlyAllowWeakParameters === true);
  const progress = options.onProgress ?? (() => {});
  let opened: Omit<OpenedEscrow, "keyring"> & { plaintext: Uint8Array };
  if ("password" in unlock) {
    // No escrow is ever sealed under an empty password (sealing refuses it).
    if (unlock.password.length === 0) throw new EscrowError("wrong_password", "Enter the password that protects your keys.");
    opened =
      parsed.format === 2
        ? await openV2WithPassword(parsed, unlock.password, options.argon2Runner ?? argon2Inline, progress)
        : await openV1(parsed, unlock.password, options.argon2Runner ?? argon2Inline, progress);
  } else {
    if (parsed.format === 1) {
      throw new EscrowError("not_a_recipient", "This key backup predates passkey and recovery-key unlock: it opens with the password only.");
    }
    opened = await openV2WithKey(parsed, unlock.key);
  }
  progress({ stage: "decrypt" });
  const keyring = await parseKeyring(opened.plaintext);
  progress({ stage: "done", elapsedMs: performance.now() - started });
  const { plaintext: _, ...rest } = opened;
  return { keyring, ...rest };
}

type Progress = (p: EscrowProgress) => void;

async function openV2WithPassword(parsed: Extract<ParsedBlob, { format: 2 }>, password: string, runner: Argon2Runner, progress: Progress) {
  const kdf = parsed.header.kdf;
  progress({
    stage: "derive",
    kdf: kdf.name === "argon2id" ? "argon2id" : "pbes2",
    description: describeKdf({ format: 2, kdf: kdf.name === "argon2id" ? kdf : { name: kdf.name, iterations: kdf.c }, recipientKids: [] }),
  });
  const kek = await kekFor(password, kdf, runner);
  const recipient = parsed.jwe.recipients[0];
  const plaintext = await decryptV2(parsed.jwe, recipient, kek, "A256KW", async () =>
    (await unwraps(kek, recipient.encrypted_key))
      ? new EscrowError("tampered", "The password is right, but the stored key backup does not decrypt: it was altered.")
      : new EscrowError("wrong_password", "That password does not unlock your keys. Check it and try again."),
  );
  return {
    plaintext,
    format: 2 as const,
    openedBy: PASSWORD_RECIPIENT_KID,
    recipients: parsed.header.rcp,
    passwordKey: { kdf, kek },
  };
}

async function openV2WithKey(parsed: Extract<ParsedBlob, { format: 2 }>, key: UnlockKey) {
  const index = parsed.header.rcp.findIndex((r) => r.kid === key.kid);
  if (index < 0) {
    throw new EscrowError(
      "not_a_recipient",
      key.kid.startsWith("recovery:")
        ? "This recovery key is not one that unlocks the stored key backup (it was replaced, or never set up)."
        : "This passkey is not set up to unlock your keys (or was removed). Use the password.",
    );
  }
  if (parsed.header.rcp[index]!.x !== key.publicJwk.x) {
    throw new EscrowError("wrong_key", "This passkey or recovery key gives a different key than the one the backup was sealed to.");
  }
  const plaintext = await decryptV2(parsed.jwe, parsed.jwe.recipients[index + 1]!, key.privateKey, "ECDH-ES+A256KW", async () =>
    // The key is the one named in the authenticated manifest: the failure is the blob's.
    new EscrowError("tampered", "The stored key backup does not decrypt with a key it names: it was altered."),
  );
  return { plaintext, format: 2 as const, openedBy: key.kid, recipients: parsed.header.rcp };
}

/**
 * Decrypts through one chosen recipient: jose's generalDecrypt over the blob with
 * that recipient alone, so no other recipient is ever tried with this key. jose
 * reports every failure alike (JWEDecryptionFailed, RFC 7516 §11.5); `diagnose` then
 * tells a wrong secret from an altered blob.
 */
async function decryptV2(
  jwe: EscrowV2,
  recipient: EscrowV2["recipients"][number],
  key: CryptoKey,
  alg: "A256KW" | "ECDH-ES+A256KW",
  diagnose: () => Promise<EscrowError>,
): Promise<Uint8Array> {
  const single: GeneralJWE = { protected: jwe.protected, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag, recipients: [recipient] };
  try {
    const { plaintext } = await generalDecrypt(single, key, { ...DECRYPT_OPTIONS, keyManagementAlgorithms: [alg] });
    return plaintext;
  } catch (err) {
    const error = await diagnose();
    (error as { cause?: unknown }).cause ??= err;
    throw error;
  }
}

/** Whether the key-wrapping key unwraps this wrapped key (RFC 3394's integrity check passes). */
async function unwraps(kek: CryptoKey, encryptedKey: string): Promise<boolean> {
  const wrapped = base64urlDecode(encryptedKey);
  if (!wrapped) return false;
  try {
    await crypto.subtle.unwrapKey("raw", wrapped, kek, "AES-KW", "AES-GCM", false, ["decrypt"]);
    return true;
  } catch {
    return false;
  }
}

async function openV1(parsed: Extract<ParsedBlob, { format: 1 }>, password: string, runner: Argon2Runner, progress: Progress) {
  const header = parsed.header;
  // Argon2id: derived here, used for the decryption and, if it fails, for the diagnosis.
  // PBES2: jose derives from the password itself; RFC 7518 §4.8.1.1's key-wrapping key
  // is derived here only if the decryption fails, to tell a wrong password from an edit.
  let kek: CryptoKey | undefined;
  let key: CryptoKey | Uint8Array<ArrayBuffer>;
  if (header.alg === "A256KW") {
    progress({ stage: "derive", kdf: "argon2id", description: describeKdf(header.kdf) });
    kek = await kekFor(password, header.kdf, runner);
    key = kek;
  } else {
    progress({ stage: "derive", kdf: "pbes2", description: describeKdf({ name: "pbes2", iterations: header.p2c }) });
    key = passwordBytes(password);
  }
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(parsed.compact, key, {
      ...DECRYPT_OPTIONS,
      keyManagementAlgorithms: [header.alg],
      // Raised from jose's 10,000 only to our own ceiling, already checked.
      maxPBES2Count: READ_CEILINGS.p2c,
    }));
  } catch (err) {
    if (header.alg !== "A256KW") kek = await pbes2Kek(password, header.p2s, header.p2c);
    if (!kek) throw err;
    const wrapped = parsed.compact.split(".")[1]!;
    if (await unwraps(kek, wrapped)) {
      throw new EscrowError("tampered", "The password is right, but the stored key backup does not decrypt: it was altered.", {
        cause: err,
      });
    }
    throw new EscrowError("wrong_password", "That password does not unlock your keys. Check it and try again.", { cause: err });
  } finally {
    if (key instanceof Uint8Array) key.fill(0);
  }
  return { plaintext, format: 1 as const, openedBy: PASSWORD_RECIPIENT_KID, recipients: [] };
}

async function pbes2Kek(password: string, p2s: string, p2c: number): Promise<CryptoKey> {
  const saltInput = base64urlDecode(p2s);
  if (!saltInput) throw new EscrowError("unsupported_format", "The stored key backup has a malformed salt.");
  const alg = utf8("PBES2-HS512+A256KW");
  const salt = new Uint8Array(alg.length + 1 + saltInput.length);
  salt.set(alg);
  salt.set(saltInput, alg.length + 1);
  const secret = passwordBytes(password);
  try {
    const base = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveKey"]);
    return await crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-512", salt, iterations: p2c }, base, { name: "AES-KW", length: 256 }, false, KEK_USAGES);
  } finally {
    secret.fill(0);
  }
}

async function parseKeyring(plaintext: Uint8Array): Promise<Keyring> {
  let keyring: Keyring;
  try {
    keyring = keyringSchema.parse(JSON.parse(decoder.decode(plaintext)));
  } catch (err) {
    throw new EscrowError("not_a_keyring", "The stored key backup decrypted, but its contents are not a keyring.", { cause: err });
  } finally {
    plaintext.fill(0);
  }
  // The kids are thumbprints of the keys: a keyring that says otherwise is corrupt.
  for (const k of keyring.keys) {
    const pub = await publicJwkOf(k.jwk, k.use);
    if (pub.kid !== k.kid) throw new EscrowError("not_a_keyring", `Key ${k.kid} in the backup has the wrong kid.`);
  }
  return keyring;
}
