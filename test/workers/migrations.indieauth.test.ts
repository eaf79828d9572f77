/**
 * The schema step that adds IndieAuth (docs/api.md §14): storage as the version
 * before it left it, with a session, passkey and recovery state, upgrades in place.
 * The IndieAuth tables appear empty, every row survives, the upgraded schema equals
 * a fresh install's, and the new tables work next to the old rows. The step is found
 * by its DDL, not its number.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { InstanceDO } from "../../src/durable/instance";
import { INSTANCE_SCHEMA_STEPS, migrateInstanceStorage } from "../../src/durable/schema";
import { schemaOf, userTables } from "../helpers/instanceSchema";
import { RFC7636_PKCE } from "../helpers/constants";

/** The schema version the IndieAuth step brings storage to (steps count from 1). */
const INDIEAUTH_STEP = INSTANCE_SCHEMA_STEPS.findIndex((ddl) => ddl.includes("CREATE TABLE indieauth_grants (")) + 1;
const PASSKEYS_STEP = INSTANCE_SCHEMA_STEPS.findIndex((ddl) => ddl.includes("CREATE TABLE passkeys (")) + 1;
const INDIEAUTH_TABLES = [
  "indieauth_access_tokens",
  "indieauth_codes",
  "indieauth_grants",
  "indieauth_profile",
  "indieauth_refresh_tokens",
  "indieauth_requests",
];

function run<R>(name: string, fn: (instance: InstanceDO, state: DurableObjectState) => R | Promise<R>): Promise<R> {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName(name));
  return runInDurableObject(stub, fn as never) as Promise<R>;
}

describe("the IndieAuth schema step", () => {
  it("exists once, after the passkeys' (storage at the passkeys version must still get it)", () => {
    expect(INSTANCE_SCHEMA_STEPS.filter((ddl) => ddl.includes("CREATE TABLE indieauth_grants ("))).toHaveLength(1);
    expect(PASSKEYS_STEP).toBeGreaterThan(0);
    expect(INDIEAUTH_STEP).toBeGreaterThan(PASSKEYS_STEP);
  });

  it("upgrades storage of the version before it, keeps every row, and ends with a fresh install's schema", async () => {
    const fresh = await run("migration-indieauth-fresh", (_instance, state) => schemaOf(state.storage.sql));
    const nowMs = Date.now();
    await run("migration-indieauth", (_instance, state) => {
      const { storage } = state;
      const sql = storage.sql;
      storage.transactionSync(() => {
        for (const table of userTables(sql)) sql.exec(`DROP TABLE ${table}`);
        for (const step of INSTANCE_SCHEMA_STEPS.slice(0, INDIEAUTH_STEP - 1)) sql.exec(step);
        sql.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        sql.exec("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", String(INDIEAUTH_STEP - 1));
        sql.exec(
          `INSERT INTO sessions (id, device_name, created_at_ms, last_used_at_ms, auth_time_s, amr, current_hash)
           VALUES ('s1', 'laptop', ?, ?, ?, '["pop","hwk"]', 'h1')`,
          nowMs,
          nowMs,
          Math.floor(nowMs / 1000),
        );
        sql.exec("INSERT INTO refresh_tokens (hash, session_id, issued_at_ms) VALUES ('h1', 's1', ?)", nowMs);
        sql.exec("INSERT INTO activity (type, at_ms, session_id) VALUES ('login', ?, 's1')", nowMs);
        sql.exec(
          `INSERT INTO passkeys (credential_id, public_key_spki, algorithm, sign_count, backup_eligible, backed_up, name, prf, created_at_ms)
           VALUES ('cred', 'spki', -8, 0, 0, 0, 'Key', 0, ?)`,
          nowMs,
        );
        sql.exec("INSERT INTO recovery_verifier (id, jwk, kid, configured_at_ms) VALUES (1, '{}', 'kid', ?)", nowMs);
      });
      for (const table of INDIEAUTH_TABLES) expect(userTables(sql)).not.toContain(table);

      migrateInstanceStorage(storage);

      expect(userTables(sql)).toEqual(expect.arrayContaining(INDIEAUTH_TABLES));
      expect(sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(String(INSTANCE_SCHEMA_STEPS.length));
      for (const table of INDIEAUTH_TABLES) expect(sql.exec(`SELECT COUNT(*) AS n FROM ${table}`).one().n, table).toBe(0);
      expect(sql.exec("SELECT id, amr FROM sessions").toArray()).toEqual([{ id: "s1", amr: '["pop","hwk"]' }]);
      expect(sql.exec("SELECT session_id FROM refresh_tokens").toArray()).toEqual([{ session_id: "s1" }]);
      expect(sql.exec("SELECT type FROM activity").toArray()).toEqual([{ type: "login" }]);
      expect(sql.exec("SELECT credential_id FROM passkeys").toArray()).toEqual([{ credential_id: "cred" }]);
      expect(sql.exec("SELECT kid FROM recovery_verifier").toArray()).toEqual([{ kid: "kid" }]);
      expect(schemaOf(sql)).toEqual(fresh);
    });

    // The same object, running the new code: the new tables work next to the old rows.
    const id = await run("migration-indieauth", (instance) =>
      instance.openIndieAuthRequest({
        clientId: "https://app.example.com/",
        clientName: null,
        redirectUri: "https://app.example.com/cb",
        state: "s",
        codeChallenge: RFC7636_PKCE.challenge,
        scopes: ["profile"],
      }),
    );
    const answered = await run("migration-indieauth", (instance) => instance.answerIndieAuthRequest(id, { approve: true }, "s1"));
    expect(answered).toMatchObject({ ok: true, scopes: ["profile"], code: expect.any(String) });
    await run("migration-indieauth", (instance) => instance.setIndieAuthProfile({ name: "Ada" }));
    expect(await run("migration-indieauth", (instance) => instance.indieAuthProfile())).toEqual({ name: "Ada" });
    const activity = await run("migration-indieauth", (instance) => instance["activity"].list(undefined, 10));
    expect(activity.map((e) => e.type)).toEqual(["app_authorized", "login"]);
  });
});
