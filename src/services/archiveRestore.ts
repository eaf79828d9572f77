/**
 * POST /auth/restore (docs/export-restore.md): an archive into a fresh instance.
 *
 * Every check comes before the first write, so a refused archive leaves nothing
 * behind: the body must be JSON, the archive of a format and version this server
 * knows, valid against the schema, equal to its own digest, and consistent; then an
 * assertion by the archive's current signing key must name this instance (aud), a
 * fresh challenge (nonce) and this very archive (`archive_sha256` = its digest), so
 * the server knows that whoever restores holds the owner's key and approves exactly
 * this archive, not an edited one.
 *
 * The writes: the activity log and the messages into the Durable Object under a
 * lease, then one D1 batch whose last row claims the instance
 * (src/durable/restore.ts says why in that order and how a failure is undone).
 */
import { decodeJwt } from "jose";
import { archiveDigest, currentArchiveKeys, findArchiveInconsistency } from "../domain/archive";
import { instanceStub } from "../durable/stub";
import type { Env } from "../env";
import { alreadyClaimed, ApiError } from "../errors";
import { restoreInProgress } from "../instanceErrors";
import { isClaimed } from "../storage/ownerStore";
import { randomToken } from "../lib/bytes";
import { systemClock } from "../lib/clock";
import { ARCHIVE_FORMAT, ARCHIVE_LIMITS, ARCHIVE_VERSION, archiveSchema, type Archive } from "../schemas/archive";
import { EXPORT_PAGE_BYTES, jsonChunks, restoreArchive } from "../storage/archiveStore";
import { invalidateJwks } from "../storage/jwksCache";
import { checkAssertion } from "./assertions";

const MAX_ISSUES = ARCHIVE_LIMITS.maxIssues;

function refuse(message: string, extra: { issues?: unknown[]; reason?: string } = {}): never {
  throw new ApiError("invalid_request", message, extra);
}

/** Format, version, schema, digest and consistency, in that order; the first failure explains itself. */
export async function parseArchive(value: Record<string, unknown>): Promise<Archive> {
  if (value.format !== ARCHIVE_FORMAT) {
    refuse(`This is not an Indienet archive: "format" must be "${ARCHIVE_FORMAT}".`);
  }
  if (value.version !== ARCHIVE_VERSION) {
    // Only a scalar is quoted back: JSON.stringify of a deeply nested "version" would
    // overflow the stack and turn a bad archive into a 500.
    const version = value.version ?? null;
    const said = version === null || typeof version === "number" || typeof version === "boolean"
      ? String(version)
      : typeof version === "string"
        ? JSON.stringify(version.slice(0, 40))
        : `a${Array.isArray(version) ? "n array" : "n object"}`;
    refuse(`This server restores archives of version ${ARCHIVE_VERSION}; this one says version ${said}.`);
  }
  const parsed = archiveSchema.safeParse(value);
  if (!parsed.success) {
    refuse("The archive is not valid: a part of it is missing, cut short or malformed.", {
      issues: parsed.error.issues.slice(0, MAX_ISSUES).map((i) => ({ ...i, path: ["archive", ...i.path] })),
    });
  }
  const archive = parsed.data;
  if ((await archiveDigest(archive)) !== archive.digest) {
    refuse(
      "The archive does not match its digest: it was changed, or some of it was lost, after it was exported.",
      { reason: "digest mismatch" },
    );
  }
  const problem = await findArchiveInconsistency(archive);
  if (problem) refuse(`The archive is inconsistent: ${problem}`);
  return archive;
}

/**
 * Checks the owner's approval and writes the archive. Throws `409 already_claimed`
 * if another claim or restore got there first; then nothing of this one remains.
 */
export async function restoreFromArchive(deps: { env: Env; origin: string }, assertion: string, archive: Archive): Promise<void> {
  const stub = instanceStub(deps.env);
  const current = currentArchiveKeys(archive)!;
  // Signature, aud (this instance's ORIGIN) and the single-use challenge: a login
  // assertion (docs/api.md §4) by the archive's current signing key.
  await checkAssertion({ instance: stub, origin: deps.origin }, assertion, current.sig, "restore");
  // Verified above, so its claims can be read as they are.
  if (decodeJwt(assertion).archive_sha256 !== archive.digest) {
    refuse("The assertion does not approve this archive: its archive_sha256 claim must be the archive's digest.", {
      reason: "archive_sha256 mismatch",
    });
  }

  const restoreId = randomToken(16);
  const entries = archive.activity.map((a) => ({
    id: a.id,
    type: a.type,
    atMs: a.at,
    sessionId: a.sessionId ?? null,
    detail: a.detail ? JSON.stringify(a.detail) : null,
  }));
  // Asked again right before the lease: the route asked before reading a body of up to
  // 16 MiB. `begin` takes over a lease that expired (its Worker died), undoing what it
  // wrote; were that restore's D1 batch committed, that would undo a finished restore.
  // Each part below renews the lease, and the last is sent right before the batch, which
  // D1 ends within 30 s: a claim is in D1 before its lease can expire.
  if (await isClaimed(deps.env.DB)) throw alreadyClaimed();
  if (!(await stub.beginRestore(restoreId, entries, archive.lastMessageId))) {
    throw restoreInProgress();
  }
  try {
    // In parts of at most EXPORT_PAGE_BYTES of JSON, one object call each: an RPC's
    // size is bounded, and so is a request's number of calls (16 MiB make about five).
    // At least one (an empty part), so that the lease is renewed right before the batch.
    const parts = jsonChunks(archive.messages, EXPORT_PAGE_BYTES);
    for (const part of parts.length > 0 ? parts : ["[]"]) {
      if (!(await stub.restoreMessages(restoreId, part))) throw restoreInProgress();
    }
  } catch (err) {
    await stub.abortRestore(restoreId);
    throw err;
  }
  let claimed: boolean;
  try {
    claimed = await restoreArchive(deps.env.DB, archive, { claimId: restoreId, nowMs: systemClock.nowMs() });
  } catch (err) {
    // The batch's fate is unknown: it may have committed and lost only its answer, or
    // commit still. Nothing is undone here (undoing a committed restore's log and
    // messages would lose them): if this claim is in D1, the restore is done; if not,
    // the lease expires and the next restore asks D1 before taking it over.
    console.error(JSON.stringify({ event: "restore_batch_failed", error: String(err) }));
    if (!(await isClaimed(deps.env.DB, restoreId))) throw err;
    claimed = true;
  }
  if (!claimed) {
    await stub.abortRestore(restoreId);
    throw alreadyClaimed();
  }

  await stub.finishRestore(restoreId, {
    restoredFrom: archive.origin,
    exportedAt: archive.exportedAt,
    archiveDigest: archive.digest,
    messages: archive.messages.length,
    escrowVersions: archive.escrow.length,
    activityEntries: archive.activity.length,
  });
  await invalidateJwks(deps.env);
}
