/**
 * Federation over real sockets (docs/api.md §11): `npm run dev` with
 * ALLOW_INSECURE_FEDERATION=1 and a second local HTTP server (Node, loopback,
 * ports 9600-9699) playing a peer server with one RSA actor. The peer finds the
 * owner with WebFinger, delivers a signed direct Note to /inbox, and receives the
 * owner's outbox message, checking our signature with the key our /actor
 * publishes — the same checks a Mastodon server makes.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDigest, checkSignedRequest, parseSignatureHeader } from "../../src/domain/httpSignatures";
import { pemToDer } from "../../src/lib/federationKey";
import { makePeer, signedPost, type Peer } from "../helpers/federation";
import { makeKeyPair, json, OwnerClient } from "../helpers/owner";
import { openMessage, sealMessage, type EncJwk, type StoredMessage } from "../helpers/messages";
import { makePersistDir, nodeFetch, startInstance, type DevServer } from "./devServer";

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

interface Delivery {
  activity: Record<string, unknown>;
  verified: boolean;
  keyId: string;
}

/** A peer server on loopback: serves its actor, records deliveries to its inbox after checking their signature. */
async function startPeer(): Promise<{ server: Server; origin: string; deliveries: Delivery[]; setPeer(p: Peer): void }> {
  const deliveries: Delivery[] = [];
  let peer: Peer | null = null;
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = new Uint8Array(Buffer.concat(chunks));
    const path = req.url ?? "/";
    if (req.method === "GET" && peer && path === new URL(peer.actorId).pathname) {
      res.writeHead(200, { "content-type": "application/activity+json" }).end(JSON.stringify(peer.actor));
      return;
    }
    if (req.method === "POST" && peer && path === new URL(peer.actorId).pathname + "/inbox") {
      const header = (name: string) => {
        const v = req.headers[name];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
      };
      const sig = parseSignatureHeader(header("signature"));
      let verified = false;
      let keyId = "";
      if (sig.ok) {
        keyId = sig.value.keyId;
        const base = checkSignedRequest(sig.value, { method: req.method, target: path, header }, Date.now());
        const digest = checkDigest(header("digest"), new Uint8Array(await crypto.subtle.digest("SHA-256", body)));
        const actor = (await (await fetch(keyId.split("#")[0]!, { headers: { accept: "application/activity+json" } })).json()) as {
          publicKey: { id: string; publicKeyPem: string };
        };
        if (base.ok && digest.ok && actor.publicKey.id === keyId) {
          const key = await crypto.subtle.importKey("spki", pemToDer(actor.publicKey.publicKeyPem, "PUBLIC KEY")!, RSA, false, ["verify"]);
          verified = await crypto.subtle.verify(RSA, key, sig.value.signature, new TextEncoder().encode(base.value));
        }
      }
      deliveries.push({ activity: JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>, verified, keyId });
      res.writeHead(verified ? 202 : 401).end();
      return;
    }
    res.writeHead(404).end();
  });
  for (let attempt = 0; ; attempt++) {
    const port = 9600 + Math.floor(Math.random() * 100);
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) return { server, origin: `http://127.0.0.1:${port}`, deliveries, setPeer: (p) => (peer = p) };
    if (attempt > 20) throw new Error("no free port in 9600-9699");
  }
}

describe("federation between npm run dev and a peer on loopback", () => {
  const state = makePersistDir();
  let instance: DevServer;
  let peerServer: Awaited<ReturnType<typeof startPeer>>;
  let peer: Peer;
  let owner: OwnerClient;

  beforeAll(async () => {
    peerServer = await startPeer();
    peer = await makePeer(`${peerServer.origin}/users/bob`);
    peerServer.setPeer(peer);
    instance = await startInstance({ persistTo: state.path, vars: { ALLOW_INSECURE_FEDERATION: "1" } });
    owner = await OwnerClient.create(nodeFetch, instance.origin);
    expect((await owner.claim(instance.setupCode)).status).toBe(201);
  });

  afterAll(async () => {
    await instance?.stop();
    await new Promise((r) => peerServer?.server.close(r));
    state.remove();
  });

  it("WebFinger names the actor, and the actor publishes the federation key", async () => {
    const host = new URL(instance.origin).host;
    const jrd = await json<{ links: Array<{ rel: string; href: string }> }>(
      await nodeFetch(new Request(`${instance.origin}/.well-known/webfinger?resource=acct:owner@${host}`)),
    );
    const self = jrd.links.find((l) => l.rel === "self")!;
    expect(self.href).toBe(`${instance.origin}/actor`);
    const actor = await json<{ inbox: string; publicKey: { publicKeyPem: string } }>(
      await nodeFetch(new Request(self.href, { headers: { accept: "application/activity+json" } })),
    );
    expect(actor.inbox).toBe(`${instance.origin}/inbox`);
    expect(actor.publicKey.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it("accepts the peer's signed direct Note over the network, sealed to the owner and verified", async () => {
    const note = {
      type: "Create",
      id: `${peer.actorId}/activities/1`,
      actor: peer.actorId,
      to: [`${instance.origin}/actor`],
      object: { type: "Note", id: `${peer.actorId}/notes/1`, attributedTo: peer.actorId, to: [`${instance.origin}/actor`], content: "hi from loopback" },
    };
    const res = await nodeFetch(await signedPost(peer, `${instance.origin}/inbox`, note));
    expect(res.status).toBe(202);
    const { id } = await json<{ id: number }>(res);
    const page = await json<{ messages: StoredMessage[] }>(await owner.api("GET", `/api/messages?after=${id - 1}&limit=1`));
    expect(page.messages[0]).toMatchObject({ id, from: peer.actorId, verified: true });
    const opened = JSON.parse(await openMessage(page.messages[0]!.jwe, owner.keys.enc.privateKey)) as { content: string };
    expect(opened.content).toBe("hi from loopback");
  });

  it("refuses the same signed request sent again, and stores a re-signed redelivery only once", async () => {
    const note = {
      type: "Create",
      id: `${peer.actorId}/activities/2`,
      actor: peer.actorId,
      to: [`${instance.origin}/actor`],
      object: { type: "Note", attributedTo: peer.actorId, to: [`${instance.origin}/actor`], content: "only once" },
    };
    // Two seconds back, so the re-signed delivery below has another Date.
    const date = new Date((Math.floor(Date.now() / 1000) - 2) * 1000);
    const original = await signedPost(peer, `${instance.origin}/inbox`, note, { date });
    const body = await original.text();
    const copy = () => new Request(original.url, { method: "POST", headers: original.headers, body });
    const first = await nodeFetch(copy());
    expect(first.status).toBe(202);
    const { id } = await json<{ id: number }>(first);
    const replay = await nodeFetch(copy());
    expect(replay.status).toBe(401);
    expect(await json(replay)).toMatchObject({ error: "unauthorized" });
    const redelivery = await nodeFetch(await signedPost(peer, `${instance.origin}/inbox`, note));
    expect(redelivery.status).toBe(202);
    expect(await json(redelivery)).toEqual({ id });
    const after = await json<{ messages: StoredMessage[] }>(await owner.api("GET", `/api/messages?after=${id}&limit=10`));
    expect(after.messages).toEqual([]);
  });

  it("refuses a delivery whose body was changed in transit", async () => {
    const request = await signedPost(peer, `${instance.origin}/inbox`, { type: "Follow", actor: peer.actorId }, { tamperBody: '{"type":"Follow"}' });
    expect((await nodeFetch(request)).status).toBe(401);
  });

  it("delivers the owner's outbox message to the peer, signed with the key the actor publishes", async () => {
    const recipientKey = (await makeKeyPair("enc")).publicJwk as EncJwk;
    const jwe = await sealMessage(recipientKey, "hello bob");
    const res = await owner.api("POST", "/api/outbox", { to: peer.actorId, jwe });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    let status: { status: string; attempts: number; lastError?: string } = { status: "pending", attempts: 0 };
    for (let i = 0; i < 100 && status.status === "pending"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await json(await owner.api("GET", `/api/outbox/${id}`));
    }
    expect(status).toEqual({ id, status: "delivered", attempts: 1 });
    const delivery = peerServer.deliveries.at(-1)!;
    expect(delivery).toMatchObject({ verified: true, keyId: `${instance.origin}/actor#main-key` });
    expect(delivery.activity).toMatchObject({ type: "Create", actor: `${instance.origin}/actor`, object: { mediaType: "application/jose", content: jwe } });
  });
});
