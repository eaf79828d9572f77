/**
 * The instance-wide quota of stored messages (MESSAGE_QUOTA, MESSAGE_QUOTA_BYTES;
 * src/schemas/messageLimits.ts): counted in the INSERT itself, so a burst of parallel
 * senders cannot overshoot it; unverified (POST /messages) and verified (POST /inbox)
 * messages have separate budgets; a full mailbox answers 429 with Retry-After, and
 * the owner sees the fill level in GET /api/messages.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MESSAGE_QUOTA_RETRY_AFTER_S } from "../../src/schemas/messageLimits";
import { makePeer, signedPost, useFakeFediverse } from "../helpers/federation";
import { postMessage, publishedEncryptionKey, sealMessage, type EncJwk } from "../helpers/messages";
import { json, OwnerClient } from "../helpers/owner";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

const net = useFakeFediverse();
const QUOTA = 5;
const limited = fetchWithVars({ MESSAGE_QUOTA: String(QUOTA) });

type Usage = { count: number; maxCount: number; bytes: number; maxBytes: number };
type Page = { messages: Array<{ id: number; jwe: string; from: string | null; verified: boolean }>; usage: { unverified: Usage; verified: Usage } };

/** What a message counts against the byte quota: its JWE and its `from` as JSON, in UTF-8 bytes. */
const exportSize = (m: { jwe: string; from: string | null }) => m.jwe.length + new TextEncoder().encode(JSON.stringify(m.from)).length;

let owner: OwnerClient;
let key: EncJwk;

beforeAll(async () => {
  owner = await claimedOwner();
  key = await publishedEncryptionKey(limited, TEST_ORIGIN);
});

describe("the stored-message quota", () => {
  it("stores exactly up to the quota under a parallel burst, then answers 429 with Retry-After", async () => {
    const jwes = await Promise.all(Array.from({ length: 12 }, (_, i) => sealMessage(key, `burst ${i}`)));
    const results = await Promise.all(jwes.map((jwe) => postMessage(limited, TEST_ORIGIN, { jwe })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(QUOTA);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - QUOTA);
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe(String(MESSAGE_QUOTA_RETRY_AFTER_S));
    expect(await json(refused)).toMatchObject({ error: "rate_limited", message: expect.stringContaining("full") });
  });

  it("shows the owner how full the mailbox is", async () => {
    const page = await json<Page>(await owner.api("GET", "/api/messages", undefined));
    expect(page.usage.unverified).toMatchObject({ count: QUOTA, maxCount: 5_000 });
    expect(page.usage.unverified.bytes).toBe(page.messages.reduce((n, m) => n + exportSize(m), 0));
    expect(page.usage.verified).toMatchObject({ count: 0, bytes: 0 });
  });

  it("keeps a separate budget for verified inbox deliveries", async () => {
    const peer = await makePeer("https://peer.example/users/carol");
    net.serve(peer.actorId, peer.actor);
    const activity = {
      id: `${peer.actorId}/activities/1`,
      type: "Create",
      actor: peer.actorId,
      to: [`${TEST_ORIGIN}/actor`],
      object: { type: "Note", attributedTo: peer.actorId, to: [`${TEST_ORIGIN}/actor`], content: "signed, so it has its own budget" },
    };
    expect((await limited(await signedPost(peer, `${TEST_ORIGIN}/inbox`, activity))).status).toBe(202);
  });

  it("takes messages again once the owner deletes some", async () => {
    const page = await json<Page>(await owner.api("GET", "/api/messages"));
    expect((await owner.api("DELETE", `/api/messages/${page.messages[0]!.id}`)).status).toBe(204);
    expect((await postMessage(limited, TEST_ORIGIN, { jwe: await sealMessage(key, "one more") })).status).toBe(202);
    expect((await postMessage(limited, TEST_ORIGIN, { jwe: await sealMessage(key, "and no more") })).status).toBe(429);
  });

  it("also bounds the bytes stored (MESSAGE_QUOTA_BYTES)", async () => {
    const page = await json<Page>(await owner.api("GET", "/api/messages"));
    const jwe = await sealMessage(key, "bytes");
    const byBytes = fetchWithVars({ MESSAGE_QUOTA_BYTES: String(page.usage.unverified.bytes + exportSize({ jwe, from: null })) });
    expect((await postMessage(byBytes, TEST_ORIGIN, { jwe })).status).toBe(202);
    expect((await postMessage(byBytes, TEST_ORIGIN, { jwe: await sealMessage(key, "bytes") })).status).toBe(429);
  });

  it("counts `from` as the export writes it, so a full mailbox's export stays within its bytes", async () => {
    // Unverified messages, with a byte budget of 40 KB past what is stored already.
    const before = await json<Page>(await owner.api("GET", "/api/messages?limit=100"));
    const budget = 40_000;
    const filling = fetchWithVars({ MESSAGE_QUOTA: "1000", MESSAGE_QUOTA_BYTES: String(before.usage.unverified.bytes + budget) });
    const jwe = await sealMessage(key, "x");
    // Control characters are six bytes each in JSON, quotes two, "é" two in UTF-8.
    const senders = ["\u0001".repeat(2048), '"'.repeat(2048), "é".repeat(2048), "plain sender"];
    let stored = 0;
    for (let i = 0; ; i++) {
      const res = await postMessage(filling, TEST_ORIGIN, { jwe, from: senders[i % senders.length] });
      if (res.status === 429) break;
      expect(res.status).toBe(202);
      stored++;
    }
    // 2,048 control characters alone are 12,290 bytes: a handful of messages fill 40 KB.
    expect(stored).toBeGreaterThan(2);
    expect(stored).toBeLessThan(10);
    const page = await json<Page>(await owner.api("GET", "/api/messages?limit=100"));
    const counted = page.messages.filter((m) => !m.verified).reduce((n, m) => n + exportSize(m), 0);
    expect(page.usage.unverified.bytes).toBe(counted);
    expect(counted).toBeLessThanOrEqual(before.usage.unverified.bytes + budget);
    // And the export writes no more than that for them (plus its fixed fields per message).
    const archive = await (await owner.api("GET", "/api/export")).text();
    const exported = (JSON.parse(archive) as { messages: Array<{ jwe: string; from: string | null; verified: boolean }> }).messages.filter((m) => !m.verified);
    const written = exported.reduce((n, m) => n + new TextEncoder().encode(JSON.stringify(m)).length, 0);
    expect(written).toBeLessThanOrEqual(counted + exported.length * 120);
  });
});
