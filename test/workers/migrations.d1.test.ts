/**
 * Upgrading D1 never loses data: state written under an older schema survives every
 * later migration, and the new tables work next to it. This is what `npm run deploy`
 * does to a live instance (step 3: `wrangler d1 migrations apply --remote`, before the
 * new code goes live), replayed on an empty database with the pool's
 * applyD1Migrations, which records what it applied in `d1_migrations` exactly as
 * wrangler does.
 *
 * The fixture is raw SQL, not today's store functions: it is the state the *old* code
 * left behind, row for row.
 */
import { applyD1Migrations, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { currentKeys, isClaimed, latestEscrow, listKeys } from "../../src/storage/ownerStore";
import { makeOwnerKeys } from "../helpers/owner";

const db = env.MIGRATION_CHECK_DB;
const migrations = env.TEST_MIGRATIONS;

/** Every table the migrations made, as rows in primary-key order. */
async function dumpTables(tables: string[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of tables) {
    out[table] = (await db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()).results;
  }
  return out;
}

async function schemaOf(database: D1Database) {
  const { results } = await database
    .prepare(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name",
    )
    .all<{ type: string; name: string; sql: string | null }>();
  return results.map((r) => ({ ...r, sql: r.sql?.replace(/\s+/g, " ") }));
}

/**
 * An owner who claimed the instance, rotated both keys once and changed the escrow
 * twice: the rows 0001 knows about, exactly as the claim and escrow batches write them.
 */
async function seedVersion1State() {
  const first = await makeOwnerKeys();
  const second = await makeOwnerKeys();
  const t = 1_700_000_000_000;
  const key = (k: { publicJwk: { kid: string; use: string } }, status: string, createdAt: number, retiredAt: number | null) =>
    db
      .prepare("INSERT INTO owner_keys (kid, use, jwk, status, created_at_ms, retired_at_ms) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(k.publicJwk.kid, k.publicJwk.use, JSON.stringify(k.publicJwk), status, createdAt, retiredAt);
  const escrow = (version: number, blob: string, keys: typeof first, createdAt: number) =>
    db
      .prepare("INSERT INTO escrow_versions (version, blob, sig_kid, enc_kid, created_at_ms) VALUES (?, ?, ?, ?, ?)")
      .bind(version, blob, keys.sig.publicJwk.kid, keys.enc.publicJwk.kid, createdAt);
  await db.batch([
    db.prepare("INSERT INTO instance (id, claim_id, claimed_at_ms) VALUES (1, 'claim-0001', ?)").bind(t),
    key(first.sig, "retired", t, t + 2000),
    key(first.enc, "retired", t, t + 2000),
    key(second.sig, "current", t + 2000, null),
    key(second.enc, "current", t + 2000, null),
    escrow(1, "blob v1: é✓ and\nnewlines", first, t),
    escrow(2, "blob v2 (password changed)", first, t + 1000),
    escrow(3, "x".repeat(64 * 1024), second, t + 2000),
  ]);
  return { first, second };
}

describe("D1 migrations", () => {
  it("upgrade a claimed instance from 0001 to the latest schema without losing a row", async () => {
    expect(migrations.length).toBeGreaterThan(1);
    const initial = migrations[0];
    await applyD1Migrations(db, [initial!]);
    const { second } = await seedVersion1State();
    const v1Tables = ["instance", "owner_keys", "escrow_versions"];
    const before = await dumpTables(v1Tables);

    await applyD1Migrations(db, migrations);

    // Every migration is recorded once, as wrangler would see it on the next deploy.
    const applied = await db.prepare("SELECT name FROM d1_migrations ORDER BY id").all<{ name: string }>();
    expect(applied.results.map((r) => r.name)).toEqual(migrations.map((m) => m.name));
    // Not a row lost or changed, and the upgraded schema is the one a fresh install gets.
    expect(await dumpTables(v1Tables)).toEqual(before);
    expect(await schemaOf(db)).toEqual(await schemaOf(env.DB));

    // Today's code reads the old rows...
    expect(await isClaimed(db)).toBe(true);
    expect(await currentKeys(db)).toEqual({ sig: second.sig.publicJwk, enc: second.enc.publicJwk });
    expect((await listKeys(db)).filter((k) => k.status === "retired")).toHaveLength(2);
    expect(await latestEscrow(db)).toEqual({
      version: 3,
      blob: "x".repeat(64 * 1024),
      publicKeys: { sig: second.sig.publicJwk, enc: second.enc.publicJwk },
    });

    // ...and D1's messages table, since 0005, refuses what older code would store in it
    // (messages live in the Durable Object: src/durable/messagesMove.ts moves the old rows).
    await expect(
      db.prepare("INSERT INTO messages (received_at_ms, sender, jwe, verified) VALUES (1, NULL, 'a.b.c.d.e', 0)").run(),
    ).rejects.toThrow(/messages are stored in the Durable Object/);
  });

  it("applying the migrations again is a no-op", async () => {
    const before = await dumpTables(["instance", "owner_keys", "escrow_versions", "messages"]);
    await applyD1Migrations(db, migrations);
    expect(await dumpTables(["instance", "owner_keys", "escrow_versions", "messages"])).toEqual(before);
    const applied = await db.prepare("SELECT COUNT(*) AS n FROM d1_migrations").first<{ n: number }>();
    expect(applied?.n).toBe(migrations.length);
  });
});
