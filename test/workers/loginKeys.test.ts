/**
 * A login checks the assertion (and a private message its kid) against the owner's keys kept in the Worker's isolate
 * (src/services/ownerKeys.ts), labelled with the keys' epoch that the Durable Object
 * raises after every change of keys in D1 (src/durable/keysEpoch.ts). So a warm
 * login reads nothing from D1, and a key rotated out by another isolate stops
 * working on the very next login here. "Another isolate" is played by changing D1
 * and the object directly, as that isolate's PUT /api/escrow would, without telling
 * this isolate's copy.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { InstanceDO } from "../../src/durable/instance";
import type { PublicKeys } from "../../src/schemas/api";
import { forgetOwnerKeys, labelledOwnerKeys, OWNER_KEYS_MAX_AGE_MS } from "../../src/services/ownerKeys";
import { latestEscrow, updateEscrow } from "../../src/storage/ownerStore";
import { advanceClock, serverNowMs } from "../helpers/clock";
import { countingFetcher, type CountingFetcher } from "../helpers/instanceCalls";
import { json, makeOwnerKeys, OwnerClient, type OwnerKeys } from "../helpers/owner";
import { postMessage, sealMessage, type EncJwk } from "../helpers/messages";
import { claimedOwner, inInstance, TEST_ORIGIN } from "../helpers/workers";

const stub = () => env.INSTANCE.get(env.INSTANCE.idFromName("instance")) as DurableObjectStub<InstanceDO>;

let counting: CountingFetcher;
/** The owner's current keys, as this file has rotated them so far. */
let keys: OwnerKeys;

beforeAll(async () => {
  const owner = await claimedOwner();
  keys = owner.keys;
  counting = countingFetcher();
});

const device = () => new OwnerClient(counting.fetcher, TEST_ORIGIN, keys);

/** Another isolate's rotation: D1 commits the new keys, then the object logs it (raising the epoch), or, with `tellObject: false`, the object never hears of it. */
async function rotateElsewhere(options: { tellObject: boolean; next?: OwnerKeys }): Promise<OwnerKeys> {
  const next = options.next ?? (await makeOwnerKeys());
  const escrow = (await latestEscrow(env.DB))!;
  const result = await updateEscrow(env.DB, {
    expectedVersion: escrow.version,
    blob: "rotated elsewhere",
    current: keys.publicKeys as PublicKeys,
    next: next.publicKeys as PublicKeys,
    nowMs: serverNowMs(),
  });
  expect(result).toMatchObject({ ok: true, rotated: ["sig", "enc"] });
  if (options.tellObject) {
    await runInDurableObject(stub(), (instance) =>
      instance.recordActivities([{ type: "keys_rotated", sessionId: null, detail: { rotated: ["sig", "enc"], version: escrow.version + 1 } }]),
    );
  }
  const previous = keys;
  keys = next;
  return previous;
}

describe("the owner's keys for a login", () => {
  it("a warm isolate's login reads nothing from D1 and makes one object call", async () => {
    expect((await device().login()).status).toBe(200);
    counting.take();
    counting.takeD1();
    expect((await device().login()).status).toBe(200);
    expect(counting.take()).toEqual(["openChallenge", "login"]);
    expect(counting.takeD1()).toEqual([]);
  });

  it("a cold isolate asks the object for the epoch, then reads the keys from D1 once", async () => {
    forgetOwnerKeys();
    const client = device();
    const assertion = await client.assertion();
    counting.take();
    counting.takeD1();
    expect((await client.request("POST", "/auth/login", { body: { assertion } })).status).toBe(200);
    expect(counting.take()).toEqual(["currentKeysEpoch", "login"]);
    expect(counting.takeD1()).toHaveLength(1);
  });

  it("after another isolate rotated the keys, the old key is refused at once and the new one works", async () => {
    expect((await device().login()).status).toBe(200); // this isolate holds the keys about to be rotated out
    const old = await rotateElsewhere({ tellObject: true });

    const oldClient = new OwnerClient(counting.fetcher, TEST_ORIGIN, old);
    const assertion = await oldClient.assertion();
    counting.take();
    const refused = await oldClient.request("POST", "/auth/login", { body: { assertion } });
    expect(refused.status).toBe(401);
    expect(await json(refused)).toMatchObject({ error: "invalid_assertion" });
    // The object refused the stale label without spending anything; the keys were read
    // again under the epoch it answered with, and the second call logged the failure.
    expect(counting.take()).toEqual(["login", "login"]);

    const current = device();
    expect((await current.login()).status).toBe(200);
    const activity = await json<{ entries: Array<{ type: string }> }>(await current.api("GET", "/api/activity?limit=5"));
    expect(activity.entries.map((e) => e.type)).toContain("login_failed");
  });

  it("a login the object refused as stale spent nothing: its challenge still works with the right key", async () => {
    expect((await device().login()).status).toBe(200); // this isolate holds the keys about to be rotated out
    const next = await makeOwnerKeys();
    // Sign with the key that will be current, before the rotation lands.
    const early = new OwnerClient(counting.fetcher, TEST_ORIGIN, next);
    const assertion = await early.assertion();
    await rotateElsewhere({ tellObject: true, next });
    // This isolate still holds the old keys: the first check fails on the signature,
    // the object says the label is stale, and the re-check with fresh keys succeeds
    // on the same, unspent challenge.
    counting.take();
    const res = await early.request("POST", "/auth/login", { body: { assertion } });
    expect(res.status).toBe(200);
    expect(counting.take()).toEqual(["login", "login"]);
  });

  it("20 copies of one login in flight right after another isolate rotated the keys: the stale checks spend nothing, and exactly one copy spends the challenge", async () => {
    expect((await device().login()).status).toBe(200); // this isolate holds the keys about to be rotated out
    const next = await makeOwnerKeys();
    const assertion = await new OwnerClient(counting.fetcher, TEST_ORIGIN, next).assertion();
    await rotateElsewhere({ tellObject: true, next });
    counting.take();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => new OwnerClient(counting.fetcher, TEST_ORIGIN, next).request("POST", "/auth/login", { body: { assertion } })),
    );
    // Copies checked with the isolate's stale keys were refused as stale and repeated (more than 20 calls).
    expect(counting.take().filter((m) => m === "login").length).toBeGreaterThan(20);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
    for (const r of responses.filter((r) => r.status === 401)) expect(await json(r)).toMatchObject({ error: "invalid_assertion" });
  });

  it("a rotation through PUT /api/escrow raises the epoch before D1's write and again after it", async () => {
    const current = device();
    expect((await current.login()).status).toBe(200);
    const next = await makeOwnerKeys();
    const { version } = await json<{ version: number }>(await current.api("GET", "/api/escrow"));
    const epoch = () => runInDurableObject(stub(), (instance) => instance.currentKeysEpoch());
    const before = await epoch();
    const res = await current.api("PUT", "/api/escrow", {
      expectedVersion: version,
      blob: "rotated here",
      publicKeys: next.publicKeys,
      assertion: await new OwnerClient(counting.fetcher, TEST_ORIGIN, next).assertion(),
    });
    expect(res.status).toBe(200);
    expect(await epoch()).toBe(before + 2);
    const old = keys;
    keys = next;
    expect((await new OwnerClient(counting.fetcher, TEST_ORIGIN, old).login()).status).toBe(401);
    expect((await device().login()).status).toBe(200);
  });

  it("a Worker that cannot learn the epoch reads the keys for that login alone and keeps nothing", async () => {
    expect((await device().login()).status).toBe(200); // a labelled copy in the isolate
    const unreachable = {
      ...env,
      INSTANCE: {
        idFromName: (name: string) => env.INSTANCE.idFromName(name),
        get: () => ({ currentKeysEpoch: () => Promise.reject(new Error("no such method")) }),
      },
    } as unknown as typeof env;
    forgetOwnerKeys();
    const read = await labelledOwnerKeys(unreachable, serverNowMs());
    expect(read.epoch).toBeUndefined();
    expect(read.keys.sig.kid).toBe(keys.publicKeys.sig.kid);
    // Nothing was kept: the next login asks the object again.
    counting.take();
    expect((await device().login()).status).toBe(200);
    expect(counting.take()).toEqual(["openChallenge", "currentKeysEpoch", "login"]);
  });

  it("keys whose rotation the object never heard of are read again after OWNER_KEYS_MAX_AGE_MS", async () => {
    expect((await device().login()).status).toBe(200);
    const old = await rotateElsewhere({ tellObject: false });
    advanceClock(OWNER_KEYS_MAX_AGE_MS + 1);
    expect((await new OwnerClient(counting.fetcher, TEST_ORIGIN, old).login()).status).toBe(401);
    expect((await device().login()).status).toBe(200);
  });
});

describe("the keys' epoch kept in the object's memory (KeysEpochStore)", () => {
  it("is never behind a raise, and a raise that rolled back after its number was read is never handed out again", async () => {
    const seen = await inInstance((instance, state) => {
      const epochs = instance["keysEpoch"];
      const before = instance.currentKeysEpoch();
      let readInside = 0;
      expect(() =>
        state.storage.transactionSync(() => {
          epochs.raise();
          readInside = instance.currentKeysEpoch(); // a Worker could label keys with this
          throw new Error("rolled back");
        }),
      ).toThrow("rolled back");
      const stored = state.storage.kv.get<number>("owner:keysEpoch") ?? 0;
      const next = state.storage.transactionSync(() => epochs.raise());
      return { before, readInside, stored, next, after: instance.currentKeysEpoch() };
    });
    expect(seen.readInside).toBe(seen.before + 1);
    expect(seen.stored).toBe(seen.before);
    // The next raise is for new keys: it must not reuse the number a Worker may hold.
    expect(seen.next).toBeGreaterThan(seen.readInside);
    expect(seen.after).toBe(seen.next);
  });
});

describe("the owner's keys for a private message", () => {
  const encKey = (k: OwnerKeys) => k.publicKeys.enc as EncJwk;
  const send = async (k: OwnerKeys, text: string) => postMessage(counting.fetcher, TEST_ORIGIN, { jwe: await sealMessage(encKey(k), text) });

  it("a warm isolate's message reads nothing from D1 and makes one object call", async () => {
    expect((await send(keys, "warm up")).status).toBe(202);
    counting.take();
    counting.takeD1();
    expect((await send(keys, "warm")).status).toBe(202);
    expect(counting.take()).toEqual(["acceptMessage"]);
    expect(counting.takeD1()).toEqual([]);
  });

  it("after another isolate rotated the keys, a message sealed to the old key is refused at once and one sealed to the new key is stored", async () => {
    expect((await send(keys, "before")).status).toBe(202); // this isolate holds the keys about to be rotated out
    const old = await rotateElsewhere({ tellObject: true });
    counting.take();
    const refused = await send(old, "to the retired key");
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ error: "invalid_request", message: expect.stringMatching(/sealed to a retired key/) });
    // The stale label was refused without counting anything, the keys were read again.
    expect(counting.take()).toEqual(["acceptMessage", "acceptMessage"]);
    expect((await send(keys, "to the new key")).status).toBe(202);
    expect(counting.take()).toEqual(["acceptMessage"]);
  });

  it("20 messages in flight right after another isolate rotated the keys: each is stored once, none refused", async () => {
    expect((await send(keys, "before")).status).toBe(202);
    await rotateElsewhere({ tellObject: true });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => send(keys, `burst ${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    const ids = await Promise.all(results.map(async (r) => (await json<{ id: number }>(r)).id));
    expect(new Set(ids).size).toBe(20);
  });
});
