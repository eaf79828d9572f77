/**
 * The archive's digest and its consistency rules (docs/export-restore.md). Pure apart
 * from WebCrypto, so the server, the tests and a browser can all compute the same
 * digest; scripts/lib/archive.mjs is a plain-JavaScript copy for the export command,
 * kept equal by test/scripts/archive.test.ts.
 *
 * The digest is a hash list: each record (the header, then every key, escrow version,
 * message and activity entry, in archive order) is serialized canonically and hashed
 * alone, and the digest is SHA-256 over those hashes in order. So it can be computed
 * while the archive streams out, a record at a time, and checked without building a
 * second copy of a large archive in memory; dropping, adding, reordering or changing
 * any record changes it.
 */
import { calculateJwkThumbprint } from "jose";
import { base64urlEncode, sha256, utf8 } from "../lib/bytes";
import type { Archive, ArchiveHeader } from "../schemas/archive";

export type ArchiveSection = "archive" | "key" | "escrow" | "message" | "activity";

/**
 * RFC 8785 (JCS) for the values an archive holds: object members sorted by their
 * UTF-16 code units, no whitespace, ECMAScript number and string serialization (which
 * is what JCS specifies). Members whose value is undefined are left out, as
 * JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("not a JSON number");
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`not a JSON value: ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** The record hashed for one archive item: `[section, value]`, canonical, UTF-8. */
export function archiveRecord(section: ArchiveSection, value: unknown): string {
  return canonicalJson([section, value]);
}

export function archiveHeader(archive: ArchiveHeader): ArchiveHeader {
  const { format, version, exportedAt, origin, settings, lastMessageId } = archive;
  return { format, version, exportedAt, origin, settings, lastMessageId };
}

/** Records are hashed in batches of about this many bytes: memory holds one batch, not a copy of the archive. */
const HASH_BATCH_BYTES = 1024 * 1024;

/** Collects record hashes in order; `digest()` is the archive digest over them. */
export class ArchiveDigester {
  private readonly hashes: Uint8Array[] = [];
  private batch: Promise<Uint8Array>[] = [];
  private batchBytes = 0;

  async add(section: ArchiveSection, value: unknown): Promise<void> {
    const bytes = utf8(archiveRecord(section, value));
    this.batch.push(sha256(bytes));
    this.batchBytes += bytes.length;
    if (this.batchBytes >= HASH_BATCH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    this.hashes.push(...(await Promise.all(this.batch)));
    this.batch = [];
    this.batchBytes = 0;
  }

  async digest(): Promise<string> {
    await this.flush();
    const all = new Uint8Array(this.hashes.length * 32);
    this.hashes.forEach((h, i) => all.set(h, i * 32));
    return base64urlEncode(await sha256(all));
  }
}

/** The digest an archive's records have (whatever its `digest` field says). */
export async function archiveDigest(archive: Omit<Archive, "digest">): Promise<string> {
  const digester = new ArchiveDigester();
  await digester.add("archive", archiveHeader(archive));
  for (const key of archive.publicKeys) await digester.add("key", key);
  for (const escrow of archive.escrow) await digester.add("escrow", escrow);
  for (const message of archive.messages) await digester.add("message", message);
  for (const entry of archive.activity) await digester.add("activity", entry);
  return digester.digest();
}

function strictlyIncreasing(ids: number[]): boolean {
  return ids.every((id, i) => i === 0 || id > ids[i - 1]!);
}

/**
 * What a schema cannot check: that the archive describes a state this server could
 * have been in. Returns a sentence for the owner, or null when it is consistent.
 */
export async function findArchiveInconsistency(archive: Archive): Promise<string | null> {
  const keys = new Map<string, Archive["publicKeys"][number]>();
  for (const key of archive.publicKeys) {
    if (keys.has(key.jwk.kid)) return `publicKeys lists the key ${key.jwk.kid} twice.`;
    keys.set(key.jwk.kid, key);
    const { kty, crv, x } = key.jwk;
    if ((await calculateJwkThumbprint({ kty, crv, x }, "sha256")) !== key.jwk.kid) {
      return `publicKeys: the kid ${key.jwk.kid} is not its key's RFC 7638 thumbprint.`;
    }
    if (key.status === "current" && key.retiredAt !== null) return `publicKeys: the current key ${key.jwk.kid} has a retiredAt.`;
  }
  const current = currentArchiveKeys(archive);
  if (!current) return "publicKeys must hold exactly one current signing key and one current encryption key.";

  let expectedVersion = 1;
  for (const escrow of archive.escrow) {
    if (escrow.version !== expectedVersion) {
      return `escrow versions must run 1, 2, 3, … without gaps; found ${escrow.version} where ${expectedVersion} belongs.`;
    }
    expectedVersion++;
    if (keys.get(escrow.sigKid)?.jwk.use !== "sig" || keys.get(escrow.encKid)?.jwk.use !== "enc") {
      return `escrow version ${escrow.version} names a key that is not in publicKeys.`;
    }
  }
  const latest = archive.escrow.at(-1)!;
  if (latest.sigKid !== current.sig.kid || latest.encKid !== current.enc.kid) {
    return "The latest escrow version must go with the current keys.";
  }

  const messageIds = archive.messages.map((m) => m.id);
  if (!strictlyIncreasing(messageIds)) return "messages must be in increasing id order, each id once.";
  if (archive.lastMessageId < (messageIds.at(-1) ?? 0)) return "lastMessageId is lower than a message's id.";
  if (!strictlyIncreasing(archive.activity.map((a) => a.id))) {
    return "activity must be in increasing id order, each id once.";
  }
  return null;
}

/** The archive's current signing and encryption keys, or null if there is not exactly one of each. */
export function currentArchiveKeys(archive: Pick<Archive, "publicKeys">) {
  const current = archive.publicKeys.filter((k) => k.status === "current");
  const sig = current.filter((k) => k.jwk.use === "sig");
  const enc = current.filter((k) => k.jwk.use === "enc");
  if (sig.length !== 1 || enc.length !== 1) return null;
  const sigJwk = sig[0]!.jwk;
  const encJwk = enc[0]!.jwk;
  if (sigJwk.use !== "sig" || encJwk.use !== "enc") return null;
  return { sig: sigJwk, enc: encJwk };
}
