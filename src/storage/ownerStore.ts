/**
 * D1: the claimed instance, the owner's public keys (current and retired) and the
 * escrow history. Every multi-row write is one D1 batch (a transaction), guarded so
 * that it applies completely or not at all.
 */
import type { JWK } from "jose";
import { opensWithKeys } from "../domain/escrowBlob";
import { randomToken } from "../lib/bytes";
import type { PublicJwk, PublicKeys } from "../schemas/api";

export interface EscrowRecord {
  version: number;
  blob: string;
  publicKeys: PublicKeys;
}

export interface StoredKey {
  kid: string;
  use: "sig" | "enc";
  jwk: PublicJwk;
  status: "current" | "retired";
}

/** Whether the instance is claimed; with `claimId`, whether that very claim (a setup's or a restore's) is the one that landed. */
export async function isClaimed(db: D1Database, claimId?: string): Promise<boolean> {
  const query = db.prepare(`SELECT 1 AS one FROM instance WHERE id = 1${claimId ? " AND claim_id = ?" : ""}`);
  return (await (claimId ? query.bind(claimId) : query).first()) !== null;
}

/**
 * Claims the instance with its first keys and escrow version 1. Returns false if it
 * was already claimed: the instance row is the single-use token here, and the other
 * rows are written only if this batch's own claim_id landed.
 */
export async function claimInstance(
  db: D1Database,
  input: { publicKeys: PublicKeys; blob: string; nowMs: number },
): Promise<boolean> {
  const claimId = randomToken(16);
  const ours = "EXISTS (SELECT 1 FROM instance WHERE id = 1 AND claim_id = ?)";
  const { sig, enc } = input.publicKeys;
  const insertKey = (key: PublicJwk, use: "sig" | "enc") =>
    db
      .prepare(
        `INSERT INTO owner_keys (kid, use, jwk, status, created_at_ms) SELECT ?, ?, ?, 'current', ? WHERE ${ours}`,
      )
      .bind(key.kid, use, JSON.stringify(key), input.nowMs, claimId);
  const results = await db.batch([
    db
      .prepare("INSERT INTO instance (id, claim_id, claimed_at_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")
      .bind(claimId, input.nowMs),
    insertKey(sig, "sig"),
    insertKey(enc, "enc"),
    db
      .prepare(
        `INSERT INTO escrow_versions (version, blob, sig_kid, enc_kid, created_at_ms) SELECT 1, ?, ?, ?, ? WHERE ${ours}`,
      )
      .bind(input.blob, sig.kid, enc.kid, input.nowMs, claimId),
  ]);
  return results[0]!.meta.changes === 1;
}

export async function listKeys(db: D1Database): Promise<StoredKey[]> {
  const { results } = await db
    .prepare("SELECT kid, use, jwk, status FROM owner_keys ORDER BY status ASC, created_at_ms DESC")
    .all<{ kid: string; use: "sig" | "enc"; jwk: string; status: "current" | "retired" }>();
  return results.map((r) => ({ kid: r.kid, use: r.use, status: r.status, jwk: JSON.parse(r.jwk) as PublicJwk }));
}

export async function currentKeys(db: D1Database): Promise<PublicKeys | null> {
  const keys = (await listKeys(db)).filter((k) => k.status === "current");
  const sig = keys.find((k) => k.use === "sig");
  const enc = keys.find((k) => k.use === "enc");
  return sig && enc ? ({ sig: sig.jwk, enc: enc.jwk } as PublicKeys) : null;
}

/**
 * Whether the newest escrow opens with more than the password (domain/escrowBlob.ts):
 * what the object needs to know before 2FA may turn off.
 */
export async function escrowOpensWithKeys(db: D1Database): Promise<boolean> {
  return opensWithKeys((await latestEscrow(db))?.blob ?? "");
}

export async function latestEscrow(db: D1Database): Promise<EscrowRecord | null> {
  const row = await db
    .prepare(
      "SELECT e.version, e.blob, s.jwk AS sig, n.jwk AS enc FROM escrow_versions e " +
        "JOIN owner_keys s ON s.kid = e.sig_kid JOIN owner_keys n ON n.kid = e.enc_kid " +
        "ORDER BY e.version DESC LIMIT 1",
    )
    .first<{ version: number; blob: string; sig: string; enc: string }>();
  if (!row) return null;
  return {
    version: row.version,
    blob: row.blob,
    publicKeys: { sig: JSON.parse(row.sig), enc: JSON.parse(row.enc) } as PublicKeys,
  };
}

/** True if a kid was ever stored (current or retired): retired keys never come back. */
export async function isKnownKid(db: D1Database, kid: string): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS one FROM owner_keys WHERE kid = ?").bind(kid).first()) !== null;
}

export type EscrowUpdate =
  | { ok: true; version: number; rotated: Array<"sig" | "enc"> }
  | { ok: false; reason: "version_conflict" };

/**
 * Optimistic write: every statement is guarded by "`expectedVersion` is still the
 * latest", and D1 runs the batch as one transaction, so a stale write changes
 * nothing at all. Retired keys are retired before the new ones go in (one current
 * key per use), and the escrow row goes last because it references them.
 */
export async function updateEscrow(
  db: D1Database,
  input: { expectedVersion: number; blob: string; current: PublicKeys; next: PublicKeys; nowMs: number },
): Promise<EscrowUpdate> {
  const version = input.expectedVersion + 1;
  const latest = "(SELECT MAX(version) FROM escrow_versions) = ?";
  const rotated = (["sig", "enc"] as const).filter((use) => input.next[use].kid !== input.current[use].kid);
  const statements: D1PreparedStatement[] = [];
  for (const use of rotated) {
    const jwk: JWK = input.next[use];
    statements.push(
      db
        .prepare(`UPDATE owner_keys SET status = 'retired', retired_at_ms = ? WHERE use = ? AND status = 'current' AND ${latest}`)
        .bind(input.nowMs, use, input.expectedVersion),
      db
        .prepare(`INSERT INTO owner_keys (kid, use, jwk, status, created_at_ms) SELECT ?, ?, ?, 'current', ? WHERE ${latest}`)
        .bind(jwk.kid, use, JSON.stringify(jwk), input.nowMs, input.expectedVersion),
    );
  }
  statements.push(
    db
      .prepare(
        `INSERT INTO escrow_versions (version, blob, sig_kid, enc_kid, created_at_ms) SELECT ?, ?, ?, ?, ? WHERE ${latest}`,
      )
      .bind(version, input.blob, input.next.sig.kid, input.next.enc.kid, input.nowMs, input.expectedVersion),
  );
  const results = await db.batch(statements);
  return results.at(-1)!.meta.changes === 1
    ? { ok: true, version, rotated }
    : { ok: false, reason: "version_conflict" };
}
