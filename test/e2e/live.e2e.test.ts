/**
 * The live channel (docs/api.md §10) against a real `npm run dev`, with the `ws`
 * package as the client: pushes the owner can decrypt, order across sockets,
 * catch-up after being offline, revocation, refusal before the upgrade, ping/pong,
 * and an idle socket that lets the Durable Object hibernate.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openMessage,
  postMessage,
  publishedEncryptionKey,
  sealMessage,
  type EncJwk,
  type StoredMessage,
} from "../helpers/messages";
import { json, OwnerClient } from "../helpers/owner";
import { nodeFetch, startInstance, type DevServer } from "./devServer";
import { closeFrameReceived, openLiveSocket, refusedUpgrade, type LiveSocket } from "./liveClient";

let server: DevServer;
let owner: OwnerClient;
let key: EncJwk;

beforeAll(async () => {
  server = await startInstance();
  owner = await OwnerClient.create(nodeFetch, server.origin);
  const claim = await owner.claim(server.setupCode);
  if (claim.status !== 201) throw new Error(`claim: ${claim.status} ${await claim.text()}`);
  key = await publishedEncryptionKey(nodeFetch, server.origin);
});

afterAll(async () => {
  await server?.stop();
});

async function send(text: string, from?: string): Promise<number> {
  const res = await postMessage(nodeFetch, server.origin, { jwe: await sealMessage(key, text), ...(from ? { from } : {}) });
  expect(res.status).toBe(202);
  return (await json<{ id: number }>(res)).id;
}

async function connected(device: OwnerClient = owner): Promise<LiveSocket> {
  const socket = await openLiveSocket(server.url, device.accessToken);
  expect(socket.protocol).toBe("indie.v1");
  expect(await socket.frames.expect("hello")).toMatchObject({ sessionId: device.sessionId });
  return socket;
}

async function nextMessage(socket: LiveSocket): Promise<StoredMessage> {
  return (await socket.frames.expect("message")).message as StoredMessage;
}

describe("the live channel on a local instance", () => {
  it("pushes a message a visitor sealed to the published key; the owner decrypts it", async () => {
    const socket = await connected();
    const id = await send("hello over the socket", "acct:visitor@example.net");
    const message = await nextMessage(socket);
    expect(message).toMatchObject({ id, from: "acct:visitor@example.net", verified: false });
    expect(await openMessage(message.jwe, owner.keys.enc.privateKey)).toBe("hello over the socket");
    socket.ws.close(1000);
  });

  it("delivers five messages to two sockets, each in id order", async () => {
    const phone = owner.device();
    expect((await phone.login({ deviceName: "phone" })).status).toBe(200);
    const sockets = [await connected(), await connected(phone)];
    // Sent at once: the POSTs may finish in any order, the pushes may not.
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => send(`message ${i}`)));
    const sorted = [...ids].sort((a, b) => a - b);
    for (const socket of sockets) {
      const received: StoredMessage[] = [];
      for (let i = 0; i < 5; i++) received.push(await nextMessage(socket));
      expect(received.map((m) => m.id)).toEqual(sorted);
      const texts = await Promise.all(received.map((m) => openMessage(m.jwe, owner.keys.enc.privateKey)));
      expect([...texts].sort()).toEqual(["message 0", "message 1", "message 2", "message 3", "message 4"]);
    }
    const listed = await json<{ messages: StoredMessage[] }>(await owner.api("GET", `/api/messages?after=${sorted[0]! - 1}`));
    expect(listed.messages.map((m) => m.id)).toEqual(sorted);
    for (const socket of sockets) socket.ws.close(1000);
  });

  it("catches up after an offline period with GET /api/messages?after=<last id seen>", async () => {
    const first = await connected();
    await send("before going offline");
    const lastSeen = (await nextMessage(first)).id;
    first.ws.close(1000);
    await first.frames.close();

    const missed = [await send("while offline 1"), await send("while offline 2"), await send("while offline 3")];

    // The pattern for clients: open the socket, wait for hello, then page from the
    // last id seen; anything stored after the hello arrives on the socket.
    const again = await connected();
    const caughtUp: StoredMessage[] = [];
    let after = lastSeen;
    for (;;) {
      const page = await json<{ messages: StoredMessage[]; next: number | null }>(
        await owner.api("GET", `/api/messages?after=${after}&limit=2`),
      );
      caughtUp.push(...page.messages);
      if (page.next === null) break;
      after = page.next;
    }
    expect(caughtUp.map((m) => m.id)).toEqual(missed);
    expect(await Promise.all(caughtUp.map((m) => openMessage(m.jwe, owner.keys.enc.privateKey)))).toEqual([
      "while offline 1",
      "while offline 2",
      "while offline 3",
    ]);
    const live = await send("back online");
    expect((await nextMessage(again)).id).toBe(live);
    expect(again.frames.pending()).toEqual([]);
    again.ws.close(1000);
  });

  it("closes a revoked session's socket with revoked and 4403 within a second", async () => {
    const laptop = owner.device();
    expect((await laptop.login({ deviceName: "laptop" })).status).toBe(200);
    const socket = await connected(laptop);
    const started = performance.now();
    expect((await owner.api("DELETE", `/api/sessions/${laptop.sessionId}`)).status).toBe(204);
    expect(await socket.frames.expect("revoked", 1000)).toEqual({ type: "revoked" });
    await closeFrameReceived(socket, 1000);
    expect(performance.now() - started).toBeLessThan(1000);
    // The code comes with ws's close event, once the TCP connection is gone.
    expect((await socket.frames.close(3_000)).code).toBe(4403);
  });

  it("refuses an invalid, missing or revoked token with 401 before upgrading, and a foreign Origin with 403", async () => {
    expect((await refusedUpgrade(server.url, "not-a-token")).status).toBe(401);
    expect((await refusedUpgrade(server.url, undefined, { protocols: ["indie.v1"] })).status).toBe(401);
    const forged = `${owner.accessToken!.slice(0, -6)}AAAAAA`;
    expect((await refusedUpgrade(server.url, forged)).status).toBe(401);
    const gone = owner.device();
    expect((await gone.login()).status).toBe(200);
    expect((await gone.request("POST", "/auth/logout")).status).toBe(204);
    const revoked = await refusedUpgrade(server.url, gone.accessToken);
    expect(revoked.status).toBe(401);
    expect(JSON.parse(revoked.body)).toMatchObject({ error: "session_revoked" });
    expect((await refusedUpgrade(server.url, owner.accessToken, { origin: "https://evil.example" })).status).toBe(403);
    const same = await openLiveSocket(server.url, owner.accessToken, { origin: server.origin });
    await same.frames.expect("hello");
    same.ws.close(1000);
  });

  it("answers ping with pong", async () => {
    const socket = await connected();
    for (let i = 0; i < 3; i++) {
      socket.ws.send("ping");
      expect(await socket.frames.next()).toBe("pong");
    }
    socket.ws.close(1000);
  });

  it("lets the object hibernate under an idle socket: pings wake nothing, the socket outlives the object", async () => {
    // workerd evicts an object 10 s after its last event when only hibernatable
    // sockets remain (as production does). The object logs `instance_started` each
    // time it is constructed, so the server's output shows when it was evicted and
    // woken, and nothing else needs to be exposed.
    const starts = () => (server.output().match(/"event":"instance_started"[^}]*/g) ?? []).length;
    const device = owner.device();
    expect((await device.login()).status).toBe(200);
    const socket = await connected(device);
    // The fresh token for the wake-up frame is fetched now: a refresh later would
    // itself wake the object (it is a Durable Object call) and prove nothing.
    expect((await device.refresh()).status).toBe(200);
    const startsBefore = starts();
    const cpuBefore = server.workerdProcesses().reduce((sum, p) => sum + p.cpuTicks, 0);

    // Idle for 20 s, pinging every 2 s: auto-responses, answered without the object.
    // Twice the 10 s eviction: on a loaded CI machine 14 s was once not enough.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 2_000));
      socket.ws.send("ping");
      expect(await socket.frames.next()).toBe("pong");
    }
    const cpuIdleTicks = server.workerdProcesses().reduce((sum, p) => sum + p.cpuTicks, 0) - cpuBefore;
    expect(starts()).toBe(startsBefore); // no wake-up while idle

    // The socket's own frame is the only event: the object is constructed again
    // (it had been evicted) with the socket still open, and answers on it.
    socket.ws.send(JSON.stringify({ type: "auth", accessToken: device.accessToken }));
    expect(await socket.frames.expect("authed")).toMatchObject({ expiresAt: expect.any(Number) });
    expect(starts()).toBe(startsBefore + 1);
    const lastStart = server.output().match(/"event":"instance_started","sockets":(\d+)/g)!.at(-1)!;
    expect(Number(lastStart.split(":").at(-1))).toBeGreaterThanOrEqual(1);
    const id = await send("after hibernation");
    expect((await nextMessage(socket)).id).toBe(id);
    console.log(`[hibernation] workerd CPU while idle for 20 s with pings: ${cpuIdleTicks} ticks`);
    socket.ws.close(1000);
  });
});
