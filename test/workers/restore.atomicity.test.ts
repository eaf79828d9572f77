/**
 * The all-or-nothing machinery of a restore (docs/export-restore.md, "How a restore is
 * written"): the D1 batch writes nothing once the instance is claimed, the Durable
 * Object's lease lets one restore at a time write the log and the messages and takes
 * them back on abort or expiry, and a restore racing a plain setup leaves exactly one owner, unmixed.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ActivityLog } from "../../src/durable/activityLog";
import { RESTORE_LEASE_MS, RestoreStore, type RestoredActivity } from "../../src/durable/restore";
import { KeysEpochStore } from "../../src/durable/keysEpoch";
import { MessageStore } from "../../src/durable/messages";
import { restoreArchive } from "../../src/storage/archiveStore";
import { buildArchive, postRestore } from "../helpers/archive";
import { json, OwnerClient } from "../helpers/owner";
import { selfFetch, objectRows, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

type Row = { id: number; type: string };

function inObject<R>(name: string, fn: (state: DurableObjectState) => R): Promise<R> {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName(name));
  return runInDurableObject(stub, ((_i: unknown, state: DurableObjectState) => fn(state)) as never);
}

function restoreStore(state: DurableObjectState): RestoreStore {
  const sql = state.storage.sql;
  return new RestoreStore(state.storage, new ActivityLog(sql), new KeysEpochStore(state.storage.kv), new MessageStore(sql));
}

function messageIds(state: DurableObjectState): number[] {
  return state.storage.sql.exec<{ id: number }>("SELECT id FROM messages ORDER BY id").toArray().map((r) => r.id);
}

const archivedMessages = [3, 9].map((id) => ({ id, receivedAt: id, from: null, jwe: `jwe-${id}`, verified: false }));

function log(state: DurableObjectState): Row[] {
  return state.storage.sql.exec<Row>("SELECT id, type FROM activity ORDER BY id").toArray();
}

const archived: RestoredActivity[] = [
  { id: 1, type: "claimed", atMs: 1, sessionId: null, detail: null },
  { id: 2, type: "login", atMs: 2, sessionId: "s1", detail: '{"deviceName":"laptop"}' },
  { id: 4, type: "logout", atMs: 4, sessionId: "s1", detail: null },
];

describe("the restore lease in the Durable Object", () => {
  it("lets one restore write the log at a time, and abort takes everything back", async () => {
    await inObject("lease", (state) => {
      const store = restoreStore(state);
      const sql = state.storage.sql;
      // The fresh instance's own entries: failed attempts to claim it.
      sql.exec("INSERT INTO activity (type, at_ms) VALUES ('login_failed', 100), ('login_failed', 101)");
      const now = Date.now();

      expect(store.begin("r1", archived, 42, now)).toBe(true);
      // Archived ids kept; the instance's own entries moved after them, in order.
      expect(log(state)).toEqual([
        { id: 1, type: "claimed" },
        { id: 2, type: "login" },
        { id: 4, type: "logout" },
        { id: 5, type: "login_failed" },
        { id: 6, type: "login_failed" },
      ]);
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBe(42);
      expect(store.begin("r2", archived, 42, now + 1000)).toBe(false);
      // The messages come in parts, under the lease only.
      expect(store.importMessages("r2", archivedMessages, now)).toBe(false);
      expect(store.importMessages("r1", archivedMessages, now + 100_000)).toBe(true);
      expect(messageIds(state)).toEqual([3, 9]);
      // Each part renews the lease: the last is sent right before the D1 batch.
      expect(state.storage.kv.get<{ expiresAtMs: number }>("restore:lease")?.expiresAtMs).toBe(now + 100_000 + RESTORE_LEASE_MS);
      expect(store.begin("r2", archived, 42, now + RESTORE_LEASE_MS + 1)).toBe(false);
      // Ids after the archive's lastMessageId: a new message takes 43.
      expect(new MessageStore(state.storage.sql).lastId()).toBe(42);

      store.abort("r1");
      expect(messageIds(state)).toEqual([]);
      expect(log(state).map((r) => r.type)).toEqual(["login_failed", "login_failed"]);
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBeUndefined();
      expect(state.storage.kv.get("restore:lease")).toBeUndefined();

      // A lease whose Worker died is taken over once it expires, leftovers removed first.
      expect(store.begin("r2", archived, 42, now)).toBe(true);
      expect(store.begin("r3", archived.slice(0, 2), 7, now + RESTORE_LEASE_MS - 1)).toBe(false);
      expect(store.begin("r3", archived.slice(0, 2), 7, now + RESTORE_LEASE_MS + 1)).toBe(true);
      expect(log(state).map((r) => r.type)).toEqual(["claimed", "login", "login_failed", "login_failed"]);
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBe(7);

      store.finish("r3", null, 200);
      expect(state.storage.kv.get("restore:lease")).toBeUndefined();
      // Abort after finish is a no-op: the restore is complete.
      store.abort("r3");
      expect(log(state).map((r) => r.type)).toEqual(["claimed", "login", "login_failed", "login_failed", "claimed"]);
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBe(7);

      // A restore that lost the race and arrives after the winner finished touches
      // nothing: the winner's log keeps its ids.
      const before = log(state);
      expect(store.begin("late", archived, 99, now + 2 * RESTORE_LEASE_MS)).toBe(false);
      store.abort("late");
      expect(log(state)).toEqual(before);
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBe(7);
    });
  });

  it("does not put the push cursor back if the live channel moved it meanwhile", async () => {
    await inObject("cursor", (state) => {
      const store = restoreStore(state);
      expect(store.begin("r1", archived, 42, Date.now())).toBe(true);
      state.storage.kv.put("live:lastPushedMessageId", 3);
      store.abort("r1");
      expect(state.storage.kv.get("live:lastPushedMessageId")).toBe(3);
    });
  });
});

describe("a restore and a setup at once", () => {
  it("leave exactly one owner, and nothing of the other", async () => {
    const built = await buildArchive({ messages: 3 });
    const stranger = await OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "192.0.2.1" });
    const [restored, setup] = await Promise.all([
      postRestore(selfFetch, TEST_ORIGIN, {
        keys: built.keys,
        setupCode: TEST_SETUP_CODE,
        archive: built.archive,
        headers: { "cf-connecting-ip": "192.0.2.2" },
      }),
      stranger.claim(TEST_SETUP_CODE),
    ]);
    expect([restored.status, setup.status].sort()).toEqual([201, 409]);
    const keys = await env.DB.prepare("SELECT kid FROM owner_keys ORDER BY kid").all<{ kid: string }>();
    const [messages] = await objectRows<{ n: number }>("SELECT COUNT(*) AS n FROM messages");
    const escrow = await env.DB.prepare("SELECT COUNT(*) AS n FROM escrow_versions").first<{ n: number }>();
    if (restored.status === 201) {
      expect(keys.results.map((r) => r.kid)).toEqual(built.archive.publicKeys.map((k) => k.jwk.kid).sort());
      expect({ messages: messages?.n, escrow: escrow?.n }).toEqual({ messages: 3, escrow: 3 });
    } else {
      expect(await json(restored)).toMatchObject({ error: "already_claimed" });
      expect(keys.results.map((r) => r.kid)).toEqual([stranger.keys.sig.publicJwk.kid, stranger.keys.enc.publicJwk.kid].sort());
      expect({ messages: messages?.n, escrow: escrow?.n }).toEqual({ messages: 0, escrow: 1 });
    }
  });

  it("a restore batch on a claimed database writes nothing", async () => {
    const built = await buildArchive({ messages: 2 });
    const state = async () => ({
      keys: (await env.DB.prepare("SELECT * FROM owner_keys ORDER BY kid").all()).results,
      escrow: (await env.DB.prepare("SELECT * FROM escrow_versions ORDER BY version").all()).results,
      instance: await env.DB.prepare("SELECT * FROM instance").first(),
    });
    const before = await state();
    expect(before.instance).not.toBeNull();
    expect(await restoreArchive(env.DB, built.archive, { claimId: "late", nowMs: Date.now() })).toBe(false);
    expect(await state()).toEqual(before);
  });
});
