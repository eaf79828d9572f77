/**
 * docs/api.md §11, the outbox, inside workerd: the owner posts a JWE for a peer,
 * the instance's Durable Object delivers it from its alarm, signed with the
 * federation key, and retries with backoff. Peers are fake (stubbed outbound
 * fetch); each one checks our signature with our own published actor key.
 */
import { env } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { authenticateFederationRequest } from "../../src/services/federationAuth";
import { FakeFediverse, makePeer, type Peer } from "../helpers/federation";
import { makeKeyPair, json, OwnerClient } from "../helpers/owner";
import { sealMessage, type EncJwk } from "../helpers/messages";
import { claimedOwner, fetchWithVars, inInstance, selfFetch, TEST_ORIGIN } from "../helpers/workers";

type OutboxState = { id: string; status: string; attempts: number; lastError?: string };

let net: FakeFediverse;
let owner: OwnerClient;
let ourActor: unknown;
let peer: Peer;
let peerKey: EncJwk;
/** What the peer's inbox answers, in order; then 202. */
let answers: number[];
const received: Array<{ activity: Record<string, unknown>; signer: string }> = [];

beforeAll(async () => {
  owner = await claimedOwner();
  ourActor = await (await selfFetch(new Request(`${TEST_ORIGIN}/actor`))).json();
  peer = await makePeer("https://peer.example/users/bob");
  peerKey = (await makeKeyPair("enc")).publicJwk as EncJwk;
});

beforeEach(() => {
  answers = [];
  net = new FakeFediverse();
  net.serve(`${TEST_ORIGIN}/actor`, ourActor);
  net.serve(peer.actorId, peer.actor);
  net.serve("https://peer.example/.well-known/webfinger?resource=acct%3Abob%40peer.example", {
    subject: "acct:bob@peer.example",
    links: [{ rel: "self", type: "application/activity+json", href: peer.actorId }],
  });
  net.inbox(`${peer.actorId}/inbox`, async (request) => {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("host", url.host);
    const body = new Uint8Array(await request.arrayBuffer());
    // The peer verifies exactly as our own inbox would, with our published key.
    const signer = await authenticateFederationRequest(
      { method: "POST", target: url.pathname, url: url.toString(), headers, body },
      { kv: env.CACHE, policy: { allowInsecure: false }, nowMs: Date.now() },
    );
    received.push({ activity: JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>, signer: signer.owner });
    return new Response(null, { status: answers.shift() ?? 202 });
  });
  received.length = 0;
  vi.spyOn(globalThis, "fetch").mockImplementation(net.fetch);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const post = (body: unknown) => owner.api("POST", "/api/outbox", body);
const state = async (id: string) => json<OutboxState>(await owner.api("GET", `/api/outbox/${id}`));

/**
 * Waits until the row has had `attempts` attempts. The object's alarm fires on its
 * own (the runtime runs one alarm at a time, as in production); running it by hand
 * as well could overlap a run the runtime started, which production never does.
 */
async function attempted(id: string, attempts: number): Promise<OutboxState> {
  for (let i = 0; i < 200; i++) {
    const s = await state(id);
    if (s.attempts >= attempts) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no attempt ${attempts} for ${id}: ${JSON.stringify(await state(id))}`);
}

async function makeDue(id: string) {
  await env.DB.prepare("UPDATE outbox SET next_attempt_at_ms = ? WHERE id = ?").bind(Date.now() - 1, id).run();
  await inInstance((_i, s) => s.storage.setAlarm(Date.now()));
}

describe("POST /api/outbox", () => {
  it("answers 202 {id} and delivers a signed EncryptedMessage to the actor's inbox", async () => {
    const jwe = await sealMessage(peerKey, "hello bob");
    const res = await post({ to: peer.actorId, jwe });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    expect(await attempted(id, 1)).toEqual({ id, status: "delivered", attempts: 1 });

    expect(received).toHaveLength(1);
    expect(received[0]!.signer).toBe(`${TEST_ORIGIN}/actor`);
    expect(received[0]!.activity).toMatchObject({
      type: "Create",
      actor: `${TEST_ORIGIN}/actor`,
      to: [peer.actorId],
      object: { mediaType: "application/jose", content: jwe, attributedTo: `${TEST_ORIGIN}/actor` },
    });
    const sent = net.posts[0]!;
    expect(sent.headers.get("signature")).toMatch(/keyId="https:\/\/id\.example\.test\/actor#main-key",algorithm="rsa-sha256",headers="\(request-target\) host date digest"/);
    expect(sent.headers.get("content-type")).toBe("application/activity+json");
  });

  it("resolves acct:user@host through WebFinger", async () => {
    const { id } = await json<{ id: string }>(await post({ to: "acct:bob@peer.example", jwe: await sealMessage(peerKey, "via acct") }));
    expect(await attempted(id, 1)).toMatchObject({ status: "delivered" });
    expect(net.requests[0]).toBe("https://peer.example/.well-known/webfinger?resource=acct%3Abob%40peer.example");
  });

  it("retries with backoff after a failure, then delivers", async () => {
    answers = [503];
    const before = Date.now();
    const { id } = await json<{ id: string }>(await post({ to: peer.actorId, jwe: await sealMessage(peerKey, "retry me") }));
    expect(await attempted(id, 1)).toEqual({ id, status: "pending", attempts: 1, lastError: "the inbox answered HTTP 503" });
    const row = await env.DB.prepare("SELECT next_attempt_at_ms FROM outbox WHERE id = ?").bind(id).first<{ next_attempt_at_ms: number }>();
    expect(row!.next_attempt_at_ms).toBeGreaterThanOrEqual(before + 30_000);
    expect(row!.next_attempt_at_ms).toBeLessThan(Date.now() + 31_000);
    // The shared alarm is set for the retry (no socket is open).
    expect(await inInstance((_i, s) => s.storage.getAlarm())).toBe(row!.next_attempt_at_ms);

    await makeDue(id);
    expect(await attempted(id, 2)).toEqual({ id, status: "delivered", attempts: 2 });
    expect(received).toHaveLength(2);
  });

  it("records an unreachable recipient as the error and keeps retrying", async () => {
    const { id } = await json<{ id: string }>(await post({ to: "https://gone.example/users/x", jwe: await sealMessage(peerKey, "x") }));
    expect(await attempted(id, 1)).toMatchObject({ status: "pending", attempts: 1, lastError: expect.stringContaining("gone.example") });
  });

  it("gives up as failed once 48 h have passed", async () => {
    answers = [500, 500];
    const { id } = await json<{ id: string }>(await post({ to: peer.actorId, jwe: await sealMessage(peerKey, "too late") }));
    await attempted(id, 1);
    await env.DB.prepare("UPDATE outbox SET created_at_ms = ? WHERE id = ?").bind(Date.now() - 49 * 3600_000, id).run();
    await makeDue(id);
    expect(await attempted(id, 2)).toEqual({ id, status: "failed", attempts: 2, lastError: "the inbox answered HTTP 500" });
  });

  it("shares the object's one alarm with the live channel: each keeps its own deadline", async () => {
    // Earlier tests left retries pending: clear them, so only this test's deadlines count.
    await env.DB.prepare("UPDATE outbox SET status = 'failed', next_attempt_at_ms = NULL WHERE status = 'pending'").run();
    await inInstance((_i, s) => s.storage.deleteAlarm());
    // A socket whose token warns in ~14 minutes, and a retry due in 30 s.
    const ws = await selfFetch(
      new Request(`${TEST_ORIGIN}/api/ws`, { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `indie.v1, bearer.${owner.accessToken}` } }),
    );
    ws.webSocket!.accept();
    const socketAlarm = await inInstance((_i, s) => s.storage.getAlarm());
    expect(socketAlarm).toBeGreaterThan(Date.now() + 60_000);

    answers = [503];
    const { id } = await json<{ id: string }>(await post({ to: peer.actorId, jwe: await sealMessage(peerKey, "both") }));
    await attempted(id, 1);
    const retryAt = (await env.DB.prepare("SELECT next_attempt_at_ms FROM outbox WHERE id = ?").bind(id).first<{ next_attempt_at_ms: number }>())!.next_attempt_at_ms;
    expect(await inInstance((_i, s) => s.storage.getAlarm())).toBe(retryAt);

    await makeDue(id);
    expect(await attempted(id, 2)).toMatchObject({ status: "delivered" });
    // Nothing left to deliver: the alarm is the socket's again, not deleted.
    expect(await inInstance((_i, s) => s.storage.getAlarm())).toBe(socketAlarm);
    ws.webSocket!.close(1000);
  });

  it("answers 202 once stored even when both nudges to the object fail; the next nudge covers the row", async () => {
    await env.DB.prepare("UPDATE outbox SET status = 'failed', next_attempt_at_ms = NULL WHERE status = 'pending'").run();
    await inInstance((_i, s) => s.storage.deleteAlarm());
    let lostNudges = 0;
    // The Worker's view of the object, with scheduleOutbox failing (an overloaded or
    // restarting object); every other call goes through.
    const lossy: Pick<DurableObjectNamespace, "idFromName" | "get"> = {
      idFromName: (name) => env.INSTANCE.idFromName(name),
      get: (id) =>
        new Proxy(env.INSTANCE.get(id), {
          get(target, prop) {
            if (prop === "scheduleOutbox") {
              return async () => {
                lostNudges++;
                throw new Error("the nudge was lost");
              };
            }
            // RPC methods need no `this` (and `.bind` would itself be a remote call).
            return Reflect.get(target, prop) as unknown;
          },
        }),
    };
    const client = new OwnerClient(fetchWithVars({ INSTANCE: lossy }), TEST_ORIGIN, owner.keys);
    client.accessToken = owner.accessToken;

    const res = await client.api("POST", "/api/outbox", { to: peer.actorId, jwe: await sealMessage(peerKey, "nudge lost") });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    expect(lostNudges).toBe(2);
    // No alarm covers the row: without another nudge it would wait forever.
    expect(await inInstance((_i, s) => s.storage.getAlarm())).toBeNull();
    expect(await json<OutboxState>(await client.api("GET", `/api/outbox/${id}`))).toMatchObject({ status: "pending", attempts: 0 });

    // Any later nudge (here: the owner asking for its state) sets the alarm for it.
    expect(await attempted(id, 1)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("refuses a recipient that is not an https actor URL or acct:, and a malformed JWE, with 400", async () => {
    const jwe = await sealMessage(peerKey, "x");
    for (const to of [
      "bob",
      "http://peer.example/users/bob",
      "ftp://peer.example/x",
      "acct:bob",
      "https://10.0.0.1/users/bob",
      "https://peer.example:8443/users/bob",
      `${TEST_ORIGIN}/actor`,
    ]) {
      const res = await post({ to, jwe });
      expect(res.status, to).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    }
    expect((await post({ to: peer.actorId, jwe: "a.b.c.d.e" })).status).toBe(400);
    expect((await post({ to: peer.actorId })).status).toBe(400);
  });

  it("needs the owner's Bearer token", async () => {
    const res = await selfFetch(
      new Request(`${TEST_ORIGIN}/api/outbox`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ to: peer.actorId, jwe: "x" }) }),
    );
    expect(res.status).toBe(401);
    expect((await selfFetch(new Request(`${TEST_ORIGIN}/api/outbox/AAAAAAAAAAAAAAAAAAAAAA`))).status).toBe(401);
  });

  it("answers 404 not_found for an unknown id", async () => {
    for (const id of ["AAAAAAAAAAAAAAAAAAAAAA", "nope"]) {
      const res = await owner.api("GET", `/api/outbox/${id}`);
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ error: "not_found" });
    }
  });
});
