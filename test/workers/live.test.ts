/**
 * docs/api.md §10 inside workerd: the Worker authenticates the upgrade, the
 * instance's Durable Object holds the socket, pushes stored messages in id order,
 * and closes a revoked session's sockets at once. Token expiry, hibernation and the
 * `ws` client are covered end to end in test/e2e/live.e2e.test.ts.
 */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openMessage, postMessage, publishedEncryptionKey, sealMessage, type EncJwk, type StoredMessage } from "../helpers/messages";
import { json, type OwnerClient } from "../helpers/owner";
import { enrolTotp } from "../helpers/twoFactor";
import type { SocketGrant } from "../../src/domain/liveChannel";
import { advanceClock } from "../helpers/clock";
import { claimedOwner, connectLive, inInstance, selfFetch, TEST_ORIGIN } from "../helpers/workers";

type Socket = Awaited<ReturnType<typeof connectLive>>;

function upgradeHeaders(protocols: string | null, extra: Record<string, string> = {}): Record<string, string> {
  return { Upgrade: "websocket", ...(protocols === null ? {} : { "Sec-WebSocket-Protocol": protocols }), ...extra };
}

let owner: OwnerClient;
let key: EncJwk;
beforeAll(async () => {
  owner = await claimedOwner();
  key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
});

describe("opening the live channel", () => {
  it("answers 101 selecting indie.v1 and says hello with the session and the token's expiry", async () => {
    const { frames, response, ws } = await connectLive(owner.accessToken);
    expect(response.headers.get("sec-websocket-protocol")).toBe("indie.v1");
    const hello = await frames.expect("hello");
    expect(hello).toEqual({ type: "hello", sessionId: owner.sessionId, expiresAt: expect.any(Number) });
    expect(hello.expiresAt as number).toBeGreaterThan(Date.now());
    ws.close(1000, "done");
  });

  it("refuses a missing, invalid or revoked token with 401 before upgrading", async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ["no token", upgradeHeaders("indie.v1")],
      ["garbage token", upgradeHeaders("indie.v1, bearer.not-a-token")],
      ["token of another signer", upgradeHeaders(`indie.v1, bearer.${owner.accessToken!.slice(0, -4)}AAAA`)],
    ];
    for (const [name, headers] of cases) {
      const res = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, { headers });
      expect(res.status, name).toBe(401);
      expect(res.webSocket, name).toBeNull();
    }
    const gone = owner.device();
    await gone.login();
    expect((await owner.api("DELETE", `/api/sessions/${gone.sessionId}`)).status).toBe(204);
    const res = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, { headers: upgradeHeaders(`indie.v1, bearer.${gone.accessToken}`) });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "session_revoked" });
  });

  it("refuses a foreign page's Origin with 403, and a missing indie.v1 or upgrade with 400", async () => {
    const foreign = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, {
      headers: upgradeHeaders(`indie.v1, bearer.${owner.accessToken}`, { origin: "https://evil.example" }),
    });
    expect(foreign.status).toBe(403);
    const noProtocol = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, { headers: upgradeHeaders(`bearer.${owner.accessToken}`) });
    expect(noProtocol.status).toBe(400);
    const plain = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, { headers: { authorization: `Bearer ${owner.accessToken}` } });
    expect(plain.status).toBe(400);
    const same = await connectLive(owner.accessToken, { origin: TEST_ORIGIN });
    await same.frames.expect("hello");
    same.ws.close(1000);
  });

  it("is the same route with a trailing slash (the router takes it as one)", async () => {
    const slashed = await SELF.fetch(`${TEST_ORIGIN}/api/ws/`, { headers: upgradeHeaders(`indie.v1, bearer.${owner.accessToken}`) });
    expect(slashed.status).toBe(101);
    slashed.webSocket!.accept();
    slashed.webSocket!.close(1000);
  });
});

describe("pushing messages", () => {
  it("pushes a stored message; the owner decrypts it and finds the same message in GET /api/messages", async () => {
    const { frames, ws } = await connectLive(owner.accessToken);
    await frames.expect("hello");
    const jwe = await sealMessage(key, "live hello");
    const { id } = await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe, from: "a friend" }));
    const frame = await frames.expect("message");
    const message = frame.message as StoredMessage;
    expect(message).toEqual({ id, receivedAt: expect.any(Number), from: "a friend", jwe, verified: false });
    expect(await openMessage(message.jwe, owner.keys.enc.privateKey)).toBe("live hello");
    const page = await json<{ messages: StoredMessage[] }>(await owner.api("GET", `/api/messages?after=${id - 1}`));
    expect(page.messages[0]).toEqual(message);
    ws.close(1000);
  });

  it("pushes concurrent messages to every socket exactly once, in id order", async () => {
    const a = await connectLive(owner.accessToken);
    const other = owner.device();
    await other.login();
    const b = await connectLive(other.accessToken);
    await a.frames.expect("hello");
    await b.frames.expect("hello");
    const posted = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        (await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, `burst ${i}`) }))).id,
      ),
    );
    const sorted = [...posted].sort((x, y) => x - y);
    for (const socket of [a, b]) {
      const seen: number[] = [];
      while (seen.length < posted.length) seen.push(((await socket.frames.expect("message")).message as StoredMessage).id);
      expect(seen).toEqual(sorted);
    }
    // Nothing more: no message was pushed twice.
    await new Promise((r) => setTimeout(r, 200));
    expect(a.frames.pending()).toEqual([]);
    expect(b.frames.pending()).toEqual([]);
    a.ws.close(1000);
    b.ws.close(1000);
  });
});

describe("client frames", () => {
  it("re-authenticates with a fresh token of the same session: authed with the new expiry", async () => {
    const device = owner.device();
    await device.login();
    const { frames, ws } = await connectLive(device.accessToken);
    await frames.expect("hello");
    advanceClock(1_100); // a new token has a later exp (seconds)
    expect((await device.refresh()).status).toBe(200);
    ws.send(JSON.stringify({ type: "auth", accessToken: device.accessToken }));
    const authed = await frames.expect("authed");
    const claims = JSON.parse(atob(device.accessToken!.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { exp: number };
    expect(authed).toEqual({ type: "authed", expiresAt: claims.exp * 1000 });
    ws.close(1000);
  });

  it("closes with 4401 after an error frame when the re-auth token is another session's or invalid", async () => {
    const mine = owner.device();
    await mine.login();
    const theirs = owner.device();
    await theirs.login();
    const s1 = await connectLive(mine.accessToken);
    await s1.frames.expect("hello");
    s1.ws.send(JSON.stringify({ type: "auth", accessToken: theirs.accessToken }));
    expect(await s1.frames.expect("error")).toMatchObject({ error: "unauthorized" });
    expect((await s1.frames.close()).code).toBe(4401);

    const s2 = await connectLive(mine.accessToken);
    await s2.frames.expect("hello");
    s2.ws.send(JSON.stringify({ type: "auth", accessToken: "not.a.token" }));
    expect(await s2.frames.expect("error")).toMatchObject({ error: "unauthorized" });
    expect((await s2.frames.close()).code).toBe(4401);
  });

  it("refuses a re-auth that arrives after the token expired, before the alarm closed the socket: token_expired + 4401", async () => {
    const device = owner.device();
    await device.login();
    const { frames, ws } = await connectLive(device.accessToken);
    const hello = await frames.expect("hello");
    // The token has expired and the object's alarm has not run yet (it is late, or
    // busy): backdate the socket's expiry rather than wait out a 900 s token.
    await inInstance((_i, state) => {
      const [socket] = state.getWebSockets(device.sessionId!);
      const grant = socket!.deserializeAttachment() as SocketGrant;
      socket!.serializeAttachment({ ...grant, expiresAtMs: Date.now() - 1_000, warned: true } satisfies SocketGrant);
    });
    // A message stored now is not pushed to the expired socket...
    const { id } = await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "while expired") }));
    // ...so accepting a late re-auth would let the socket go on without it, and the
    // client's next catch-up (after= the id of a later push) would skip it for good.
    advanceClock(1_100); // a new token has a later exp (seconds)
    expect((await device.refresh()).status).toBe(200);
    ws.send(JSON.stringify({ type: "auth", accessToken: device.accessToken }));
    expect(await frames.next()).toEqual({ type: "token_expired" });
    expect((await frames.close()).code).toBe(4401);
    expect(frames.pending()).toEqual([]);
    // The client reconnects and catches up from the last id it had: the message is there.
    const again = await connectLive(device.accessToken);
    expect((await again.frames.expect("hello")).expiresAt as number).toBeGreaterThan(hello.expiresAt as number);
    const page = await json<{ messages: StoredMessage[] }>(await device.api("GET", `/api/messages?after=${id - 1}`));
    expect(page.messages.map((m) => m.id)).toEqual([id]);
    again.ws.close(1000);
  });

  it("answers a frame it cannot use with an error frame and keeps the socket", async () => {
    const { frames, ws } = await connectLive(owner.accessToken);
    await frames.expect("hello");
    ws.send("{not json");
    expect(await frames.expect("error")).toMatchObject({ error: "invalid_request" });
    ws.send(JSON.stringify({ type: "subscribe" }));
    expect(await frames.expect("error")).toMatchObject({ error: "invalid_request" });
    ws.send("ping");
    expect(await frames.next()).toBe("pong");
    ws.close(1000);
  });
});

describe("revocation", () => {
  async function openedBy(): Promise<{ device: OwnerClient; socket: Socket }> {
    const device = owner.device();
    await device.login();
    const socket = await connectLive(device.accessToken);
    await socket.frames.expect("hello");
    return { device, socket };
  }

  async function expectRevoked(socket: Socket): Promise<void> {
    expect(await socket.frames.expect("revoked", 1000)).toEqual({ type: "revoked" });
    expect((await socket.frames.close(1000)).code).toBe(4403);
  }

  it("DELETE /api/sessions/:id closes that session's sockets with revoked + 4403 and no others", async () => {
    const victim = await openedBy();
    const second = await connectLive(victim.device.accessToken);
    await second.frames.expect("hello");
    const bystander = await openedBy();
    expect((await owner.api("DELETE", `/api/sessions/${victim.device.sessionId}`)).status).toBe(204);
    await expectRevoked(victim.socket);
    await expectRevoked(second);
    bystander.socket.ws.send("ping");
    expect(await bystander.socket.frames.next()).toBe("pong");
    bystander.socket.ws.close(1000);
  });

  it("logout closes the session's sockets", async () => {
    const { device, socket } = await openedBy();
    expect((await device.request("POST", "/auth/logout")).status).toBe(204);
    await expectRevoked(socket);
  });

  it("refresh-token theft closes the session's sockets", async () => {
    const { device, socket } = await openedBy();
    const stolen = device.refreshToken;
    expect((await device.refresh()).status).toBe(200);
    expect((await device.refresh()).status).toBe(200); // the successor is used: `stolen` is now dead
    expect((await device.refresh(stolen)).status).toBe(401);
    await expectRevoked(socket);
  });

  it("DELETE /api/sessions closes every other session's sockets, not the caller's", async () => {
    const caller = await openedBy();
    const others = [await openedBy(), await openedBy()];
    expect((await caller.device.api("DELETE", "/api/sessions")).status).toBe(204);
    for (const other of others) await expectRevoked(other.socket);
    caller.socket.ws.send("ping");
    expect(await caller.socket.frames.next()).toBe("pong");
    caller.socket.ws.close(1000);
  });
  // Last in the file: 2FA stays on afterwards.
  it("turning on 2FA closes every other session's sockets, not the enrolling one's", async () => {
    const enrolling = await openedBy();
    const other = await openedBy();
    await enrolTotp(enrolling.device);
    await expectRevoked(other.socket);
    enrolling.socket.ws.send("ping");
    expect(await enrolling.socket.frames.next()).toBe("pong");
    enrolling.socket.ws.close(1000);
  });
});
