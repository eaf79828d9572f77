import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import schemaSql from "../../schema.sql?raw";

// schema.sql is the readable sum of migrations/*.sql. Apply it to an empty
// database and compare with what the migrations built.
describe("schema.sql", () => {
  it("describes exactly the schema the migrations build", async () => {
    const dump = async (db: D1Database) =>
      (
        await db
          .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'd1_%' AND name NOT LIKE '_cf_%' ORDER BY name")
          .all<{ type: string; name: string; sql: string }>()
      ).results.map((r) => ({ ...r, sql: r.sql?.replace(/\s+/g, " ") }));
    // Statements end with ";", but a trigger's body holds its own, up to its END.
    const statements = (schemaSql.replace(/--.*$/gm, "").match(/\s*(?:CREATE TRIGGER[\s\S]*?\bEND\s*;|[^;]+;)/g) ?? [])
      .map((s) => s.trim())
      .filter((s) => s !== ";");
    for (const s of statements) await env.SCHEMA_CHECK_DB.prepare(s).run();
    expect(await dump(env.SCHEMA_CHECK_DB)).toEqual(await dump(env.DB));
  });
});
