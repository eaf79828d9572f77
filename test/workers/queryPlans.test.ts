/**
 * The hot paths' SQL reads through indexes (docs/benchmarks.md, "Where a request's
 * CPU goes"). Every statement the Durable Object runs while serving a challenge, a
 * login, a refresh, an authenticated request and a public message is recorded, then
 * SQLite is asked for its plan: none may scan a table whose size grows with use
 * (sessions, tokens, the activity log, rate limits, challenges...). A full scan there
 * costs every request a read of every row; the sweep of expired sessions at each
 * login did until schema v8 (index sessions_created).
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { grantRotationPolicy } from "../../src/domain/indieauth/grants";
import type { InstanceDO } from "../../src/durable/instance";
import { ACTIVITY_SWEEP_EVERY } from "../../src/durable/activityLog";
import { SWEEP_INTERVAL_MS } from "../../src/durable/expirySweep";
import { advanceClock } from "../helpers/clock";
import { publishedEncryptionKey, postMessage, sealMessage } from "../helpers/messages";
import type { OwnerClient } from "../helpers/owner";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";
import { RFC7636_PKCE } from "../helpers/constants";

/** Tables that hold at most a handful of rows whatever happens, so a scan is a read of those few. */
const BOUNDED_TABLES = new Set(["totp", "backup_codes", "meta", "passkey_owner", "recovery_verifier", "indieauth_profile"]);
/**
 * Scans allowed, each with its reason: the activity log's bound walks the newest
 * ACTIVITY_RETENTION ids down from the top (LIMIT 1 OFFSET), a fixed number of rows
 * however large the table, and runs once every ACTIVITY_SWEEP_EVERY entries; the
 * sweep of dead IndieAuth grants reads every grant, but runs only when a code is
 * redeemed (an app the owner approved), and there is one grant per connected app
 * (plus the revoked ones, for a day).
 */
const BOUNDED_SCANS = new Map([
  ["DELETE FROM activity WHERE id <= (SELECT id FROM activity ORDER BY id DESC LIMIT 1 OFFSET ?)", "SCAN activity"],
  ["DELETE FROM indieauth_grants WHERE last_used_at_ms <= ? OR revoked_at_ms < ?", "SCAN indieauth_grants"],
]);

const stub = () => env.INSTANCE.get(env.INSTANCE.idFromName("instance")) as DurableObjectStub<InstanceDO>;

/** Records every statement the object runs from now on (SqlStorage is one class for the whole isolate). */
async function recordStatements(): Promise<Set<string>> {
  const seen = new Set<string>();
  await runInDurableObject(stub(), (_instance, state) => {
    const proto = Object.getPrototypeOf(state.storage.sql) as { exec: (query: string, ...bindings: unknown[]) => unknown };
    const exec = proto.exec;
    proto.exec = function (this: unknown, query: string, ...bindings: unknown[]) {
      seen.add(query);
      return exec.call(this, query, ...bindings);
    };
  });
  return seen;
}

/** `EXPLAIN [QUERY PLAN]` of `statement`, every parameter bound to null. */
function explain<Row>(sql: SqlStorage, how: "EXPLAIN" | "EXPLAIN QUERY PLAN", statement: string): Row[] {
  const parameters = (statement.match(/\?\d*/g) ?? []).map((p) => Number(p.slice(1)) || 0);
  // Numbered parameters (?1, ?2 …) may repeat: then the highest number is the count.
  const count = parameters.some((p) => p > 0) ? Math.max(...parameters) : parameters.length;
  // A fresh text each time: workerd caches prepared statements by their text,
  // and a cached EXPLAIN keeps the plan of the schema it was prepared under.
  return sql.exec<Row & Record<string, SqlStorageValue>>(`${how} /* ${crypto.randomUUID()} */ ${statement}`, ...Array<null>(count).fill(null)).toArray();
}

/** The plan's lines that scan a growing table without an index. */
async function fullScans(statements: Iterable<string>): Promise<Array<{ statement: string; scan: string }>> {
  const list = [...statements].filter((s) => /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(s));
  return runInDurableObject(stub(), (_instance, state) => {
    const found: Array<{ statement: string; scan: string }> = [];
    for (const statement of list) {
      const plan = explain<{ detail: string }>(state.storage.sql, "EXPLAIN QUERY PLAN", statement);
      for (const { detail } of plan) {
        const table = /^SCAN (\w+)$/.exec(detail)?.[1];
        const text = statement.replace(/\s+/g, " ").trim();
        if (table && !BOUNDED_TABLES.has(table) && BOUNDED_SCANS.get(text) !== detail) found.push({ statement: text, scan: detail });
      }
    }
    return found;
  });
}

/** An IndieAuth grant made and refreshed once, through the object's RPC methods (as indieauth.store.test.ts does). */
async function refreshOneGrant(): Promise<void> {
  const rateLimit = { key: "rl:indieauth:plans", limit: 1_000, windowMs: 60_000 };
  const policy = grantRotationPolicy({ refreshReuseGraceS: 10, refreshIdleTtlS: 86_400 });
  const client = { clientId: "https://app.example.com/", redirectUri: "https://app.example.com/cb" };
  const requestId = await stub().openIndieAuthRequest({
    ...client,
    clientName: null,
    state: "s",
    codeChallenge: RFC7636_PKCE.challenge,
    scopes: ["create"],
  });
  const answered = await stub().answerIndieAuthRequest(requestId, { approve: true }, "owner-session");
  const redeemed = await stub().redeemIndieAuthCode({
    rateLimit,
    request: { grantType: "authorization_code", code: answered.ok ? answered.code! : "", codeVerifier: RFC7636_PKCE.verifier, ...client },
    endpoint: "token",
    accessTtlS: 3600,
    policy,
  });
  if (!redeemed.ok || !redeemed.tokens) throw new Error(`redemption failed: ${JSON.stringify(redeemed)}`);
  const refreshed = await stub().refreshIndieAuthGrant({ rateLimit, refreshToken: redeemed.tokens.refreshToken, clientId: client.clientId, scope: null, accessTtlS: 3600, policy });
  expect(refreshed).toMatchObject({ ok: true });
}

describe("hot paths read through indexes", () => {
  let owner: OwnerClient;
  let device: OwnerClient;
  let statements: Set<string>;

  beforeAll(async () => {
    owner = await claimedOwner();
    device = owner.device();
    statements = await recordStatements();
    // The sweeps of expired challenges and sessions run at most once a minute
    // (src/durable/expirySweep.ts): a minute on, this login's challenge and session run both.
    advanceClock(SWEEP_INTERVAL_MS);
    await device.login();
    expect((await device.refresh()).status).toBe(200);
    expect((await device.api("GET", "/api/2fa")).status).toBe(200);
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    expect((await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "hello") })).status).toBe(202);
    // The activity log's bounds run once every ACTIVITY_SWEEP_EVERY entries: one round of them.
    await runInDurableObject(stub(), (instance) =>
      instance.recordActivities(Array.from({ length: ACTIVITY_SWEEP_EVERY }, () => ({ type: "login_failed" as const, sessionId: null, detail: null }))),
    );
    // Not a hot path, but one a client can repeat at will: an IndieAuth grant's refresh,
    // which counts the grant's refresh tokens and bounds its access tokens
    // (GRANT_MAX_REFRESH_TOKENS, GRANT_ACCESS_TOKENS_KEPT) through the grant_id indexes.
    await refreshOneGrant();
  });

  it("records the statements of a challenge, a login, a refresh, an API request and a message", () => {
    const all = [...statements].join("\n");
    expect(all).toMatch(/INSERT INTO challenges/);
    expect(all).toMatch(/INSERT INTO sessions/);
    expect(all).toMatch(/DELETE FROM sessions WHERE created_at_ms/);
    expect(all).toMatch(/rate_limits/);
    expect(all).toMatch(/INSERT INTO messages/);
    expect(all).toMatch(/DELETE FROM challenges WHERE expires_at_ms/);
    expect(all).toMatch(/DELETE FROM activity WHERE type = \?1/);
    expect(all).toMatch(/DELETE FROM activity WHERE id <= \(SELECT id FROM activity ORDER BY id DESC/);
    expect(all).toMatch(/SELECT count\(\*\) FROM indieauth_refresh_tokens WHERE grant_id = g\.id/);
    expect(all).toMatch(/DELETE FROM indieauth_access_tokens WHERE grant_id = \?1/);
  });

  it("none scans a table that grows", async () => {
    expect(await fullScans(statements)).toEqual([]);
  });

  it("a message's quota check reads each size from its index (schema v10's expression), never a row", async () => {
    // EXPLAIN QUERY PLAN says "USING INDEX" either way; the bytecode tells: every value
    // the check reads comes from the index's cursor, and the table's is opened but
    // never read (a deferred seek that never happens). If MESSAGE_SIZE
    // (src/durable/messages.ts) and the index's expression drifted apart, the check
    // would read every JWE of its kind on every insert.
    const insert = [...statements].find((s) => s.startsWith("INSERT INTO messages"))!;
    const reads = await runInDurableObject(stub(), (_instance, state) => {
      const sql = state.storage.sql;
      const rootOf = (name: string) => sql.exec<{ rootpage: number }>("SELECT rootpage FROM sqlite_master WHERE name = ?", name).one().rootpage;
      const ops = explain<{ opcode: string; p1: number; p2: number }>(sql, "EXPLAIN", insert);
      // The quota's subquery runs before anything is written.
      const check = ops.slice(0, ops.findIndex((op) => op.opcode === "OpenWrite" || op.opcode === "OpenEphemeral"));
      const cursorOf = (root: number) => check.find((op) => op.opcode === "OpenRead" && op.p2 === root)?.p1;
      return {
        index: cursorOf(rootOf("messages_quota")),
        read: check.filter((op) => op.opcode === "Column").map((op) => op.p1),
      };
    });
    expect(reads.index).toBeDefined();
    expect(reads.read.length).toBeGreaterThan(0);
    expect(reads.read.every((cursor) => cursor === reads.index)).toBe(true);
  });

  it("would catch a scan: the sessions sweep without its index is one", async () => {
    const sweep = [...statements].find((s) => s.includes("DELETE FROM sessions WHERE created_at_ms"))!;
    await runInDurableObject(stub(), (_instance, state) => state.storage.sql.exec("DROP INDEX sessions_created"));
    try {
      expect(await fullScans([sweep])).toEqual([{ statement: sweep.replace(/\s+/g, " ").trim(), scan: "SCAN sessions" }]);
    } finally {
      await runInDurableObject(stub(), (_instance, state) => state.storage.sql.exec("CREATE INDEX sessions_created ON sessions (created_at_ms)"));
    }
  });
});
