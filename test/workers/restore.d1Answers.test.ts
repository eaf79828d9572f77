/**
 * A restore writes the log and the messages into the Durable Object under a lease, then
 * claims the instance in one D1 batch (docs/export-restore.md, "How a restore is
 * written"). What D1 answers decides whether the object's part is undone, so these
 * check the answers that must not undo a restore that went through: a batch that fails
 * without an answer (it may still commit), a batch that committed but whose answer was
 * lost, and a restore that finds a lease left behind by one whose batch committed but
 * whose Worker died before it could finish.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { InstanceDO } from "../../src/durable/instance";
import { ApiError } from "../../src/errors";
import { parseArchive, restoreFromArchive } from "../../src/services/archiveRestore";
import { RESTORE_LEASE_MS } from "../../src/durable/restore";
import { buildArchive, challengeFrom, restoreAssertion, type BuiltArchive } from "../helpers/archive";
import { advanceClock } from "../helpers/clock";
import { OwnerClient } from "../helpers/owner";
import { selfFetch, objectRows, TEST_ORIGIN } from "../helpers/workers";

const stub = () => env.INSTANCE.get(env.INSTANCE.idFromName("instance")) as DurableObjectStub<InstanceDO>;

async function restoreDirectly(built: BuiltArchive, db: D1Database): Promise<void> {
  const nonce = await challengeFrom(selfFetch, TEST_ORIGIN);
  const assertion = await restoreAssertion(built.keys, { origin: TEST_ORIGIN, nonce, archiveSha256: built.archive.digest });
  const archive = await parseArchive(built.archive as unknown as Record<string, unknown>);
  await restoreFromArchive({ env: { ...env, DB: db } as typeof env, origin: TEST_ORIGIN }, assertion, archive);
}

const messageIds = async () => (await objectRows<{ id: number }>("SELECT id FROM messages ORDER BY id")).map((r) => r.id);

describe("a restore's D1 batch", () => {
  let built: BuiltArchive;

  it("failed without an answer and without claiming: nothing is undone (it might still commit), and the lease is left to expire", async () => {
    const first = await buildArchive({ messages: 2 });
    const noAnswer = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") return () => Promise.reject(new Error("D1 did not answer"));
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await expect(restoreDirectly(first, noAnswer)).rejects.toThrow(/did not answer/);
    expect(await messageIds()).toEqual(first.archive.messages.map((m) => m.id));
    const lease = await runInDurableObject(stub(), (_i, state) => state.storage.kv.get("restore:lease"));
    expect(lease).toBeDefined();
    // Once the lease has expired, the next restore (D1 says: not claimed) takes it over
    // and removes what the failed one wrote: the test below starts from there.
    advanceClock(RESTORE_LEASE_MS + 1);
  });

  it("committed but its answer was lost: the restore stands, with its messages and log", async () => {
    built = await buildArchive({ messages: 3 });
    const answerLost = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            await target.batch(statements);
            throw new Error("the connection to D1 dropped before its answer");
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await restoreDirectly(built, answerLost);
    expect(await messageIds()).toEqual(built.archive.messages.map((m) => m.id));
    const activity = await runInDurableObject(stub(), (instance) => instance.exportActivity(0, 1000));
    expect(activity.at(-1)).toMatchObject({ type: "claimed" });
    // The restored owner logs in with the archive's keys.
    expect((await new OwnerClient(selfFetch, TEST_ORIGIN, built.keys).login()).status).toBe(200);
  });

  it("a restore that finds the expired lease of one whose batch committed is refused, and undoes nothing", async () => {
    // As if the restore above had died between D1's commit and finishing: its lease
    // is still there, expired, and the object never recorded the claim.
    await runInDurableObject(stub(), (_i, state) => {
      state.storage.kv.delete("instance:claimed");
      state.storage.kv.put("restore:lease", {
        restoreId: "died",
        expiresAtMs: Date.now() - 1,
        importedThroughId: built.archive.activity.at(-1)!.id,
        messagesThroughId: built.archive.lastMessageId,
        lastPushedBefore: null,
        lastPushedSet: built.archive.lastMessageId,
      });
    });
    const before = await messageIds();
    const late = await buildArchive({ messages: 2 });
    const refused = await restoreDirectly(late, env.DB).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: "already_claimed" });
    expect(await messageIds()).toEqual(before);
    expect(before.length).toBe(3);
  });
});
