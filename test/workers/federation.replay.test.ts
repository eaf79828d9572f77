/**
 * POST /inbox replay protection (docs/federation.md, "Replays and redeliveries"),
 * inside workerd. A signed request is processed at most once: the same request
 * again is refused with 401, also when 20 copies race; a redelivery of an
 * activity already stored, under a fresh signature, is answered like the first
 * without storing it again; expired records are pruned. Peers are fake (a stubbed
 * outbound fetch serves their documents): no network.
 */
import { env } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ACTIVITY_DEDUP_TTL_MS, ACTIVITY_LEASE_MS, signatureReplayExpiry } from "../../src/domain/inboxReplay";
import { InboxReplayStore } from "../../src/durable/inboxReplays";
import { advanceClock } from "../helpers/clock";
import { countingFetcher } from "../helpers/instanceCalls";
import { makePeer, useFakeFediverse, signedPost, signedPost9421, type Peer } from "../helpers/federation";
import { publishedEncryptionKey, sealMessage, type EncJwk } from "../helpers/messages";
import { json } from "../helpers/owner";
import { claimedOwner, fetchWithVars, inInstance, selfFetch, objectRows, TEST_ORIGIN } from "../helpers/workers";

const INBOX = `${TEST_ORIGIN}/inbox`;
const SELF_ACTOR = `${TEST_ORIGIN}/actor`;
const worker = fetchWithVars({});

const net = useFakeFediverse();

const encryptedCreate = (peer: Peer, jwe: string, id = `${peer.actorId}/activities/${crypto.randomUUID()}`) => ({
  "@context": "https://www.w3.org/ns/activitystreams",
  id,
  type: "Create",
  actor: peer.actorId,
  to: [SELF_ACTOR],
  object: { type: "Note", attributedTo: peer.actorId, to: [SELF_ACTOR], mediaType: "application/jose", content: jwe },
});

/** The same bytes, sent again: what someone who captured the request can do. */
async function replayable(request: Request): Promise<() => Request> {
  const body = await request.text();
  return () => new Request(request.url, { method: "POST", headers: request.headers, body });
}

/** Whole seconds: HTTP dates have no milliseconds. */
const secondsAgo = (s: number) => new Date((Math.floor(Date.now() / 1000) - s) * 1000);

async function storedCount(jwe: string): Promise<number> {
  const [row] = await objectRows<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE jwe = ?", jwe);
  return row!.n;
}

const expectReplayRefused = async (res: Response) => {
  expect(res.status).toBe(401);
  expect(await json(res)).toMatchObject({ error: "unauthorized", message: expect.stringMatching(/already received/) });
  expect(res.headers.get("www-authenticate")).toMatch(/^Signature /);
};

describe("POST /inbox replay protection", () => {
  let key: EncJwk;
  let peer: Peer;
  beforeAll(async () => {
    await claimedOwner();
    key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    peer = await makePeer();
  });
  beforeEach(() => net.serve(peer.actorId, peer.actor));

  describe("the same signed request twice", () => {
    it("is processed once, then refused with 401 (draft-cavage)", async () => {
      const jwe = await sealMessage(key, "once");
      const again = await replayable(await signedPost(peer, INBOX, encryptedCreate(peer, jwe)));
      const first = await worker(again());
      expect(first.status).toBe(202);
      expect(await json(first)).toEqual({ id: expect.any(Number) });
      await expectReplayRefused(await worker(again()));
      await expectReplayRefused(await worker(again()));
      expect(await storedCount(jwe)).toBe(1);
    });

    it("is processed once, then refused with 401 (RFC 9421)", async () => {
      const jwe = await sealMessage(key, "once, the new way");
      const again = await replayable(await signedPost9421(peer, INBOX, encryptedCreate(peer, jwe)));
      expect((await worker(again())).status).toBe(202);
      await expectReplayRefused(await worker(again()));
      expect(await storedCount(jwe)).toBe(1);
    });

    it("is refused for activities that store nothing too (a Follow)", async () => {
      const again = await replayable(await signedPost(peer, INBOX, { type: "Follow", actor: peer.actorId, object: SELF_ACTOR }));
      expect((await worker(again())).status).toBe(202);
      await expectReplayRefused(await worker(again()));
    });

    it("is refused when the replay swaps the unsigned keyId for another serving the same key", async () => {
      // draft-cavage does not sign keyId: the record is keyed on what the signature covers.
      const otherKeyId = "https://peer.example/keys/alice-again";
      net.serve(otherKeyId, { id: otherKeyId, owner: peer.actorId, publicKeyPem: peer.publicKeyPem });
      // The actor lists both keys, so either keyId is a valid key of this actor.
      const otherKey = { id: otherKeyId, owner: peer.actorId, publicKeyPem: peer.publicKeyPem };
      net.serve(peer.actorId, { ...peer.actor, publicKey: [peer.actor.publicKey, otherKey] });
      const jwe = await sealMessage(key, "keyId swap");
      const original = await signedPost(peer, INBOX, encryptedCreate(peer, jwe));
      const body = await original.text();
      expect((await worker(new Request(INBOX, { method: "POST", headers: original.headers, body }))).status).toBe(202);
      const headers = new Headers(original.headers);
      headers.set("signature", headers.get("signature")!.replace(peer.keyId, otherKeyId));
      await expectReplayRefused(await worker(new Request(INBOX, { method: "POST", headers, body })));
      expect(net.requests).toContain(otherKeyId);
      expect(await storedCount(jwe)).toBe(1);
    });

    it("20 concurrent copies: exactly one is processed, the other 19 are refused", async () => {
      const jwe = await sealMessage(key, "raced");
      const again = await replayable(await signedPost(peer, INBOX, encryptedCreate(peer, jwe)));
      // The key is cached first, so every copy reaches the claim rather than racing the key fetch.
      await worker(await signedPost(peer, INBOX, { type: "Follow", actor: peer.actorId, object: SELF_ACTOR }));
      const responses = await Promise.all(Array.from({ length: 20 }, () => worker(again())));
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([202, ...Array<number>(19).fill(401)]);
      expect(await storedCount(jwe)).toBe(1);
    });
  });

  describe("the same activity redelivered with a fresh signature", () => {
    it("is answered like the first delivery (202, the same id) and stored once", async () => {
      const jwe = await sealMessage(key, "retried by the sender");
      const activity = encryptedCreate(peer, jwe);
      const first = await worker(await signedPost(peer, INBOX, activity, { date: secondsAgo(2) }));
      expect(first.status).toBe(202);
      const { id } = await json<{ id: number }>(first);
      const retry = await worker(await signedPost(peer, INBOX, activity, { date: secondsAgo(1) }));
      expect(retry.status).toBe(202);
      expect(await json(retry)).toEqual({ id });
      expect(await storedCount(jwe)).toBe(1);
    });

    it("is a new message from another actor that uses the same id (ids are per sender)", async () => {
      const other = await makePeer("https://other.example/users/dana");
      net.serve(other.actorId, other.actor);
      const id = `${peer.actorId}/activities/shared`;
      const a = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "a"), id)));
      const b = await worker(await signedPost(other, INBOX, encryptedCreate(other, await sealMessage(key, "b"), id)));
      expect([a.status, b.status]).toEqual([202, 202]);
      expect((await json<{ id: number }>(a)).id).not.toBe((await json<{ id: number }>(b)).id);
    });

    it("is processed after a first delivery that stored nothing (the claim is released)", async () => {
      const id = `${peer.actorId}/activities/${crypto.randomUUID()}`;
      const wrongKey = await sealMessage({ ...key, kid: "not-the-owner" } as EncJwk, "x");
      const refused = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, wrongKey, id), { date: secondsAgo(2) }));
      expect(refused.status).toBe(400);
      const jwe = await sealMessage(key, "fixed and sent again");
      const retry = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, jwe, id), { date: secondsAgo(1) }));
      expect(retry.status).toBe(202);
      expect(await storedCount(jwe)).toBe(1);
    });

    it("20 concurrent deliveries, each signed anew: stored exactly once", async () => {
      const jwe = await sealMessage(key, "twenty retries at once");
      const activity = encryptedCreate(peer, jwe);
      const requests = await Promise.all(Array.from({ length: 20 }, (_, i) => signedPost(peer, INBOX, activity, { date: secondsAgo(i + 1) })));
      const responses = await Promise.all(requests.map((r) => worker(r)));
      const stored = responses.filter((r) => r.status === 202);
      // The others raced the first one's processing: told to retry shortly.
      for (const r of responses.filter((r) => r.status !== 202)) {
        expect(r.status).toBe(429);
        expect(await json(r)).toMatchObject({ error: "rate_limited" });
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      const ids = new Set(await Promise.all(stored.map(async (r) => (await json<{ id: number }>(r)).id)));
      expect(ids.size).toBe(1);
      expect(await storedCount(jwe)).toBe(1);
      // Once the first is done, a retry is a duplicate, answered with its id.
      const late = await worker(await signedPost(peer, INBOX, activity, { date: secondsAgo(30) }));
      expect(await json(late)).toEqual({ id: [...ids][0] });
    });
  });

  describe("the records", () => {
    it("a delivery's signature is remembered just past the Date window; expired records are pruned", async () => {
      const nowMs = Date.now();
      await inInstance((_i, state) => {
        const sql = state.storage.sql;
        sql.exec("INSERT INTO inbox_signatures (hash, expires_at_ms) VALUES ('expired-sig', ?), ('live-sig', ?)", nowMs - 1, nowMs + 3600_000);
        sql.exec(
          `INSERT INTO inbox_activities (hash, state, claim, message_id, expires_at_ms)
           VALUES ('expired-act', 'done', NULL, 1, ?), ('lapsed-lease', 'pending', 'c', NULL, ?), ('live-act', 'done', NULL, 2, ?)`,
          nowMs - 1,
          nowMs - 1,
          nowMs + 3600_000,
        );
      });
      const date = secondsAgo(5);
      const jwe = await sealMessage(key, "prunes on its way in");
      expect((await worker(await signedPost(peer, INBOX, encryptedCreate(peer, jwe), { date }))).status).toBe(202);
      const after = await inInstance((_i, state) => ({
        signatures: state.storage.sql.exec<{ hash: string; expires_at_ms: number }>("SELECT hash, expires_at_ms FROM inbox_signatures").toArray(),
        activities: state.storage.sql.exec<{ hash: string; state: string; expires_at_ms: number }>("SELECT hash, state, expires_at_ms FROM inbox_activities").toArray(),
      }));
      const hashes = after.signatures.map((r) => r.hash);
      expect(hashes).not.toContain("expired-sig");
      expect(hashes).toContain("live-sig");
      expect(after.activities.map((r) => r.hash)).not.toContain("expired-act");
      expect(after.activities.map((r) => r.hash)).not.toContain("lapsed-lease");
      expect(after.activities.map((r) => r.hash)).toContain("live-act");
      // Nothing in either table is past its expiry, and this delivery's records are there.
      expect(after.signatures.every((r) => r.expires_at_ms > nowMs)).toBe(true);
      expect(after.signatures.map((r) => r.expires_at_ms)).toContain(signatureReplayExpiry(date.getTime()));
      const done = after.activities.filter((r) => r.state === "done" && r.expires_at_ms >= nowMs + ACTIVITY_DEDUP_TTL_MS);
      expect(done.length).toBeGreaterThanOrEqual(1);
    });

    it("the store: one claim per signature, leases, release, and pruning at a given time", async () => {
      await inInstance((_i, state) => {
        const store = new InboxReplayStore(state.storage);
        const t0 = 1_000_000;
        const input = (sig: string, act: string | null) => ({ signatureHash: sig, signatureExpiresAtMs: t0 + 1000, activityHash: act });

        const first = store.claim(input("s1", "a1"), t0);
        expect(first).toEqual({ kind: "claimed", claim: expect.any(String) });
        expect(store.claim(input("s1", "a1"), t0)).toEqual({ kind: "replayed" });
        expect(store.claim(input("s2", "a1"), t0 + 10)).toEqual({ kind: "in_progress", retryAfterMs: ACTIVITY_LEASE_MS - 10 });
        // Released (nothing stored): the next delivery of a1 claims it.
        store.release("a1", (first as { claim: string }).claim);
        const second = store.claim(input("s3", "a1"), t0 + 30);
        expect(second.kind).toBe("claimed");
        // A stale holder cannot release someone else's claim.
        store.release("a1", (first as { claim: string }).claim);
        expect(store.claim(input("s4", "a1"), t0 + 50).kind).toBe("in_progress");
        expect(store.storedMessageId("a1")).toBeNull();
        store.markStored("a1", 42, t0 + 60);
        expect(store.storedMessageId("a1")).toBe(42);
        expect(store.claim(input("s5", "a1"), t0 + 70)).toEqual({ kind: "duplicate", messageId: 42 });
        // A stored activity is not released by anyone.
        store.release("a1", (second as { claim: string }).claim);
        expect(store.storedMessageId("a1")).toBe(42);

        // A claim whose holder died: free again once its lease ran out.
        const orphan = store.claim(input("s6", "a2"), t0);
        expect(orphan.kind).toBe("claimed");
        expect(store.claim(input("s7", "a2"), t0 + ACTIVITY_LEASE_MS).kind).toBe("claimed");

        // Past its expiry a signature record is gone (and t0 + 1000 is past every one above).
        store.prune(t0 + 1000);
        const left = state.storage.sql
          .exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox_signatures WHERE hash LIKE 's_'")
          .one().n;
        expect(left).toBe(0);
        const a1 = state.storage.sql.exec("SELECT state FROM inbox_activities WHERE hash = 'a1'").toArray();
        expect(a1).toEqual([{ state: "done" }]);
        store.prune(t0 + 60 + ACTIVITY_DEDUP_TTL_MS);
        expect(state.storage.sql.exec("SELECT * FROM inbox_activities WHERE hash IN ('a1', 'a2')").toArray()).toEqual([]);
      });
    });
  });

  // Last in this file: it moves the server's clock a lease forward.
  describe("a delivery that outlives its lease, and the retry that took the lease over", () => {
    it.each([
      ["the late delivery first", [0, 1]],
      ["the retry first", [1, 0]],
      ["both at once", "together"],
    ] as const)("store the message once, whichever stores first (%s)", async (name, order) => {
      // Each delivery's one object call is held on its way to the object, so the test
      // decides when each runs (helpers/instanceCalls.ts).
      const held: Array<() => void> = [];
      const { fetcher } = countingFetcher({
        before: (method) => (method === "acceptMessage" ? new Promise<void>((release) => held.push(release)) : undefined),
      });
      const jwe = await sealMessage(key, `outlived its lease (${name})`);
      const activity = encryptedCreate(peer, jwe);
      const arrived = (n: number) => vi.waitFor(() => expect(held).toHaveLength(n), { timeout: 10_000 });
      let answers: Response[] = [];
      try {
        const late = fetcher(await signedPost(peer, INBOX, activity, { date: secondsAgo(2) }));
        await arrived(1);
        // The late delivery's lease runs out; the sender's retry, signed anew, takes it over.
        advanceClock(ACTIVITY_LEASE_MS);
        const retry = fetcher(await signedPost(peer, INBOX, activity, { date: secondsAgo(1) }));
        await arrived(2);

        const deliveries = [late, retry];
        if (order === "together") {
          // Both let go in the same tick: the object runs their transactions one after the other.
          for (const release of held) release();
          answers = await Promise.all(deliveries);
        } else {
          for (const i of order) {
            held[i]!();
            answers.push(await deliveries[i]!);
          }
        }
      } finally {
        // Nothing stays held if an expectation above failed.
        for (const release of held) release();
      }
      const [first, second] = answers as [Response, Response];
      expect([first.status, second.status]).toEqual([202, 202]);
      const firstId = (await json<{ id: number }>(first)).id;
      expect(await json(second)).toEqual({ id: firstId });
      expect(await storedCount(jwe)).toBe(1);
      // Another redelivery is the same duplicate.
      // (Signed a minute back: a date the two above cannot have had, or it would be a replay.)
      const again = await worker(await signedPost(peer, INBOX, activity, { date: secondsAgo(60) }));
      expect(await json(again)).toEqual({ id: firstId });
    });
  });
});
