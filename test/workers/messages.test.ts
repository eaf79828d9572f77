/**
 * docs/api.md §9 over HTTP, inside workerd: a visitor seals to the published key,
 * the server stores only what it can check without decrypting, the owner pages
 * through and deletes.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { makeKeyPair, makeOwnerKeys, json, OwnerClient } from "../helpers/owner";
import {
  openMessage,
  postMessage,
  publishedEncryptionKey,
  sealMessage,
  type EncJwk,
  type StoredMessage,
} from "../helpers/messages";
import { claimedOwner, fetchWithVars, selfFetch, TEST_ORIGIN } from "../helpers/workers";

type Page = { messages: StoredMessage[]; next: number | null };
const b64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

describe("POST /messages before the instance is claimed", () => {
  it("answers 404 not_claimed", async () => {
    const stranger = await makeKeyPair("enc");
    const jwe = await sealMessage(stranger.publicJwk, "hello?");
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe });
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: "not_claimed" });
  });
});

describe("private messages", () => {
  let owner: OwnerClient;
  let key: EncJwk;
  beforeAll(async () => {
    owner = await theOwner();
    key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
  });

  it("publishes the owner's encryption key in the JWKS for senders", () => {
    expect(key).toEqual(owner.keys.enc.publicJwk);
  });

  it("accepts a message sealed to the published key with 202 {id}; the owner decrypts what GET returns", async () => {
    const jwe = await sealMessage(key, "hello from a visitor");
    const before = Date.now();
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe, from: "acct:visitor@example.net" });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    expect(id).toEqual(expect.any(Number));

    const page = await json<Page>(await owner.api("GET", "/api/messages"));
    const stored = page.messages.find((m) => m.id === id)!;
    expect(stored).toEqual({ id, receivedAt: expect.any(Number), from: "acct:visitor@example.net", jwe, verified: false });
    expect(stored.receivedAt).toBeGreaterThanOrEqual(before);
    expect(await openMessage(stored.jwe, owner.keys.enc.privateKey)).toBe("hello from a visitor");
  });

  it("accepts direct key agreement (ECDH-ES) too, and stores from as null when absent", async () => {
    const jwe = await sealMessage(key, "direct", { alg: "ECDH-ES" });
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    const page = await json<Page>(await owner.api("GET", `/api/messages?after=${id - 1}&limit=1`));
    expect(page.messages).toEqual([expect.objectContaining({ id, from: null, verified: false })]);
    expect(await openMessage(page.messages[0]!.jwe, owner.keys.enc.privateKey)).toBe("direct");
  });

  it("is public: CORS * without credentials, and a preflight is answered", async () => {
    const jwe = await sealMessage(key, "from a web page");
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe }, { origin: "https://someone-else.example" });
    expect(res.status).toBe(202);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(res.headers.get("set-cookie")).toBeNull();

    const preflight = await selfFetch(
      new Request(`${TEST_ORIGIN}/messages`, {
        method: "OPTIONS",
        headers: { origin: "https://someone-else.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("refuses a message sealed to a key that is not the owner's (unknown kid) with 400", async () => {
    const other = await makeKeyPair("enc");
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(other.publicJwk, "wrong key") });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request", message: expect.stringContaining("kid") });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("refuses the owner's signing key's kid: only the encryption key receives messages", async () => {
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "x", { kid: owner.keys.sig.publicJwk.kid }) });
    expect(res.status).toBe(400);
  });

  it.each([
    ["a plain string", "not a jwe"],
    ["a compact JWS (three parts)", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"],
    ["five parts of junk", "a.b.c.d.e"],
    ["padding in a part", "eyJ9.=.=.=.="],
  ])("refuses %s with 400 invalid_request", async (_name, jwe) => {
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request" });
  });

  it("refuses headers it does not accept: RSA-OAEP, A128GCM, no kid", async () => {
    const real = (await sealMessage(key, "template")).split(".");
    const header = JSON.parse(atob(real[0]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    for (const change of [{ alg: "RSA-OAEP-256" }, { enc: "A128GCM" }, { kid: undefined }]) {
      const forged = [b64url(JSON.stringify({ ...header, ...change })), ...real.slice(1)].join(".");
      const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: forged });
      expect(res.status, JSON.stringify(change)).toBe(400);
    }
  });

  it("refuses bodies that are not {jwe, from?}", async () => {
    for (const body of [{}, { jwe: 5 }, { jwe: "" }, "not json", { jwe: "a.b.c.d.e", from: "x".repeat(3000) }]) {
      const res = await postMessage(selfFetch, TEST_ORIGIN, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("refuses a body over 64 KiB with 413 payload_too_large and stores nothing", async () => {
    const before = await json<Page>(await owner.api("GET", "/api/messages?limit=100"));
    const jwe = await sealMessage(key, "x".repeat(70 * 1024));
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe }, { origin: "https://someone-else.example" });
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ error: "payload_too_large" });
    // A sender's page must be able to read why: refusals carry CORS too.
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json<Page>(await owner.api("GET", "/api/messages?limit=100"))).toEqual(before);
  });

  it("accepts a message just under the limit", async () => {
    const jwe = await sealMessage(key, "y".repeat(40 * 1024));
    expect((await postMessage(selfFetch, TEST_ORIGIN, { jwe })).status).toBe(202);
  });
});

describe("GET /api/messages and DELETE /api/messages/:id", () => {
  let owner: OwnerClient;
  let key: EncJwk;
  const ids: number[] = [];
  beforeAll(async () => {
    owner = await theOwner();
    key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    for (let i = 0; i < 7; i++) {
      const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, `page message ${i}`) });
      ids.push((await json<{ id: number }>(res)).id);
    }
  });

  it("gives ids that increase", () => {
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("pages oldest first with after and limit; next is the last id of a full page, null at the end", async () => {
    const after = ids[0]! - 1;
    const first = await json<Page>(await owner.api("GET", `/api/messages?after=${after}&limit=3`));
    expect(first.messages.map((m) => m.id)).toEqual(ids.slice(0, 3));
    expect(first.next).toBe(ids[2]);
    const second = await json<Page>(await owner.api("GET", `/api/messages?after=${first.next}&limit=3`));
    expect(second.messages.map((m) => m.id)).toEqual(ids.slice(3, 6));
    const third = await json<Page>(await owner.api("GET", `/api/messages?after=${second.next}&limit=3`));
    expect(third.messages.map((m) => m.id)).toEqual(ids.slice(6));
    expect(third.next).toBeNull();
    const texts = await Promise.all(
      [...first.messages, ...second.messages, ...third.messages].map((m) => openMessage(m.jwe, owner.keys.enc.privateKey)),
    );
    expect(texts).toEqual(ids.map((_, i) => `page message ${i}`));
    expect(await json<Page>(await owner.api("GET", `/api/messages?after=${ids.at(-1)}`))).toMatchObject({ messages: [], next: null });
  });

  it("pages newest first with before and limit; next is the before of the older page, null at the oldest", async () => {
    const newest = await json<Page>(await owner.api("GET", `/api/messages?before=${Number.MAX_SAFE_INTEGER}&limit=3`));
    expect(newest.messages.map((m) => m.id)).toEqual(ids.slice(-3).reverse());
    expect(newest.next).toBe(ids[4]);
    const older = await json<Page>(await owner.api("GET", `/api/messages?before=${newest.next}&limit=3`));
    expect(older.messages.map((m) => m.id)).toEqual(ids.slice(1, 4).reverse());
    // The oldest messages of all: before the first id, nothing; at the very start, next is null.
    const first = await json<Page>(await owner.api("GET", `/api/messages?before=${ids[0]! + 1}&limit=100`));
    expect(first.messages[0]!.id).toBe(ids[0]);
    expect(first.next).toBeNull();
    expect(await json<Page>(await owner.api("GET", "/api/messages?before=1"))).toMatchObject({ messages: [], next: null });
    // after= is unchanged: oldest first, defaulting to 0.
    const oldest = await json<Page>(await owner.api("GET", "/api/messages?limit=1"));
    expect(oldest.messages[0]!.id).toBeLessThanOrEqual(ids[0]!);
  });

  it("refuses a bad query with 400", async () => {
    for (const q of ["limit=0", "limit=101", "after=-1", "after=abc", "before=0", "before=abc", "after=1&before=5"]) {
      expect((await owner.api("GET", `/api/messages?${q}`)).status, q).toBe(400);
    }
  });

  it("needs the owner's access token", async () => {
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/api/messages`));
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect((await selfFetch(new Request(`${TEST_ORIGIN}/api/messages/${ids[0]}`, { method: "DELETE" }))).status).toBe(401);
  });

  it("deletes a message with 204; a second delete is 404 not_found", async () => {
    const target = ids[3]!;
    expect((await owner.api("DELETE", `/api/messages/${target}`)).status).toBe(204);
    const again = await owner.api("DELETE", `/api/messages/${target}`);
    expect(again.status).toBe(404);
    expect(await json(again)).toMatchObject({ error: "not_found" });
    expect((await owner.api("DELETE", "/api/messages/not-a-number")).status).toBe(404);
    const page = await json<Page>(await owner.api("GET", `/api/messages?after=${ids[0]! - 1}`));
    expect(page.messages.map((m) => m.id)).toEqual(ids.filter((id) => id !== target));
  });

  it("never reuses an id, even after the newest message is deleted", async () => {
    const newest = ids.at(-1)!;
    expect((await owner.api("DELETE", `/api/messages/${newest}`)).status).toBe(204);
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "after the delete") });
    expect((await json<{ id: number }>(res)).id).toBeGreaterThan(newest);
  });

  it("refuses a cross-origin delete (Origin check on /api)", async () => {
    const res = await owner.request("DELETE", `/api/messages/${ids[0]}`, { bearer: true, headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
  });
});

describe("rate limit", () => {
  beforeAll(async () => {
    await theOwner(); // POST /messages needs a claimed instance
  });

  it("limits POST /messages per client address with 429 and Retry-After", async () => {
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const limited = fetchWithVars({ RATE_LIMIT_PER_MIN: "3" });
    const from = (ip: string) => ({ "cf-connecting-ip": ip });
    const jwe = await sealMessage(key, "spam?");
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postMessage(limited, TEST_ORIGIN, { jwe }, from("192.0.2.7"))).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    const refused = await postMessage(limited, TEST_ORIGIN, { jwe }, from("192.0.2.7"));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await json(refused)).toMatchObject({ error: "rate_limited" });
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
    // Another address has its own budget.
    expect((await postMessage(limited, TEST_ORIGIN, { jwe }, from("192.0.2.8"))).status).toBe(202);
  });
});

describe("after a key rotation", () => {
  it("refuses messages sealed to the retired key with 400 and accepts the new key's", async () => {
    const owner = await theOwner();
    const device = owner.device();
    expect((await device.login()).status).toBe(200); // a fresh login: rotation is step-up
    const oldKey = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const next = await makeOwnerKeys();
    const rotated = new OwnerClient(selfFetch, TEST_ORIGIN, next);
    const { version } = await json<{ version: number }>(await device.api("GET", "/api/escrow"));
    const put = await device.api("PUT", "/api/escrow", {
      expectedVersion: version,
      blob: "blob with old and new private keys",
      publicKeys: next.publicKeys,
      assertion: await rotated.assertion(),
    });
    expect(put.status).toBe(200);

    const retired = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(oldKey, "to the old key") });
    expect(retired.status).toBe(400);
    expect(await json(retired)).toMatchObject({ error: "invalid_request", message: expect.stringContaining("retired") });

    const newKey = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    expect(newKey.kid).toBe(next.enc.publicJwk.kid);
    const ok = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(newKey, "to the new key") });
    expect(ok.status).toBe(202);
    const { id } = await json<{ id: number }>(ok);
    const page = await json<Page>(await device.api("GET", `/api/messages?after=${id - 1}`));
    expect(await openMessage(page.messages[0]!.jwe, next.enc.privateKey)).toBe("to the new key");
  });
});

let claimed: Promise<OwnerClient> | undefined;
/** This file's owner, who claims the instance on first use (after the not_claimed test). */
function theOwner(): Promise<OwnerClient> {
  claimed ??= claimedOwner();
  return claimed;
}
