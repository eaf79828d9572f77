/**
 * Messages moved from D1 into the Durable Object (schema v9, src/durable/messagesMove.ts):
 * an instance upgraded with messages in D1 shows every one of them, ids and all, once;
 * new messages take ids after every id D1 ever handed out; D1 keeps no copy; a move cut
 * short continues where it stopped and copies nothing twice; and no start serves the
 * mailbox while D1 cannot be read.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { MessageStore } from "../../src/durable/messages";
import { moveMessagesFromD1 } from "../../src/durable/messagesMove";
import { MOVE_PAGE_ROWS } from "../../src/storage/movedMessages";
import { postMessage, publishedEncryptionKey, sealMessage, type StoredMessage } from "../helpers/messages";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, selfFetch, objectRows, TEST_ORIGIN } from "../helpers/workers";

type Row = { id: number; received_at_ms: number; sender: string | null; jwe: string; verified: number };

/** Writes rows into D1's messages table as code before migration 0005 did (the trigger set aside meanwhile). */
async function seedD1(rows: Row[], deletedNewest: number | null = null): Promise<void> {
  await env.DB.prepare("DROP TRIGGER IF EXISTS messages_moved").run();
  for (const r of rows) {
    await env.DB.prepare("INSERT INTO messages (id, received_at_ms, sender, jwe, verified) VALUES (?, ?, ?, ?, ?)")
      .bind(r.id, r.received_at_ms, r.sender, r.jwe, r.verified)
      .run();
  }
  if (deletedNewest !== null) {
    // A newest message the owner deleted: its id must never be handed out again.
    await env.DB.prepare("INSERT INTO messages (id, received_at_ms, jwe, verified) VALUES (?, 1, 'gone', 0)").bind(deletedNewest).run();
    await env.DB.prepare("DELETE FROM messages WHERE id = ?").bind(deletedNewest).run();
  }
  await env.DB.prepare(
    "CREATE TRIGGER messages_moved BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'messages are stored in the Durable Object (migration 0005)'); END",
  ).run();
}

const d1Count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM messages").first<{ n: number }>())!.n;

function row(id: number, verified = id % 2): Row {
  return { id, received_at_ms: 1_700_000_000_000 + id, sender: verified ? `acct:peer${id}@example.net` : null, jwe: `jwe.${id}`, verified };
}

function inObject<R>(name: string, fn: (state: DurableObjectState) => R | Promise<R>): Promise<R> {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName(name));
  return runInDurableObject(stub, ((_i: unknown, state: DurableObjectState) => fn(state)) as never);
}

describe("an instance upgraded with its messages in D1", () => {
  const old = [1, 2, 5, 7, 8].map((id) => row(id));
  let owner: OwnerClient;

  beforeAll(async () => {
    // Before the instance's object first starts: its start moves them.
    await seedD1(old, 12);
    owner = await claimedOwner();
  });

  it("shows every old message once, with its id, kind and sender", async () => {
    const res = await owner.api("GET", "/api/messages?limit=100");
    expect(res.status).toBe(200);
    const body = await json<{ messages: StoredMessage[] }>(res);
    expect(body.messages).toEqual(
      old.map((r) => ({ id: r.id, receivedAt: r.received_at_ms, from: r.sender, jwe: r.jwe, verified: r.verified === 1 })),
    );
  });

  it("leaves nothing in D1", async () => {
    expect(await d1Count()).toBe(0);
  });

  it("gives a new message an id after every id D1 handed out, the deleted newest included", async () => {
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "after the move") });
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ id: 13 });
  });

  it("does not move again: a message the owner deletes stays deleted", async () => {
    expect((await owner.api("DELETE", "/api/messages/5")).status).toBe(204);
    const ids = (await objectRows<{ id: number }>("SELECT id FROM messages ORDER BY id")).map((r) => r.id);
    expect(ids).toEqual([1, 2, 7, 8, 13]);
  });
});

describe("the move itself", () => {
  it("continues a move cut short where it stopped, copying nothing twice", async () => {
    const rows = Array.from({ length: MOVE_PAGE_ROWS + 20 }, (_, i) => row(i + 100));
    await inObject("cut-short", async (state) => {
      const store = new MessageStore(state.storage.sql);
      // The object's own start found D1 empty: the rows arrive now, and the move runs
      // by hand as a fresh start would.
      state.storage.kv.delete("messages:movedFromD1");
      await seedD1(rows);
      // A D1 whose second read fails: the first page is committed with its progress.
      let reads = 0;
      const failing = new Proxy(env.DB, {
        get(target, prop) {
          if (prop !== "prepare") return Reflect.get(target, prop, target) as unknown;
          return (query: string) => {
            if (query.startsWith("SELECT id,") && ++reads === 2) throw new Error("D1 is unavailable");
            return target.prepare(query);
          };
        },
      });
      await expect(moveMessagesFromD1(state.storage, failing, store)).rejects.toThrow(/unavailable/);
      expect(store.page({ after: 0 }, 10_000).messages).toHaveLength(MOVE_PAGE_ROWS);
      expect(state.storage.kv.get("messages:movedFromD1")).toEqual({ copiedThroughId: MOVE_PAGE_ROWS + 99 });
      expect(await d1Count()).toBe(rows.length);

      await moveMessagesFromD1(state.storage, env.DB, store);
      expect(store.page({ after: 0 }, 10_000).messages.map((m) => m.id)).toEqual(rows.map((r) => r.id));
      expect(state.storage.kv.get("messages:movedFromD1")).toBe("done");
      expect(await d1Count()).toBe(0);
    });
  });

  it("refuses to move while D1's table still takes inserts (migration 0005 not applied): older code could add rows after the read", async () => {
    await inObject("unguarded", async (state) => {
      state.storage.kv.delete("messages:movedFromD1");
      await env.DB.prepare("DROP TRIGGER messages_moved").run();
      try {
        await expect(moveMessagesFromD1(state.storage, env.DB, new MessageStore(state.storage.sql))).rejects.toThrow(/migration 0005/);
        expect(state.storage.kv.get("messages:movedFromD1")).toBeUndefined();
      } finally {
        await seedD1([]);
      }
    });
  });

  it("a start that cannot read D1 fails rather than serve a mailbox without its old messages", async () => {
    await inObject("unreadable", async (state) => {
      state.storage.kv.delete("messages:movedFromD1");
      const down = { prepare: () => { throw new Error("D1 is unavailable"); } } as unknown as D1Database;
      await expect(moveMessagesFromD1(state.storage, down, new MessageStore(state.storage.sql))).rejects.toThrow(/unavailable/);
      expect(state.storage.kv.get("messages:movedFromD1")).toBeUndefined();
    });
  });
});
