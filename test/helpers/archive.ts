/**
 * The owner's side of a restore (docs/export-restore.md), runtime-neutral: used by the
 * workerd tests and by the end-to-end test against two `npm run dev` instances. What
 * the web app would do: take an archive, get a challenge from the NEW instance, sign a
 * login assertion for it with the archive's current signing key plus the claim
 * `archive_sha256` = the archive's digest, and POST /auth/restore with the setup code in
 * `Authorization: Setup <code>`.
 */
import { SignJWT } from "jose";
import { archiveDigest } from "../../src/domain/archive";
import type { Archive, ArchiveActivity, ArchiveEscrow, ArchiveKey, ArchiveMessage } from "../../src/schemas/archive";
import { sealMessage, type EncJwk } from "./messages";
import { makeOwnerKeys, type Fetcher, type OwnerKeys } from "./owner";

export async function challengeFrom(fetcher: Fetcher, origin: string): Promise<string> {
  const res = await fetcher(new Request(`${origin}/auth/challenge`, { method: "POST" }));
  if (res.status !== 200) throw new Error(`challenge: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { challenge: string }).challenge;
}

/** A login assertion (docs/api.md §4) for `origin` that also approves one archive. */
export async function restoreAssertion(
  keys: OwnerKeys,
  input: { origin: string; nonce: string; archiveSha256?: string; key?: CryptoKey },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ nonce: input.nonce, ...(input.archiveSha256 === undefined ? {} : { archive_sha256: input.archiveSha256 }) })
    .setProtectedHeader({ alg: "Ed25519", typ: "JWT", kid: keys.sig.publicJwk.kid })
    .setAudience(input.origin)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .sign(input.key ?? keys.sig.privateKey);
}

/**
 * POST /auth/restore. `archive` is sent as given: an object, or raw text (to send a
 * truncated file exactly as it is). The assertion approves `approve` (default: the
 * archive's own `digest` field, as a client that trusts the file would).
 */
export async function postRestore(
  fetcher: Fetcher,
  origin: string,
  input: {
    keys: OwnerKeys;
    setupCode: string;
    archive: Archive | Record<string, unknown> | string;
    approve?: string;
    assertion?: string;
    deviceName?: string;
    headers?: Record<string, string>;
    /** Where the setup code goes: `Authorization: Setup <code>` (the default), or the old body field, which the server ignores. */
    setupCodeIn?: "header" | "body" | "nowhere";
  },
): Promise<Response> {
  const digest = typeof input.archive === "string" ? undefined : (input.archive.digest as string | undefined);
  const assertion =
    input.assertion ??
    (await restoreAssertion(input.keys, {
      origin,
      nonce: await challengeFrom(fetcher, origin),
      archiveSha256: input.approve ?? digest,
    }));
  const where = input.setupCodeIn ?? "header";
  const envelope = {
    ...(where === "body" ? { setupCode: input.setupCode } : {}),
    assertion,
    deviceName: input.deviceName ?? "restored laptop",
  };
  const archiveText = typeof input.archive === "string" ? input.archive : JSON.stringify(input.archive);
  // The archive goes last, spliced in as text, so a truncated file arrives as it is.
  const body = `${JSON.stringify(envelope).slice(0, -1)},"archive":${archiveText}}`;
  return fetcher(
    new Request(`${origin}/auth/restore`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(where === "header" ? { authorization: `Setup ${input.setupCode}` } : {}),
        ...input.headers,
      },
      body,
    }),
  );
}

/** Recomputes the digest after an edit, as someone tampering with a file would. */
export async function withDigest<A extends Omit<Archive, "digest">>(archive: A): Promise<A & { digest: string }> {
  return { ...archive, digest: await archiveDigest(archive) };
}

export interface BuiltArchive {
  archive: Archive;
  /** Keys of the owner: `keys` is current; `retired` signed and sealed the older items. */
  keys: OwnerKeys;
  retired: OwnerKeys;
  /** Plaintexts of the messages, by id. */
  plaintexts: Map<number, string>;
}

/**
 * A consistent archive made from scratch, as an instance that lived a while would
 * export it: keys rotated once, escrow versions 1-3, messages sealed to the old and
 * the new encryption key (with a gap where one was deleted, and the newest deleted
 * too), and an activity log.
 */
export async function buildArchive(options: { origin?: string; messages?: number; exportedAt?: number } = {}): Promise<BuiltArchive> {
  const [retired, keys] = await Promise.all([makeOwnerKeys(), makeOwnerKeys()]);
  const t0 = 1_750_000_000_000;
  const key = (k: OwnerKeys["sig"], status: "current" | "retired", createdAt: number): ArchiveKey =>
    ({ jwk: k.publicJwk, status, createdAt, retiredAt: status === "retired" ? t0 + 50_000 : null }) as ArchiveKey;
  const publicKeys = [
    key(retired.sig, "retired", t0),
    key(retired.enc, "retired", t0),
    key(keys.sig, "current", t0 + 50_000),
    key(keys.enc, "current", t0 + 50_000),
  ];
  const escrow: ArchiveEscrow[] = [
    { version: 1, blob: "escrow v1 (old keys): é✓", sigKid: retired.sig.publicJwk.kid, encKid: retired.enc.publicJwk.kid, createdAt: t0 },
    { version: 2, blob: "escrow v2 (password changed)", sigKid: retired.sig.publicJwk.kid, encKid: retired.enc.publicJwk.kid, createdAt: t0 + 10_000 },
    { version: 3, blob: "escrow v3 (rotated): " + "x".repeat(2000), sigKid: keys.sig.publicJwk.kid, encKid: keys.enc.publicJwk.kid, createdAt: t0 + 50_000 },
  ];
  const count = options.messages ?? 5;
  const plaintexts = new Map<number, string>();
  const messages: ArchiveMessage[] = [];
  for (let i = 1; i <= count; i++) {
    // Id 2 was deleted before the export; the first two predate the rotation.
    const id = i >= 2 ? i + 1 : i;
    const text = `message ${id}: ${"hello ".repeat(i)}`;
    const to = id <= 3 ? retired : keys;
    plaintexts.set(id, text);
    messages.push({
      id,
      receivedAt: t0 + 20_000 + id * 1000,
      from: id % 2 === 0 ? null : `acct:friend${id}@example.net`,
      jwe: await sealMessage(to.enc.publicJwk as EncJwk, text),
      verified: id === 4,
    });
  }
  const activity: ArchiveActivity[] = [
    { id: 1, type: "claimed", at: t0 },
    { id: 2, type: "login", at: t0, sessionId: "AVI_nZcffdfeTHz79Sc3iw", detail: { deviceName: "laptop" } },
    { id: 3, type: "escrow_updated", at: t0 + 10_000, sessionId: "AVI_nZcffdfeTHz79Sc3iw", detail: { version: 2 } },
    { id: 5, type: "keys_rotated", at: t0 + 50_000, detail: { rotated: ["sig", "enc"], version: 3 } },
    { id: 6, type: "login_failed", at: t0 + 60_000, detail: { purpose: "login", reason: "nonce mismatch" } },
  ];
  const archive = await withDigest({
    format: "indienet-archive" as const,
    version: 1 as const,
    exportedAt: options.exportedAt ?? t0 + 100_000,
    origin: options.origin ?? "https://old.example.org",
    settings: {
      OWNER_HANDLE: "owner",
      ACCESS_TOKEN_TTL_S: 900,
      REFRESH_REUSE_GRACE_S: 10,
      REFRESH_IDLE_TTL_S: 8_640_000,
      SESSION_MAX_TTL_S: 31_536_000,
      STEP_UP_MAX_AGE_S: 300,
    },
    // The newest message (one more than the last stored id) was deleted before the export.
    lastMessageId: (messages.at(-1)?.id ?? 0) + 1,
    publicKeys,
    escrow,
    messages,
    activity,
  });
  return { archive, keys, retired, plaintexts };
}
