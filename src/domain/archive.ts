/**
 * The archive's digest and its consistency rules (docs/export-restore.md). The digest
 * itself lives in archiveDigest.mjs, plain JavaScript, so that `npm run export`
 * (Node) runs the same code as the server; this module re-exports it and adds the
 * checks only the server makes.
 */
import { calculateJwkThumbprint } from "jose";
import type { Archive } from "../schemas/archive";

export { archiveDigest, ArchiveDigester, archiveHeader, archiveRecord, canonicalJson, type ArchiveSection } from "./archiveDigest.mjs";

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
