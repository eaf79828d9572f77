// The export archive's digest and a few checks, in plain JavaScript for the Node
// scripts. A copy of src/domain/archive.ts (the source of truth; it explains the
// hash list); test/scripts/archive.test.ts keeps the two equal.
import { webcrypto } from "node:crypto";

export const ARCHIVE_FORMAT = "indienet-archive";
export const ARCHIVE_VERSION = 1;
/** POST /auth/restore's body limit (ARCHIVE_LIMITS.restoreBodyBytes in src/schemas/archive.ts). */
export const RESTORE_BODY_BYTES = 16 * 1024 * 1024;

const subtle = globalThis.crypto?.subtle ?? webcrypto.subtle;
const encoder = new TextEncoder();

/** RFC 8785 (JCS) for the values an archive holds. */
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

function base64url(bytes) {
  return Buffer.from(bytes).toString("base64url");
}

const sha256 = async (bytes) => new Uint8Array(await subtle.digest("SHA-256", bytes));

/** The digest of an archive's records (whatever its `digest` field says). */
export async function archiveDigest(archive) {
  const { format, version, exportedAt, origin, settings, lastMessageId } = archive;
  const records = [["archive", { format, version, exportedAt, origin, settings, lastMessageId }]];
  for (const [section, list] of [
    ["key", archive.publicKeys],
    ["escrow", archive.escrow],
    ["message", archive.messages],
    ["activity", archive.activity],
  ]) {
    if (!Array.isArray(list)) throw new TypeError(`the archive has no ${section} list`);
    for (const item of list) records.push([section, item]);
  }
  const hashes = await Promise.all(records.map((r) => sha256(encoder.encode(canonicalJson(r)))));
  const all = new Uint8Array(hashes.length * 32);
  hashes.forEach((h, i) => all.set(h, i * 32));
  return base64url(await sha256(all));
}

/**
 * Parses archive text and checks what a downloader can: complete JSON, our format and
 * version, and a digest that matches the records. Throws an Error saying what is wrong.
 */
export async function verifyArchiveText(text) {
  let archive;
  try {
    archive = JSON.parse(text);
  } catch {
    throw new Error("the archive is not complete JSON (the download was cut short?)");
  }
  if (archive === null || typeof archive !== "object" || archive.format !== ARCHIVE_FORMAT) {
    throw new Error(`this is not an Indienet archive (format is not "${ARCHIVE_FORMAT}")`);
  }
  if (archive.version !== ARCHIVE_VERSION) {
    throw new Error(`archive version ${JSON.stringify(archive.version)} is not one this tool knows (${ARCHIVE_VERSION})`);
  }
  if (typeof archive.digest !== "string") throw new Error("the archive has no digest (the download was cut short?)");
  const digest = await archiveDigest(archive);
  if (digest !== archive.digest) throw new Error("the archive does not match its digest");
  return archive;
}
