/**
 * The schema step that adds passkeys (docs/api.md §12): storage as the version
 * before it left it, with two-factor state (TOTP, backup codes, an outstanding mfa
 * ticket) and a session, upgrades in place. The passkey tables appear empty, every row survives, and the
 * ticket issued before the upgrade still counts as a code ("otp") when it is used.
 * The step is found by its DDL, not its number.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { InstanceDO } from "../../src/durable/instance";
import { INSTANCE_SCHEMA_STEPS, migrateInstanceStorage } from "../../src/durable/schema";
import { loadDataKeys, mfaHash } from "../../src/lib/dataKeys";

/** The schema version the passkeys' step brings storage to (steps count from 1). */
const PASSKEYS_STEP = INSTANCE_SCHEMA_STEPS.findIndex((ddl) => ddl.includes("CREATE TABLE passkeys (")) + 1;
const RECOVERY_STEP = INSTANCE_SCHEMA_STEPS.findIndex((ddl) => ddl.includes("CREATE TABLE recovery_verifier")) + 1;

function run<R>(name: string, fn: (instance: InstanceDO, state: DurableObjectState) => R | Promise<R>): Promise<R> {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName(name));
  return runInDurableObject(stub, fn as never) as Promise<R>;
}

function tables(sql: SqlStorage): string[] {
  return sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
    .toArray()
    .map((r) => r.name);
}

describe("the passkeys schema step", () => {
  it("exists once, after recovery's (storage already at the recovery version must still get it)", () => {
    expect(INSTANCE_SCHEMA_STEPS.filter((ddl) => ddl.includes("CREATE TABLE passkeys ("))).toHaveLength(1);
    expect(RECOVERY_STEP).toBeGreaterThan(0);
    expect(PASSKEYS_STEP).toBeGreaterThan(RECOVERY_STEP);
  });

  it("upgrades storage of the version before it, keeps two-factor state and sessions, and an old ticket stays good as otp", async () => {
    const ticket = "old-ticket-from-before-passkeys";
    const hash = await mfaHash(await loadDataKeys(env.DATA_KEY), "mfa-ticket", ticket);
    const nowMs = Date.now();
    await run("migration-passkeys", (_instance, state) => {
      const { storage } = state;
      const sql = storage.sql;
      storage.transactionSync(() => {
        for (const table of tables(sql)) sql.exec(`DROP TABLE ${table}`);
        for (const step of INSTANCE_SCHEMA_STEPS.slice(0, PASSKEYS_STEP - 1)) sql.exec(step);
        sql.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        sql.exec("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", String(PASSKEYS_STEP - 1));
        sql.exec("INSERT INTO backup_codes (hash, created_at_ms) VALUES ('code-hash', ?)", nowMs);
        sql.exec("INSERT INTO mfa_tickets (hash, expires_at_ms) VALUES (?, ?)", hash, nowMs + 300_000);
        sql.exec(
          `INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash)
           VALUES ('s1', 'laptop', ?, ?, ?, '["pop","otp"]', 'h1')`,
          nowMs,
          nowMs,
          Math.floor(nowMs / 1000),
        );
        // 2FA on by TOTP (a sealed secret is opaque here: only its presence is read).
        sql.exec("INSERT INTO totp (id, secret_sealed, enabled_at_ms, last_step) VALUES (1, 'sealed', ?, 0)", nowMs);
      });
      expect(tables(sql)).not.toContain("passkeys");

      migrateInstanceStorage(storage);

      expect(tables(sql)).toEqual(expect.arrayContaining(["passkeys", "passkey_owner", "passkey_challenges"]));
      expect(sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(String(INSTANCE_SCHEMA_STEPS.length));
      expect(sql.exec("SELECT COUNT(*) AS n FROM passkeys").one().n).toBe(0);
      expect(sql.exec("SELECT hash, amr FROM mfa_tickets").toArray()).toEqual([{ hash, amr: null }]);
      expect(sql.exec("SELECT id, amr FROM sessions").toArray()).toEqual([{ id: "s1", amr: '["pop","otp"]' }]);
      expect(sql.exec("SELECT COUNT(*) AS n FROM backup_codes").one().n).toBe(1);
    });

    // The same object, running the new code: 2FA is on, no passkeys, and the old
    // ticket is accepted once with the amr of a code.
    const status = await run("migration-passkeys", (instance) => instance["twoFactor"].status());
    expect(status).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 1 });
    const used = await run("migration-passkeys", (instance) =>
      instance.checkSecondFactor({ mfaTicket: ticket }, { counter: "session", sessionId: null }),
    );
    expect(used).toMatchObject({ ok: true, method: "mfa_ticket", amr: "otp" });
  });
});
