/**
 * One set of limits for every stored message (src/schemas/messageLimits.ts): what the
 * server accepts and stores at any door (POST /messages, POST /inbox with an
 * EncryptedMessage or a Note sealed on arrival), its own export carries and its
 * restore takes back. Each door is pushed to its limit, then the export is checked
 * by the restore's own validation (parseArchive: schema, digest, consistency).
 */
import { CompactEncrypt, importJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { STORED_MESSAGE_LIMITS } from "../../src/schemas/messageLimits";
import { parseArchive } from "../../src/services/archiveRestore";
import { makePeer, signedPost, useFakeFediverse, type Peer } from "../helpers/federation";
import { postMessage, publishedEncryptionKey, sealMessage, type EncJwk } from "../helpers/messages";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const INBOX = `${TEST_ORIGIN}/inbox`;
const SELF_ACTOR = `${TEST_ORIGIN}/actor`;
const net = useFakeFediverse();

let owner: OwnerClient;
let key: EncJwk;

beforeAll(async () => {
  owner = await claimedOwner();
  key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
});

/** A direct Note with exactly this content and nothing the server would copy besides it. */
const bareNote = (peer: Peer, content: string) => ({
  "@context": "https://www.w3.org/ns/activitystreams",
  id: `${peer.actorId}/activities/${crypto.randomUUID()}`,
  type: "Create",
  actor: peer.actorId,
  to: [SELF_ACTOR],
  object: { type: "Note", attributedTo: peer.actorId, to: [SELF_ACTOR], content },
});

/** How long the server's sealed form of such a Note is (src/services/inbox.ts seals {type, from, content}). */
async function sealedLength(from: string, content: string): Promise<number> {
  const plaintext = new TextEncoder().encode(JSON.stringify({ type: "Note", from, content }));
  const jwe = await new CompactEncrypt(plaintext)
    .setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: key.kid })
    .encrypt(await importJWK(key, "ECDH-ES+A256KW"));
  return jwe.length;
}

/** The longest content whose sealed Note from `from` still fits the stored limit. */
async function longestStorableContent(from: string): Promise<number> {
  let lo = 0;
  let hi = STORED_MESSAGE_LIMITS.jweChars;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await sealedLength(from, "a".repeat(mid))) <= STORED_MESSAGE_LIMITS.jweChars) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A peer whose actor URL is exactly `length` characters long. */
async function peerWithActorLength(length: number): Promise<Peer> {
  const prefix = "https://long.example/users/";
  const peer = await makePeer(prefix + "u".repeat(length - prefix.length));
  net.serve(peer.actorId, peer.actor);
  return peer;
}

describe("the limits of a stored message, at every door", () => {
  it("POST /inbox stores the longest Note that seals within the limit, and refuses a longer one with 413", async () => {
    const peer = await peerWithActorLength(STORED_MESSAGE_LIMITS.fromChars);
    const longest = await longestStorableContent(peer.actorId);
    // A Note near the 64 KiB body limit would seal to about 85 KiB: refused, not stored.
    const near64KiB = await selfFetch(await signedPost(peer, INBOX, bareNote(peer, "b".repeat(60_000))));
    expect(near64KiB.status).toBe(413);
    expect(await json(near64KiB)).toMatchObject({ error: "payload_too_large" });
    const over = await selfFetch(await signedPost(peer, INBOX, bareNote(peer, "a".repeat(longest + 1))));
    expect(over.status).toBe(413);

    const fits = await selfFetch(await signedPost(peer, INBOX, bareNote(peer, "a".repeat(longest))));
    expect(fits.status).toBe(202);
    const { id } = await json<{ id: number }>(fits);
    const stored = (await json<{ messages: Array<{ id: number; jwe: string; from: string }> }>(await owner.api("GET", "/api/messages"))).messages;
    const message = stored.find((m) => m.id === id)!;
    expect(message.jwe.length).toBeLessThanOrEqual(STORED_MESSAGE_LIMITS.jweChars);
    expect(message.jwe.length).toBeGreaterThan(STORED_MESSAGE_LIMITS.jweChars - 4);
    expect(message.from).toHaveLength(STORED_MESSAGE_LIMITS.fromChars);
  });

  it("POST /inbox refuses a signer whose actor URL is longer than a stored from may be", async () => {
    const peer = await peerWithActorLength(STORED_MESSAGE_LIMITS.fromChars + 1);
    const res = await selfFetch(await signedPost(peer, INBOX, bareNote(peer, "hello")));
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthorized" });
  });

  it("POST /messages takes a from of the longest stored length and a JWE as long as its body allows", async () => {
    const from = "f".repeat(STORED_MESSAGE_LIMITS.fromChars);
    const jwe = await sealMessage(key, "x".repeat(47_000));
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe, from });
    expect(res.status).toBe(202);
    expect((await postMessage(selfFetch, TEST_ORIGIN, { jwe, from: `${from}f` })).status).toBe(400);
  });

  it("the export holding all of them passes the restore's validation", async () => {
    const res = await owner.api("GET", "/api/export");
    expect(res.status).toBe(200);
    const archive = (await res.json()) as Record<string, unknown> & { messages: unknown[] };
    expect(archive.messages).toHaveLength(2);
    await expect(parseArchive(archive)).resolves.toMatchObject({ digest: archive.digest });
  });
});
