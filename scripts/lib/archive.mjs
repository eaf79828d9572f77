// The export archive's checks for the Node scripts. The digest is the server's own
// code (src/domain/archiveDigest.mjs, plain JavaScript for this reason).
import { archiveDigest } from "../../src/domain/archiveDigest.mjs";

export { archiveDigest, canonicalJson } from "../../src/domain/archiveDigest.mjs";

export const ARCHIVE_FORMAT = "indienet-archive";
export const ARCHIVE_VERSION = 1;
/** POST /auth/restore's body limit (ARCHIVE_LIMITS.restoreBodyBytes in src/schemas/archive.ts). */
export const RESTORE_BODY_BYTES = 16 * 1024 * 1024;

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
