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
type Page = { messages: Array<{ id: number; jwe: string }>; usage: { unverified: Usage; verified: Usage } };

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
    expect(page.usage.unverified.bytes).toBe(page.messages.reduce((n, m) => n + m.jwe.length, 0));
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
    const byBytes = fetchWithVars({ MESSAGE_QUOTA_BYTES: String(page.usage.unverified.bytes + jwe.length) });
    expect((await postMessage(byBytes, TEST_ORIGIN, { jwe })).status).toBe(202);
    expect((await postMessage(byBytes, TEST_ORIGIN, { jwe: await sealMessage(key, "bytes") })).status).toBe(429);
  });
});
