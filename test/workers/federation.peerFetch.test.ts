/**
 * The bound on a peer's document (docs/federation.md, inbox step 6 and the outbox's
 * recipient lookup): at most 256 KiB is read, counted while reading, so a peer that
 * streams a chunked body with no Content-Length cannot make the Worker buffer it.
 * Peers are fake (stubbed outbound fetch, no network).
 */
import { describe, expect, it } from "vitest";
import { resolveRecipient } from "../../src/federation/delivery";
import { makePeer, useFakeFediverse, signedPost, type Peer } from "../helpers/federation";
import { json } from "../helpers/owner";
import { fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

const INBOX = `${TEST_ORIGIN}/inbox`;
const SELF_ACTOR = `${TEST_ORIGIN}/actor`;
/** The documented bound on a peer's document. */
const MAX = 256 * 1024;
const worker = fetchWithVars({});
const encoder = new TextEncoder();

/**
 * A body served the way a chunked response arrives: pulled piece by piece, with no
 * Content-Length unless `declaredLength` is given. The first bytes are `prefix`, the
 * rest up to `total` are filler. Records how much was pulled and whether the reader
 * cancelled.
 */
class StreamedBody {
  pulled = 0;
  cancelled = false;
  readonly prefix: Uint8Array;
  constructor(
    prefix: Uint8Array | string,
    readonly total: number,
    readonly chunk = 10_000,
    readonly declaredLength?: number,
  ) {
    this.prefix = typeof prefix === "string" ? encoder.encode(prefix) : prefix;
  }

  get finished(): boolean {
    return this.pulled >= this.total;
  }

  response(): Response {
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (this.pulled >= this.total) {
          controller.close();
          return;
        }
        const n = Math.min(this.chunk, this.total - this.pulled);
        const piece = new Uint8Array(n).fill(0x61);
        const fromPrefix = this.prefix.subarray(this.pulled, this.pulled + n);
        piece.set(fromPrefix);
        this.pulled += n;
        controller.enqueue(piece);
      },
      cancel: () => {
        this.cancelled = true;
      },
    });
    const headers: Record<string, string> = { "content-type": "application/activity+json" };
    if (this.declaredLength !== undefined) headers["content-length"] = String(this.declaredLength);
    return new Response(stream, { status: 200, headers });
  }
}

/** `doc` as JSON padded (in `summary`) to exactly `size` bytes. */
function paddedTo(doc: Record<string, unknown>, size: number): Uint8Array {
  const bare = encoder.encode(JSON.stringify({ ...doc, summary: "" })).byteLength;
  const bytes = encoder.encode(JSON.stringify({ ...doc, summary: "x".repeat(size - bare) }));
  expect(bytes.byteLength).toBe(size);
  return bytes;
}

const follow = (peer: Peer) => ({ type: "Follow", actor: peer.actorId, object: SELF_ACTOR });

const net = useFakeFediverse();

describe("POST /inbox with a key document that is too large", () => {
  it("refuses a chunked key document with no Content-Length (401, as for a declared one), cancelling it past 256 KiB", async () => {
    // Anyone can get this far: a valid Date and Digest need no key.
    const peer = await makePeer("https://endless.example/users/mallory");
    const body = new StreamedBody("", 64 * 1024 * 1024);
    net.respond(peer.actorId, () => body.response());
    const res = await worker(await signedPost(peer, INBOX, follow(peer)));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Signature /);
    const answer = await json(res);
    expect(answer).toMatchObject({ error: "unauthorized", message: expect.stringContaining("keyId could not be fetched") });
    expect(body.cancelled).toBe(true);
    expect(body.finished).toBe(false);
    // Read up to the bound, plus the chunk that crossed it and at most one pulled ahead.
    expect(body.pulled).toBeLessThanOrEqual(MAX + 2 * body.chunk);

    // The same answer as a key document whose Content-Length declares it too large.
    const declared = await makePeer("https://declared.example/users/mallory");
    const declaredBody = new StreamedBody("", MAX + 1, 10_000, MAX + 1);
    net.respond(declared.actorId, () => declaredBody.response());
    const declaredRes = await worker(await signedPost(declared, INBOX, follow(declared)));
    expect(declaredRes.status).toBe(401);
    expect(await json(declaredRes)).toEqual(answer);
    // Refused unread: only what the stream queued on its own before anyone read.
    expect(declaredBody.cancelled).toBe(true);
    expect(declaredBody.pulled).toBeLessThanOrEqual(declaredBody.chunk);
  });

  it("refuses a body whose Content-Length understates it, counting the bytes that arrive", async () => {
    const peer = await makePeer("https://liar.example/users/mallory");
    const body = new StreamedBody("", 4 * 1024 * 1024, 10_000, 100);
    net.respond(peer.actorId, () => body.response());
    const res = await worker(await signedPost(peer, INBOX, follow(peer)));
    expect(res.status).toBe(401);
    expect(body.cancelled).toBe(true);
    expect(body.finished).toBe(false);
  });

  it("accepts a chunked actor document of exactly 256 KiB, and refuses one of 256 KiB + 1 byte", async () => {
    const peer = await makePeer("https://big.example/users/alice");
    const body = new StreamedBody(paddedTo(peer.actor, MAX), MAX);
    net.respond(peer.actorId, () => body.response());
    const res = await worker(await signedPost(peer, INBOX, follow(peer)));
    expect(res.status).toBe(202);
    expect(body.finished).toBe(true);

    const over = await makePeer("https://bigger.example/users/alice");
    const overBody = new StreamedBody(paddedTo(over.actor, MAX + 1), MAX + 1);
    net.respond(over.actorId, () => overBody.response());
    const overRes = await worker(await signedPost(over, INBOX, follow(over)));
    expect(overRes.status).toBe(401);
    expect(overBody.cancelled).toBe(true);
  });

  it("refuses a key document that is not UTF-8", async () => {
    const peer = await makePeer("https://latin1.example/users/alice");
    const text = JSON.stringify({ ...peer.actor, summary: "caf\u00e9" });
    const bytes = encoder.encode(text);
    // "é" as Latin-1 (0xE9) followed by '"': not a UTF-8 sequence.
    const at = bytes.indexOf(0xc3);
    const latin1 = new Uint8Array([...bytes.subarray(0, at), 0xe9, ...bytes.subarray(at + 2)]);
    net.respond(peer.actorId, () => new Response(latin1, { status: 200, headers: { "content-type": "application/activity+json" } }));
    const res = await worker(await signedPost(peer, INBOX, follow(peer)));
    expect(res.status).toBe(401);
  });
});

describe("the outbox's recipient lookup with a document that is too large", () => {
  const policy = { allowInsecure: false };

  it("does not resolve an actor whose document streams past 256 KiB, and cancels it", async () => {
    const actor = "https://endless.example/users/bob";
    const body = new StreamedBody(`{"id":"${actor}","inbox":"${actor}/inbox","summary":"`, 64 * 1024 * 1024);
    net.respond(actor, () => body.response());
    expect(await resolveRecipient(actor, policy)).toBe(`could not fetch the actor ${actor}`);
    expect(body.cancelled).toBe(true);
    expect(body.pulled).toBeLessThanOrEqual(MAX + 2 * body.chunk);
  });

  it("does not resolve an acct: whose WebFinger answer streams past 256 KiB, and cancels it", async () => {
    const body = new StreamedBody(`{"subject":"acct:bob@endless.example","links":[`, 64 * 1024 * 1024);
    net.respond("https://endless.example/.well-known/webfinger?resource=acct%3Abob%40endless.example", () => body.response());
    expect(await resolveRecipient("acct:bob@endless.example", policy)).toBe(
      "WebFinger for acct:bob@endless.example names no ActivityPub actor",
    );
    expect(body.cancelled).toBe(true);
    expect(body.pulled).toBeLessThanOrEqual(MAX + 2 * body.chunk);
  });
});
