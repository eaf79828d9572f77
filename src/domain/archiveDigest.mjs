// The export archive's digest (docs/export-restore.md), in plain JavaScript so that
// the Worker (through src/domain/archive.ts) and the Node scripts (`npm run export`,
// through scripts/lib/archive.mjs) run one implementation. It needs only WebCrypto,
// TextEncoder and btoa, which workerd, browsers and Node 20 all have. Types are in
// archiveDigest.d.mts.
//
// The digest is a hash list: each record (the header, then every key, escrow version,
// message and activity entry, in archive order) is serialized canonically and hashed
// alone, and the digest is SHA-256 over those hashes in order. So it can be computed
// while the archive streams out, a record at a time, and checked without building a
// second copy of a large archive in memory; dropping, adding, reordering or changing
// any record changes it.

const encoder = new TextEncoder();

/**
 * RFC 8785 (JCS) for the values an archive holds: object members sorted by their
 * UTF-16 code units, no whitespace, ECMAScript number and string serialization (which
 * is what JCS specifies). Members whose value is undefined are left out, as
 * JSON.stringify does.
 */
export function canonicalJson(value) {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("not a JSON number");
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`not a JSON value: ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** The record hashed for one archive item: `[section, value]`, canonical. */
export function archiveRecord(section, value) {
  return canonicalJson([section, value]);
}

/** The header fields the digest covers (everything but the lists and the digest). */
export function archiveHeader(archive) {
  const { format, version, exportedAt, origin, settings, lastMessageId } = archive;
  return { format, version, exportedAt, origin, settings, lastMessageId };
}

/** Records are hashed in batches of about this many bytes: memory holds one batch, not a copy of the archive. */
const HASH_BATCH_BYTES = 1024 * 1024;

const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

function base64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Collects record hashes in order; `digest()` is the archive digest over them. */
export class ArchiveDigester {
  #hashes = [];
  #batch = [];
  #batchBytes = 0;

  async add(section, value) {
    const bytes = encoder.encode(archiveRecord(section, value));
    this.#batch.push(sha256(bytes));
    this.#batchBytes += bytes.length;
    if (this.#batchBytes >= HASH_BATCH_BYTES) await this.#flush();
  }

  async #flush() {
    this.#hashes.push(...(await Promise.all(this.#batch)));
    this.#batch = [];
    this.#batchBytes = 0;
  }

  async digest() {
    await this.#flush();
    const all = new Uint8Array(this.#hashes.length * 32);
    this.#hashes.forEach((h, i) => all.set(h, i * 32));
    return base64url(await sha256(all));
  }
}

const SECTIONS = [
  ["key", "publicKeys"],
  ["escrow", "escrow"],
  ["message", "messages"],
  ["activity", "activity"],
];

/** The digest an archive's records have (whatever its `digest` field says). */
export async function archiveDigest(archive) {
  const digester = new ArchiveDigester();
  await digester.add("archive", archiveHeader(archive));
  for (const [section, field] of SECTIONS) {
    const list = archive[field];
    if (!Array.isArray(list)) throw new TypeError(`the archive has no ${field} list`);
    for (const item of list) await digester.add(section, item);
  }
  return digester.digest();
}
