/**
 * The Durable Object schema step that adds recovery (src/durable/schema.ts): storage
 * left by the version before it upgrades in place, keeps its sessions and log, gains
 * empty recovery tables, and ends up with exactly a fresh install's schema. The
 * step is found by its DDL, not its number, so the test holds wherever it lands.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { InstanceDO } from "../../src/durable/instance";
import { INSTANCE_SCHEMA_STEPS, INSTANCE_SCHEMA_VERSION, migrateInstanceStorage } from "../../src/durable/schema";
import { schemaOf, userTables } from "../helpers/instanceSchema";

type Run = <R>(fn: (instance: InstanceDO, state: DurableObjectState) => R | Promise<R>) => Promise<R>;

function object(name: string): Run {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName(name));
  return (fn) => runInDurableObject(stub, fn as never);
}

const RECOVERY_STEP = INSTANCE_SCHEMA_STEPS.findIndex((ddl) => ddl.includes("CREATE TABLE recovery_verifier"));

describe("the recovery schema step", () => {
  it("exists, once", () => {
    expect(RECOVERY_STEP).toBeGreaterThanOrEqual(4);
    expect(INSTANCE_SCHEMA_STEPS.filter((ddl) => ddl.includes("recovery_verifier"))).toHaveLength(1);
  });

  it("upgrades storage of the version before it, keeping sessions and the log, with recovery off", async () => {
    const fresh = await object("recovery-fresh")((_i, state) => schemaOf(state.storage.sql));
    await object("recovery-upgrade")((instance, state) => {
      const { storage } = state;
      const sql = storage.sql;
      const nowMs = Date.now();
      storage.transactionSync(() => {
        for (const table of userTables(sql)) sql.exec(`DROP TABLE ${table}`);
        for (const ddl of INSTANCE_SCHEMA_STEPS.slice(0, RECOVERY_STEP)) sql.exec(ddl);
        sql.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        sql.exec("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", String(RECOVERY_STEP));
        sql.exec(
          `INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash)
           VALUES ('s1', 'laptop', ?, ?, ?, '["pop"]', 'hash-s1')`,
          nowMs - 60_000,
          nowMs - 1_000,
          Math.floor(nowMs / 1000) - 60,
        );
        sql.exec("INSERT INTO activity (type, at_ms, session_id, detail) VALUES ('login', ?, 's1', NULL)", nowMs - 60_000);
      });
      expect(userTables(sql)).not.toContain("recovery_verifier");
      const sessions = sql.exec("SELECT * FROM sessions").toArray();
      const activity = sql.exec("SELECT * FROM activity").toArray();

      migrateInstanceStorage(storage);

      expect(Number(sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value)).toBe(
        INSTANCE_SCHEMA_VERSION,
      );
      expect(sql.exec("SELECT * FROM sessions").toArray()).toEqual(sessions);
      expect(sql.exec("SELECT * FROM activity").toArray()).toEqual(activity);
      for (const table of ["recovery_verifier", "recovery_request", "recovery_tickets"]) {
        expect(sql.exec(`SELECT * FROM ${table}`).toArray()).toEqual([]);
      }
      expect(schemaOf(sql)).toEqual(fresh);
      // The object reads the upgraded storage: recovery is not configured.
      expect(instance.recoveryStatus(604_800_000)).toEqual({ verifier: null, request: null });
    });
  });
});
