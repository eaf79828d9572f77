/**
 * The instance object's one alarm serves two masters: the live channel's token
 * deadlines (docs/api.md §10) and the federation outbox's deliveries (§11). The
 * outbox awaits the network, up to tens of seconds with slow peers; these tests
 * check that it never holds up token_expired / 4401, neither for a socket that is
 * already due when the alarm starts nor for one that comes due while a delivery
 * hangs, and that a failing outbox run neither stops the sockets' deadlines nor
 * leaves the object without its next alarm.
 *
 * Sockets' expiries are backdated in their attachments (the runtime fires the
 * alarm by itself), rather than waiting out real 900 s tokens. Margins are wide:
 * what matters is "before the hanging delivery is released", not how soon.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { SocketGrant } from "../../src/domain/liveChannel";
import { FakeFediverse, makePeer, type Peer } from "../helpers/federation";
import { FrameQueue, sealMessage, type EncJwk } from "../helpers/messages";
import { json, makeKeyPair, type OwnerClient } from "../helpers/owner";
import { claimedOwner, connectLive, inInstance } from "../helpers/workers";

interface Socket {
  ws: WebSocket;
  frames: FrameQueue;
  hello: Record<string, unknown>;
  sessionId: string;
}

let owner: OwnerClient;
let peer: Peer;
let peerKey: EncJwk;
let net: FakeFediverse;
/** Resolves the peer's inbox, which hangs until then. */
let releaseInbox: (status: number) => void;
let inboxHit: boolean;

beforeAll(async () => {
  owner = await claimedOwner();
  peer = await makePeer("https://slow.example/users/carol");
  peerKey = (await makeKeyPair("enc")).publicJwk as EncJwk;
});

beforeEach(async () => {
  inboxHit = false;
  const gate = new Promise<number>((resolve) => (releaseInbox = resolve));
  net = new FakeFediverse();
  net.serve(peer.actorId, peer.actor);
  // A peer that takes the connection and does not answer: only the test lets it
  // (our own 15 s delivery timeout is not in play, the fake ignores the signal).
  net.inbox(`${peer.actorId}/inbox`, async () => {
    inboxHit = true;
    return new Response(null, { status: await gate });
  });
  vi.spyOn(globalThis, "fetch").mockImplementation(net.fetch);
});

afterEach(() => {
  releaseInbox(202);
  vi.restoreAllMocks();
});

async function openSocket(): Promise<Socket> {
  const device = owner.device();
  expect((await device.login()).status).toBe(200);
  const { ws, frames } = await connectLive(device.accessToken);
  const hello = await frames.expect("hello");
  return { ws, frames, hello, sessionId: device.sessionId! };
}

/** Moves a socket's token expiry, as if it had been opened or re-authed with another token. */
async function setExpiry(socket: Socket, expiresAtMs: number, warned: boolean): Promise<void> {
  await inInstance((_i, state) => {
    const [ws] = state.getWebSockets(socket.sessionId);
    const grant = ws!.deserializeAttachment() as SocketGrant;
    ws!.serializeAttachment({ ...grant, expiresAtMs, warned } satisfies SocketGrant);
  });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const outboxStatus = async (id: string) => (await json<{ status: string }>(await owner.api("GET", `/api/outbox/${id}`))).status;
const alarmAt = () => inInstance((_i, state) => state.storage.getAlarm());

describe("the shared alarm", () => {
  it("meets socket deadlines while an outbox delivery hangs: the due ones first, later ones on time", { timeout: 60_000 }, async () => {
    const steady = await openSocket(); // a normal 900 s token: nothing due during this test
    const overdue = await openSocket();
    const soon = await openSocket();
    await setExpiry(overdue, Date.now() - 1_000, true);

    // The owner sends to the slow peer: the object's alarm runs at once and hangs in
    // the delivery. The overdue socket must not wait for it.
    const res = await owner.api("POST", "/api/outbox", { to: peer.actorId, jwe: await sealMessage(peerKey, "slow") });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    await waitFor("the delivery to reach the slow peer", () => inboxHit);
    expect(await overdue.frames.expect("token_expired", 10_000)).toEqual({ type: "token_expired" });
    expect((await overdue.frames.close(10_000)).code).toBe(4401);

    // A token that expires while the delivery still hangs is closed at its expiry,
    // not when the delivery ends.
    const soonExpiresAt = Date.now() + 2_000;
    await setExpiry(soon, soonExpiresAt, true);
    expect(await soon.frames.expect("token_expired", 15_000)).toEqual({ type: "token_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(soonExpiresAt);
    expect((await soon.frames.close(10_000)).code).toBe(4401);
    expect(await outboxStatus(id)).toBe("pending"); // all this while the delivery hung

    // The delivery ends; the alarm is the remaining socket's deadline again.
    releaseInbox(202);
    await waitFor("the delivery to be recorded", async () => (await outboxStatus(id)) === "delivered");
    await waitFor("the next alarm to be set", async () => (await alarmAt()) === (steady.hello.expiresAt as number) - 60_000);
    expect(steady.frames.pending()).toEqual([]);
    expect(steady.ws.readyState).toBe(1); // OPEN
    steady.ws.close(1000);
  });

  // The real onAlarm is async, so it can only reject; a synchronous throw stands for
  // any bug between the alarm and the outbox's first await.
  it.for([
    ["rejects", async () => {
      throw new Error("outbox down");
    }],
    ["throws", () => {
      throw new Error("outbox bug");
    }],
  ] as const)("still closes expired sockets and sets the next alarm when the outbox run %s", { timeout: 60_000 }, async ([, failing]) => {
    const steady = await openSocket();
    const overdue = await openSocket();
    await setExpiry(overdue, Date.now() - 1_000, true);
    await inInstance((instance) => {
      (instance as unknown as { outbox: { onAlarm: unknown } }).outbox.onAlarm = failing;
    });
    try {
      const before = Date.now();
      await inInstance((_i, state) => state.storage.setAlarm(Date.now()));
      expect(await overdue.frames.expect("token_expired", 10_000)).toEqual({ type: "token_expired" });
      expect((await overdue.frames.close(10_000)).code).toBe(4401);
      // The outbox is retried in a minute (earlier than the steady socket's deadline).
      let next: number | null = null;
      await waitFor("the next alarm to be set", async () => {
        next = await alarmAt();
        return next !== null && next >= before + 60_000;
      });
      expect(next!).toBeLessThanOrEqual(Date.now() + 60_000);
      expect(steady.frames.pending()).toEqual([]);
    } finally {
      await inInstance((instance) => {
        delete (instance as unknown as { outbox: { onAlarm?: unknown } }).outbox.onAlarm; // back to the prototype's
      });
    }
    steady.ws.close(1000);
  });
});
