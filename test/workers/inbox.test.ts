/**
 * docs/api.md §11, POST /inbox, inside workerd. Peers are fake: RSA actors made in
 * the test whose documents the stubbed outbound fetch serves (no network).
 */
import { env } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PEER_KEY_REFETCH_COOLDOWN_MS } from "../../src/domain/peerFetch";
import { sha256Base64url } from "../../src/lib/bytes";
import { makePeer, useFakeFediverse, signedPost, signedPost9421, type Peer } from "../helpers/federation";
import { openMessage, publishedEncryptionKey, sealMessage, type EncJwk, type StoredMessage } from "../helpers/messages";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, connectLive, fetchWithVars, selfFetch, objectRows, TEST_ORIGIN } from "../helpers/workers";

const INBOX = `${TEST_ORIGIN}/inbox`;
const SELF_ACTOR = `${TEST_ORIGIN}/actor`;
const worker = fetchWithVars({});
type Page = { messages: StoredMessage[]; next: number | null };

const net = useFakeFediverse();

/** Makes the cached key of `keyId` look fetched `ageMs` earlier (the refetch cooldown counts from then). */
async function ageCachedPeerKey(keyId: string, ageMs: number): Promise<void> {
  const kvKey = `fedkey:v1:${await sha256Base64url(keyId)}`;
  const entry = await env.CACHE.get<{ fetchedAtMs?: number }>(kvKey, "json");
  if (!entry) throw new Error(`no cached key for ${keyId}`);
  await env.CACHE.put(kvKey, JSON.stringify({ ...entry, fetchedAtMs: (entry.fetchedAtMs ?? Date.now()) - ageMs }));
}

const encryptedCreate = (peer: Peer, jwe: string) => ({
  "@context": "https://www.w3.org/ns/activitystreams",
  id: `${peer.actorId}/activities/${crypto.randomUUID()}`,
  type: "Create",
  actor: peer.actorId,
  to: [SELF_ACTOR],
  object: { type: "Note", attributedTo: peer.actorId, to: [SELF_ACTOR], mediaType: "application/jose", content: jwe },
});

const directNote = (peer: Peer, content: string, extra: Record<string, unknown> = {}) => ({
  "@context": "https://www.w3.org/ns/activitystreams",
  id: `${peer.actorId}/activities/${crypto.randomUUID()}`,
  type: "Create",
  actor: peer.actorId,
  to: [SELF_ACTOR],
  object: {
    id: `${peer.actorId}/notes/1`,
    type: "Note",
    attributedTo: peer.actorId,
    to: [SELF_ACTOR],
    content,
    published: "2026-11-22T12:00:00Z",
    ...extra,
  },
});

describe("POST /inbox before the instance is claimed", () => {
  it("verifies the signature, then answers 404 not_claimed for a message", async () => {
    const peer = await makePeer("https://early.example/users/bob");
    net.serve(peer.actorId, peer.actor);
    const res = await worker(await signedPost(peer, INBOX, directNote(peer, "hi")));
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: "not_claimed" });
  });
});

describe("POST /inbox", () => {
  let owner: OwnerClient;
  let key: EncJwk;
  let peer: Peer;
  beforeAll(async () => {
    owner = await claimedOwner();
    key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    peer = await makePeer();
  });
  beforeEach(() => net.serve(peer.actorId, peer.actor));

  const stored = async (id: number) => {
    const page = await json<Page>(await owner.api("GET", `/api/messages?after=${id - 1}&limit=1`));
    return page.messages[0]!;
  };

  it("stores a signed EncryptedMessage as is, verified, from the signing actor", async () => {
    const jwe = await sealMessage(key, "sealed by the sender");
    const res = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, jwe)));
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    expect(await stored(id)).toEqual({ id, receivedAt: expect.any(Number), from: peer.actorId, jwe, verified: true });
    expect(await openMessage(jwe, owner.keys.enc.privateKey)).toBe("sealed by the sender");
    expect(net.requests).toEqual([peer.actorId]);
  });

  it("seals a plaintext direct Note to the owner's key on arrival; only ciphertext is stored", async () => {
    const res = await worker(await signedPost(peer, INBOX, directNote(peer, "<p>plain hello</p>")));
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    const message = await stored(id);
    expect(message).toMatchObject({ id, from: peer.actorId, verified: true });
    expect(message.jwe).not.toContain("plain hello");
    const header = JSON.parse(atob(message.jwe.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: key.kid });
    const note = JSON.parse(await openMessage(message.jwe, owner.keys.enc.privateKey)) as Record<string, unknown>;
    expect(note).toEqual({
      type: "Note",
      from: peer.actorId,
      id: `${peer.actorId}/notes/1`,
      content: "<p>plain hello</p>",
      published: "2026-11-22T12:00:00Z",
    });
    const rows = await objectRows("SELECT jwe FROM messages WHERE jwe LIKE '%plain hello%'");
    expect(rows).toEqual([]);
  });

  it("uses the cached key for the next delivery (no second fetch)", async () => {
    const jwe = await sealMessage(key, "again");
    expect((await worker(await signedPost(peer, INBOX, encryptedCreate(peer, jwe)))).status).toBe(202);
    expect(net.requests).toEqual([]);
  });

  it("refetches the key once when the cached one fails (the peer rotated), then accepts", async () => {
    // A minute after the last fetch: within the cooldown the cached key alone decides.
    await ageCachedPeerKey(peer.keyId, PEER_KEY_REFETCH_COOLDOWN_MS);
    const rotated = await makePeer(peer.actorId);
    net.serve(peer.actorId, rotated.actor);
    const res = await worker(await signedPost(rotated, INBOX, encryptedCreate(rotated, await sealMessage(key, "new key"))));
    expect(res.status).toBe(202);
    expect(net.requests).toEqual([peer.actorId]);
    peer = rotated;
  });

  it("accepts a key document as keyId (id, owner, publicKeyPem) whose owner's actor lists the key", async () => {
    const other = await makePeer("https://keys.example/users/carol");
    const keyId = "https://keys.example/keys/carol";
    net.serve(keyId, { id: keyId, owner: other.actorId, publicKeyPem: other.publicKeyPem });
    net.serve(other.actorId, { ...other.actor, publicKey: { id: keyId, owner: other.actorId, publicKeyPem: other.publicKeyPem } });
    const res = await worker(await signedPost(other, INBOX, encryptedCreate(other, await sealMessage(key, "via key doc")), { keyId }));
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    expect((await stored(id)).from).toBe(other.actorId);
  });

  it("accepts hs2019 with an RSA key", async () => {
    const res = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "hs2019")), { algorithm: "hs2019" }));
    expect(res.status).toBe(202);
  });

  it("acknowledges other verified activities (Follow, public notes) with 202 and stores nothing", async () => {
    const before = await json<Page>(await owner.api("GET", "/api/messages?limit=100"));
    const follow = { type: "Follow", actor: peer.actorId, object: SELF_ACTOR };
    expect((await worker(await signedPost(peer, INBOX, follow))).status).toBe(202);
    const publicNote = directNote(peer, "to everyone", { to: ["https://www.w3.org/ns/activitystreams#Public"] });
    expect((await worker(await signedPost(peer, INBOX, publicNote))).status).toBe(202);
    expect(await json<Page>(await owner.api("GET", "/api/messages?limit=100"))).toEqual(before);
  });

  describe("refuses with 401 unauthorized", () => {
    const expect401 = async (request: Request) => {
      const res = await worker(request);
      expect(res.status).toBe(401);
      expect(await json(res)).toMatchObject({ error: "unauthorized" });
      expect(res.headers.get("www-authenticate")).toMatch(/^Signature /);
    };

    it("an unsigned request, without fetching anything", async () => {
      await expect401(new Request(INBOX, { method: "POST", headers: { "content-type": "application/activity+json" }, body: "{}" }));
      expect(net.requests).toEqual([]);
    });

    it("a signature by another key (after one refetch, then none within the cooldown)", async () => {
      await ageCachedPeerKey(peer.keyId, PEER_KEY_REFETCH_COOLDOWN_MS);
      const impostor = await makePeer(peer.actorId);
      await expect401(await signedPost(impostor, INBOX, encryptedCreate(impostor, await sealMessage(key, "x"))));
      expect(net.requests).toEqual([peer.actorId]);
      await expect401(await signedPost(impostor, INBOX, encryptedCreate(impostor, await sealMessage(key, "y"))));
      expect(net.requests).toEqual([peer.actorId]);
    });

    it("a body changed after signing (Digest mismatch)", async () => {
      await expect401(await signedPost(peer, INBOX, directNote(peer, "original"), { tamperBody: JSON.stringify(directNote(peer, "forged")) }));
    });

    it("a Digest recomputed for a changed body (the signature covers it)", async () => {
      const forged = JSON.stringify(directNote(peer, "forged"));
      const digest = `SHA-256=${btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(forged)))))}`;
      const request = await signedPost(peer, INBOX, directNote(peer, "original"));
      const headers = new Headers(request.headers);
      headers.set("digest", digest);
      await expect401(new Request(INBOX, { method: "POST", headers, body: forged }));
    });

    it("a signature that does not cover digest, or host", async () => {
      await expect401(await signedPost(peer, INBOX, directNote(peer, "x"), { components: ["(request-target)", "host", "date"] }));
      await expect401(await signedPost(peer, INBOX, directNote(peer, "x"), { components: ["(request-target)", "date", "digest"] }));
    });

    it("a Date more than 12 h old or more than 1 h ahead", async () => {
      await expect401(await signedPost(peer, INBOX, directNote(peer, "x"), { date: new Date(Date.now() - 13 * 3600_000) }));
      await expect401(await signedPost(peer, INBOX, directNote(peer, "x"), { date: new Date(Date.now() + 2 * 3600_000) }));
    });

    it("a request signed for another inbox (request-target)", async () => {
      const request = await signedPost(peer, `${TEST_ORIGIN}/other-inbox`, directNote(peer, "x"));
      await expect401(new Request(INBOX, { method: "POST", headers: request.headers, body: await request.text() }));
    });

    it("an http:// keyId unless ALLOW_INSECURE_FEDERATION=1", async () => {
      const local = await makePeer("http://127.0.0.1:9601/actor");
      net.serve(local.actorId, local.actor);
      const activity = encryptedCreate(local, await sealMessage(key, "from loopback"));
      await expect401(await signedPost(local, INBOX, activity));
      expect(net.requests).toEqual([]);
      const insecure = fetchWithVars({ ALLOW_INSECURE_FEDERATION: "1" });
      expect((await insecure(await signedPost(local, INBOX, activity))).status).toBe(202);
    });

    it("an activity whose actor is not the signer", async () => {
      const mallory = await makePeer("https://mallory.example/users/m");
      net.serve(mallory.actorId, mallory.actor);
      await expect401(await signedPost(mallory, INBOX, encryptedCreate(peer, await sealMessage(key, "as alice"))));
    });

    it("a key document that claims an owner on another origin", async () => {
      const keyId = "https://evil.example/keys/1";
      net.serve(keyId, { id: keyId, owner: peer.actorId, publicKeyPem: peer.publicKeyPem });
      await expect401(await signedPost(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "x")), { keyId }));
    });

    it("a keyId nobody serves", async () => {
      await expect401(await signedPost(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "x")), { keyId: "https://gone.example/actor#main-key" }));
    });
  });

  describe("refuses with 400 invalid_request", () => {
    const expect400 = async (request: Request) => {
      const res = await worker(request);
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    };

    it("a signed body that is not JSON, or not an activity", async () => {
      await expect400(await signedPost(peer, INBOX, "not json"));
      await expect400(await signedPost(peer, INBOX, [1, 2]));
      await expect400(await signedPost(peer, INBOX, { actor: peer.actorId }));
    });

    it("an EncryptedMessage whose JWE is malformed or sealed to another key", async () => {
      await expect400(await signedPost(peer, INBOX, encryptedCreate(peer, "a.b.c.d.e")));
      const wrongKey = await sealMessage({ ...key, kid: "not-the-owner" } as EncJwk, "x");
      await expect400(await signedPost(peer, INBOX, encryptedCreate(peer, wrongKey)));
    });

    it("a Create without an embedded object", async () => {
      await expect400(await signedPost(peer, INBOX, { type: "Create", actor: peer.actorId, object: `${peer.actorId}/notes/9` }));
    });
  });

  describe("RFC 9421 HTTP Message Signatures", () => {
    it("accepts a delivery signed with Signature-Input / Signature and Content-Digest", async () => {
      const jwe = await sealMessage(key, "signed the new way");
      const res = await worker(await signedPost9421(peer, INBOX, encryptedCreate(peer, jwe)));
      expect(res.status).toBe(202);
      const { id } = await json<{ id: number }>(res);
      expect(await stored(id)).toMatchObject({ from: peer.actorId, jwe, verified: true });
    });

    it("accepts @authority with @path as the target", async () => {
      const request = await signedPost9421(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "x")), {
        components: ["@method", "@authority", "@path", "content-digest"],
      });
      expect((await worker(request)).status).toBe(202);
    });

    it("refuses a changed body, a missing content-digest component, an old created, and another algorithm with 401", async () => {
      const activity = encryptedCreate(peer, await sealMessage(key, "x"));
      const refusals = [
        await signedPost9421(peer, INBOX, activity, { tamperBody: JSON.stringify({ ...activity, id: "other" }) }),
        await signedPost9421(peer, INBOX, activity, { components: ["@method", "@target-uri"] }),
        await signedPost9421(peer, INBOX, activity, { created: Math.floor(Date.now() / 1000) - 13 * 3600 }),
        await signedPost9421(peer, INBOX, activity, { alg: "rsa-pss-sha512" }),
        await signedPost9421(peer, `${TEST_ORIGIN}/elsewhere`, activity),
      ];
      for (const [i, original] of refusals.entries()) {
        const request = new Request(INBOX, { method: "POST", headers: original.headers, body: await original.text() });
        const res = await worker(request);
        expect(res.status, `case ${i}`).toBe(401);
        expect(await json(res)).toMatchObject({ error: "unauthorized" });
      }
    });
  });

  it("pushes an inbox message to the owner's open socket like POST /messages", async () => {
    const { ws, frames } = await connectLive(owner.accessToken);
    await frames.expect("hello");
    const res = await worker(await signedPost(peer, INBOX, encryptedCreate(peer, await sealMessage(key, "live"))));
    const { id } = await json<{ id: number }>(res);
    const frame = await frames.expect("message");
    expect(frame.message).toMatchObject({ id, from: peer.actorId, verified: true });
    ws.close(1000);
  });
});
