/**
 * GET /api/export (docs/export-restore.md): the whole instance as one JSON archive,
 * streamed. The newest message id is read from the object first, then the small
 * tables as one D1 snapshot (in that order: every message up to that id was
 * accepted for a key that the later snapshot has); escrow blobs, messages and the
 * activity log then follow in pages, each page written out and
 * hashed before the next is read, so memory holds one page (at most 1,000 rows and
 * 4 MiB of blobs or JWEs; 2,000 activity entries), never the archive.
 *
 * The digest is computed as the records go by and written last. If a page fails to
 * load, the stream errors and the client gets a truncated body: invalid JSON without
 * a digest, which the export command refuses to save.
 */
import { ArchiveDigester, type ArchiveSection } from "../domain/archive";
import type { Env } from "../env";
import { instanceStub } from "../durable/stub";
import {
  ARCHIVE_FORMAT,
  ARCHIVE_VERSION,
  type ArchiveActivity,
  type ArchiveHeader,
  type ArchiveSettings,
} from "../schemas/archive";
import type { ActivityType } from "../schemas/api";
import type { Settings } from "../settings";
import { pageEscrowVersions, readArchiveSnapshot, type ArchiveSnapshot } from "../storage/archiveStore";

export const EXPORT_ACTIVITY_PAGE = 2000;

export function archiveSettings(settings: Settings): ArchiveSettings {
  return {
    OWNER_HANDLE: settings.ownerHandle,
    ACCESS_TOKEN_TTL_S: settings.accessTokenTtlS,
    REFRESH_REUSE_GRACE_S: settings.refreshReuseGraceS,
    REFRESH_IDLE_TTL_S: settings.refreshIdleTtlS,
    SESSION_MAX_TTL_S: settings.sessionMaxTtlS,
    STEP_UP_MAX_AGE_S: settings.stepUpMaxAgeS,
  };
}

/** The archive as a byte stream, or null when the instance is not claimed. */
export async function openArchiveExport(
  env: Env,
  input: { origin: string; settings: Settings; nowMs: number },
): Promise<ReadableStream<Uint8Array> | null> {
  const lastMessageId = await instanceStub(env).lastMessageId();
  const tables = await readArchiveSnapshot(env.DB);
  if (!tables) return null;
  const snapshot: ArchiveSnapshot = { ...tables, lastMessageId };
  const header: ArchiveHeader = {
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_VERSION,
    exportedAt: input.nowMs,
    origin: input.origin,
    settings: archiveSettings(input.settings),
    lastMessageId: snapshot.lastMessageId,
  };
  return streamOf(archiveText(env, header, snapshot));
}

/**
 * The archive's text, a page at a time: the header's members, then each list with
 * one record per line, then the digest. The header object is hashed exactly as it
 * is written, and so is every record.
 */
async function* archiveText(env: Env, header: ArchiveHeader, snapshot: ArchiveSnapshot): AsyncGenerator<string> {
  const digester = new ArchiveDigester();
  await digester.add("archive", header);
  const list = async (section: ArchiveSection, items: unknown[], first: boolean) => {
    const lines: string[] = [];
    for (const item of items) {
      await digester.add(section, item);
      lines.push(`${first && lines.length === 0 ? "" : ","}\n${JSON.stringify(item)}`);
    }
    return lines.join("");
  };

  yield `${JSON.stringify(header).slice(0, -1)},\n"publicKeys":[${await list("key", snapshot.keys, true)}\n],\n"escrow":[`;

  let first = true;
  for (let after = 0; ; first = false) {
    const page = await pageEscrowVersions(env.DB, after, snapshot.latestEscrowVersion);
    if (page.length === 0) break;
    yield await list("escrow", page, first);
    after = page.at(-1)!.version;
    if (after >= snapshot.latestEscrowVersion) break;
  }

  yield `\n],\n"messages":[`;
  const stub = instanceStub(env);
  first = true;
  for (let after = 0; ; first = false) {
    const page = await stub.exportMessages(after, snapshot.lastMessageId);
    if (page.length === 0) break;
    yield await list("message", page, first);
    after = page.at(-1)!.id;
    if (after >= snapshot.lastMessageId) break;
  }

  yield `\n],\n"activity":[`;
  first = true;
  for (let after = 0; ; first = false) {
    const page = await stub.exportActivity(after, EXPORT_ACTIVITY_PAGE);
    if (page.length === 0) break;
    const entries: ArchiveActivity[] = page.map((r) => ({
      id: r.id,
      type: r.type as ActivityType,
      at: r.atMs,
      ...(r.sessionId ? { sessionId: r.sessionId } : {}),
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
    yield await list("activity", entries, first);
    after = page.at(-1)!.id;
    if (page.length < EXPORT_ACTIVITY_PAGE) break;
  }

  yield `\n],\n"digest":${JSON.stringify(await digester.digest())}}\n`;
}

function streamOf(pieces: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await pieces.next();
        if (done) controller.close();
        else controller.enqueue(encoder.encode(value));
      } catch (err) {
        // The status line is long gone: all we can do is cut the body short, which
        // the client sees as an archive without its closing digest.
        console.error(JSON.stringify({ event: "export_failed", error: String(err), stack: (err as Error)?.stack }));
        controller.error(err);
      }
    },
    async cancel() {
      await pieces.return(undefined);
    },
  });
}
