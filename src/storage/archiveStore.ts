/**
 * D1 for export and restore (docs/export-restore.md). Export reads a snapshot of the
 * small tables in one batch (one transaction), then pages through escrow blobs up
 * to that snapshot. Restore writes the keys and escrow in one batch, with the
 * `instance` row last: D1 runs a batch as one transaction, so the instance is either
 * claimed with everything or not touched at all. Messages and the activity log are
 * the Durable Object's (src/durable/messages.ts, restore.ts).
 */
import type { Archive, ArchiveEscrow, ArchiveKey } from "../schemas/archive";
import type { PublicJwk } from "../schemas/api";

/**
 * D1 caps a string or BLOB value at 2 MB (1 MB in older documentation). Restore
 * binds rows as JSON arrays of at most this many UTF-8 bytes, one statement each.
 */
export const RESTORE_CHUNK_BYTES = 900_000;
/** Export pages: at most this many rows, and at most PAGE_BYTES of blobs or JWEs. */
export const EXPORT_PAGE_ROWS = 1000;
export const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;

export interface ArchiveSnapshot {
  keys: ArchiveKey[];
  latestEscrowVersion: number;
  /** The object's (InstanceDO.lastMessageId), read before the rest. */
  lastMessageId: number;
}

/** Keys and the newest escrow version, as of one transaction; null if unclaimed. */
export async function readArchiveSnapshot(db: D1Database): Promise<Omit<ArchiveSnapshot, "lastMessageId"> | null> {
  const [claimed, keys, escrow] = await db.batch([
    db.prepare("SELECT 1 AS one FROM instance WHERE id = 1"),
    db.prepare(
      "SELECT jwk, status, created_at_ms, retired_at_ms FROM owner_keys ORDER BY created_at_ms ASC, use DESC, kid ASC",
    ),
    db.prepare("SELECT COALESCE(MAX(version), 0) AS version FROM escrow_versions"),
  ]);
  if (claimed!.results.length === 0) return null;
  const keyRows = keys!.results as Array<{ jwk: string; status: "current" | "retired"; created_at_ms: number; retired_at_ms: number | null }>;
  return {
    keys: keyRows.map((r) => ({
      jwk: JSON.parse(r.jwk) as PublicJwk,
      status: r.status,
      createdAt: r.created_at_ms,
      retiredAt: r.retired_at_ms,
    })) as ArchiveKey[],
    latestEscrowVersion: (escrow!.results[0] as { version: number }).version,
  };
}

/**
 * The SQL of one export page: rows after the first parameter and up to the second,
 * at most the third's count (EXPORT_PAGE_ROWS) and the fourth's bytes of `sizeColumn`
 * (EXPORT_PAGE_BYTES; always at least one row, however large). D1's escrow pages and
 * the object's message pages (src/durable/messages.ts) run it.
 */
export function exportPageSql(query: { table: string; key: string; columns: string; sizeColumn: string }): string {
  return `SELECT ${query.columns} FROM (
    SELECT ${query.columns}, SUM(length(${query.sizeColumn})) OVER (ORDER BY ${query.key}) - length(${query.sizeColumn}) AS bytes_before
    FROM (SELECT * FROM ${query.table} WHERE ${query.key} > ? AND ${query.key} <= ? ORDER BY ${query.key} LIMIT ?)
  ) WHERE bytes_before < ? ORDER BY ${query.key}`;
}

async function page<Row>(
  db: D1Database,
  query: { table: string; key: string; columns: string; sizeColumn: string },
  afterKey: number,
  lastKey: number,
): Promise<Row[]> {
  const { results } = await db.prepare(exportPageSql(query)).bind(afterKey, lastKey, EXPORT_PAGE_ROWS, EXPORT_PAGE_BYTES).all<Row>();
  return results;
}

export async function pageEscrowVersions(db: D1Database, afterVersion: number, lastVersion: number): Promise<ArchiveEscrow[]> {
  const rows = await page<{ version: number; blob: string; sig_kid: string; enc_kid: string; created_at_ms: number }>(
    db,
    { table: "escrow_versions", key: "version", columns: "version, blob, sig_kid, enc_kid, created_at_ms", sizeColumn: "blob" },
    afterVersion,
    lastVersion,
  );
  return rows.map((r) => ({ version: r.version, blob: r.blob, sigKid: r.sig_kid, encKid: r.enc_kid, createdAt: r.created_at_ms }));
}

/** Splits rows into JSON arrays of at most RESTORE_CHUNK_BYTES UTF-8 bytes each. */
export function jsonChunks(rows: unknown[], maxBytes = RESTORE_CHUNK_BYTES): string[] {
  const encoder = new TextEncoder();
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const row of rows) {
    const text = JSON.stringify(row);
    const bytes = encoder.encode(text).length + 1;
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      size = 2;
    }
    current.push(text);
    size += bytes;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}

const UNCLAIMED = "NOT EXISTS (SELECT 1 FROM instance)";

/**
 * Writes an archive's keys and escrow versions into an unclaimed database, and last
 * the `instance` row. One batch,
 * so one transaction: every statement is also guarded by "not claimed", so a batch
 * that lost a race to another claim writes nothing at all. Returns false then.
 *
 * Rows travel as JSON (json_each), a chunk of at most RESTORE_CHUNK_BYTES per
 * statement: D1 allows 100 bound parameters and 100 KB of SQL per statement, and a
 * value of up to 2 MB, so this needs a handful of statements even for a 16 MiB archive.
 */
export async function restoreArchive(
  db: D1Database,
  archive: Pick<Archive, "publicKeys" | "escrow">,
  input: { claimId: string; nowMs: number },
): Promise<boolean> {
  const field = (name: string) => `json_extract(value, '$.${name}')`;
  const insertAll = (table: string, columns: string[], fields: string[], rows: unknown[]) =>
    jsonChunks(rows).map((chunk) =>
      db
        .prepare(
          `INSERT INTO ${table} (${columns.join(", ")}) SELECT ${fields.map(field).join(", ")} FROM json_each(?) WHERE ${UNCLAIMED}`,
        )
        .bind(chunk),
    );

  const statements: D1PreparedStatement[] = [
    ...insertAll(
      "owner_keys",
      ["kid", "use", "jwk", "status", "created_at_ms", "retired_at_ms"],
      ["kid", "use", "jwk", "status", "createdAt", "retiredAt"],
      archive.publicKeys.map((k) => ({
        kid: k.jwk.kid,
        use: k.jwk.use,
        // Stored as the claim stores it: the JWK's own JSON text.
        jwk: JSON.stringify(k.jwk),
        status: k.status,
        createdAt: k.createdAt,
        retiredAt: k.retiredAt,
      })),
    ),
    ...insertAll(
      "escrow_versions",
      ["version", "blob", "sig_kid", "enc_kid", "created_at_ms"],
      ["version", "blob", "sigKid", "encKid", "createdAt"],
      archive.escrow,
    ),
  ];
  statements.push(
    db
      .prepare("INSERT INTO instance (id, claim_id, claimed_at_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")
      .bind(input.claimId, input.nowMs),
  );
  const results = await db.batch(statements);
  return results.at(-1)!.meta.changes === 1;
}
