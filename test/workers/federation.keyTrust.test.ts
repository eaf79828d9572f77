/**
 * Which keys may vouch for which actor at POST /inbox, and what a keyId can make the
 * server fetch (src/domain/peerFetch.ts, src/services/federationAuth.ts). Peers are
 * fake: documents served by the stubbed outbound fetch (no network).
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { checkPeerUrl, isActivityPubContentType, isDocumentAt, MAX_PEER_KEY_PEM_CHARS } from "../../src/domain/peerFetch";
import { makePeer, signedPost, useFakeFediverse, type Peer } from "../helpers/federation";
import { json } from "../helpers/owner";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

const INBOX = `${TEST_ORIGIN}/inbox`;
const worker = fetchWithVars({});
const net = useFakeFediverse();
const follow = (actor: string) => ({ type: "Follow", actor, object: `${TEST_ORIGIN}/actor` });

beforeAll(async () => {
  await claimedOwner();
});

async function expect401(request: Request): Promise<void> {
  const res = await worker(request);
  expect(res.status).toBe(401);
  expect(await json(res)).toMatchObject({ error: "unauthorized" });
}

/** Serves `doc` at `url` with this content type. */
function serveAs(url: string, doc: unknown, contentType: string): void {
  net.respond(url, () => new Response(JSON.stringify(doc), { status: 200, headers: { "content-type": contentType } }));
}

describe("a keyId the server will not fetch", () => {
  it("refuses IP literals (any spelling), odd ports, credentials and its own origin, without fetching", async () => {
    const peer = await makePeer();
    for (const keyId of [
      "https://10.0.0.1/actor#main-key",
      "https://169.254.169.254/latest/meta-data#k",
      "https://2130706433/actor#main-key",
      "https://0x7f.1/actor#main-key",
      "https://[::1]/actor#main-key",
      "https://[fd00::1]/actor#main-key",
      "https://peer.example:8443/users/alice#main-key",
      "https://user:pw@peer.example/users/alice#main-key",
      `${TEST_ORIGIN}/actor#main-key`,
      "http://peer.example/users/alice#main-key",
    ]) {
      await expect401(await signedPost(peer, INBOX, follow(peer.actorId), { keyId }));
    }
    expect(net.requests).toEqual([]);
  });

  it("allows loopback http on any port only under ALLOW_INSECURE_FEDERATION", () => {
    const insecure = { allowInsecure: true, selfOrigin: "http://127.0.0.1:8787" };
    expect(checkPeerUrl("http://127.0.0.1:9601/actor", insecure).ok).toBe(true);
    expect(checkPeerUrl("http://localhost:9601/actor", insecure).ok).toBe(true);
    expect(checkPeerUrl("http://127.0.0.1:8787/actor", insecure)).toEqual({ ok: false, reason: "own_origin" });
    expect(checkPeerUrl("http://10.0.0.1:9601/actor", insecure)).toEqual({ ok: false, reason: "scheme" });
    expect(checkPeerUrl("https://10.0.0.1/actor", insecure)).toEqual({ ok: false, reason: "ip_literal" });
    expect(checkPeerUrl("http://127.0.0.1:9601/actor", { allowInsecure: false })).toEqual({ ok: false, reason: "scheme" });
    expect(checkPeerUrl("https://peer.example:443/users/a", { allowInsecure: false }).ok).toBe(true);
    expect(checkPeerUrl(`https://peer.example/${"a".repeat(5000)}`, { allowInsecure: false })).toEqual({ ok: false, reason: "too_long" });
  });

  it("fetches a keyId nobody serves once, then answers from the negative cache", async () => {
    const peer = await makePeer("https://nobody.example/users/ghost");
    await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    expect(net.requests).toEqual([peer.actorId]);
  });

  it("takes no key whose PEM is over MAX_PEER_KEY_PEM_CHARS, and caches nothing of it", async () => {
    const peer = await makePeer("https://huge-key.example/users/a");
    // A valid key padded with whitespace inside the PEM: what a stranger's server can serve.
    const padded = peer.publicKeyPem.replace("\n", "\n" + " ".repeat(MAX_PEER_KEY_PEM_CHARS));
    net.serve(peer.actorId, { ...peer.actor, publicKey: { ...(peer.actor.publicKey as object), publicKeyPem: padded } });
    const before = (await env.CACHE.list({ prefix: "fedkey:v1:" })).keys.length;
    await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    expect((await env.CACHE.list({ prefix: "fedkey:v1:" })).keys.length).toBe(before);
    // Refused as unusable, so the second request was answered from the negative cache.
    expect(net.requests).toEqual([peer.actorId]);
    // The same key within the limit is taken.
    const fine = await makePeer("https://fine-key.example/users/a");
    net.serve(fine.actorId, fine.actor);
    expect(fine.publicKeyPem.length).toBeLessThan(MAX_PEER_KEY_PEM_CHARS);
    expect((await worker(await signedPost(fine, INBOX, follow(fine.actorId)))).status).toBe(202);
  });

  it("fetches a real peer's key once for a stream of bad signatures naming it", async () => {
    const peer = await makePeer("https://real.example/users/alice");
    net.serve(peer.actorId, peer.actor);
    const impostor = await makePeer(peer.actorId);
    for (let i = 0; i < 3; i++) await expect401(await signedPost(impostor, INBOX, follow(peer.actorId)));
    expect(net.requests).toEqual([peer.actorId]);
    // The real peer still gets in, with the key cached by the first refusal.
    expect((await worker(await signedPost(peer, INBOX, follow(peer.actorId)))).status).toBe(202);
    expect(net.requests).toEqual([peer.actorId]);
  });
});

describe("a key document that may not vouch for its actor", () => {
  let victim: Peer;
  let mallory: Peer;
  beforeAll(async () => {
    victim = await makePeer("https://shared.example/users/victim");
    mallory = await makePeer("https://shared.example/users/mallory");
  });

  it("is not served as ActivityPub (application/json, text/html, ld+json without the profile)", async () => {
    for (const [i, type] of ["application/json", "text/html", "application/ld+json"].entries()) {
      const peer = await makePeer(`https://types${i}.example/users/a`);
      serveAs(peer.actorId, peer.actor, type);
      await expect401(await signedPost(peer, INBOX, follow(peer.actorId)));
    }
    const ld = await makePeer("https://ld.example/users/a");
    serveAs(ld.actorId, ld.actor, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"');
    expect((await worker(await signedPost(ld, INBOX, follow(ld.actorId)))).status).toBe(202);
  });

  it("claims an id other than the URL it was fetched from (an uploaded file naming another actor)", async () => {
    const upload = "https://shared.example/uploads/avatar.json";
    const keyId = `${upload}#key`;
    // A user of the shared host uploads a document that says it is the victim's actor.
    net.serve(upload, { id: victim.actorId, type: "Person", publicKey: { id: keyId, owner: victim.actorId, publicKeyPem: mallory.publicKeyPem } });
    net.serve(victim.actorId, victim.actor);
    await expect401(await signedPost(mallory, INBOX, follow(victim.actorId), { keyId, key: mallory.privateKey }));
  });

  it("names an owner whose actor does not list the key (a key document alone vouches for nobody)", async () => {
    const keyId = "https://shared.example/uploads/key.json";
    net.serve(keyId, { id: keyId, owner: victim.actorId, publicKeyPem: mallory.publicKeyPem });
    net.serve(victim.actorId, victim.actor);
    await expect401(await signedPost(mallory, INBOX, follow(victim.actorId), { keyId, key: mallory.privateKey }));
    // An actor document listing a key owned by another actor of its origin is the same claim.
    const actorKeyId = `${mallory.actorId}#victims-key`;
    net.serve(mallory.actorId, { ...mallory.actor, publicKey: { id: actorKeyId, owner: victim.actorId, publicKeyPem: mallory.publicKeyPem } });
    await expect401(await signedPost(mallory, INBOX, follow(victim.actorId), { keyId: actorKeyId, key: mallory.privateKey }));
  });

  it("accepts a stub whose id is its actor (GoToSocial's …/main-key) only through the actor, which lists the key", async () => {
    const gts = await makePeer("https://gts.example/users/dana");
    const keyId = `${gts.actorId}/main-key`;
    const key = { id: keyId, owner: gts.actorId, publicKeyPem: gts.publicKeyPem };
    net.serve(keyId, { id: gts.actorId, type: "Person", publicKey: key });
    net.serve(gts.actorId, { ...gts.actor, publicKey: key });
    expect((await worker(await signedPost(gts, INBOX, follow(gts.actorId), { keyId }))).status).toBe(202);
    expect(net.requests).toEqual([keyId, gts.actorId]);
  });

  it("reads ids as URLs: a fragment of the fetched URL is the same document", () => {
    expect(isDocumentAt("https://host.example/users/x", "https://host.example/users/x")).toBe(true);
    expect(isDocumentAt("https://HOST.example:443/users/x#main-key", "https://host.example/users/x")).toBe(true);
    expect(isDocumentAt("https://host.example/users/y", "https://host.example/users/x")).toBe(false);
    expect(isDocumentAt(undefined, "https://host.example/users/x")).toBe(false);
    expect(isActivityPubContentType("application/activity+json; charset=utf-8")).toBe(true);
    expect(isActivityPubContentType('application/ld+json; profile="https://www.w3.org/ns/activitystreams"')).toBe(true);
    expect(isActivityPubContentType("application/ld+json")).toBe(false);
  });
});
