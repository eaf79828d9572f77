/**
 * docs/api.md §11, discovery: WebFinger names the actor, the actor publishes the
 * instance's RSA federation key (the public half of FEDERATION_KEY) and its inbox.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { pemToDer, RSA_SHA256 } from "../../src/lib/federationKey";
import { json } from "../helpers/owner";
import { fetchWithVars, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const HOST = new URL(TEST_ORIGIN).host;
const get = (path: string, headers: Record<string, string> = {}, fetcher = selfFetch) =>
  fetcher(new Request(`${TEST_ORIGIN}${path}`, { headers }));
const webfinger = (resource: string) => get(`/.well-known/webfinger?resource=${encodeURIComponent(resource)}`);

describe("GET /.well-known/webfinger", () => {
  it("answers the owner's acct: with a JRD whose self link is the actor", async () => {
    const res = await webfinger(`acct:owner@${HOST}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/jrd+json");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const jrd = await json<{ subject: string; links: Array<{ rel: string; type?: string; href: string }> }>(res);
    expect(jrd.subject).toBe(`acct:owner@${HOST}`);
    expect(jrd.links).toContainEqual({ rel: "self", type: "application/activity+json", href: `${TEST_ORIGIN}/actor` });
  });

  it("compares the host case-insensitively and accepts the actor URL as resource", async () => {
    expect((await webfinger(`acct:owner@${HOST.toUpperCase()}`)).status).toBe(200);
    expect((await webfinger(`${TEST_ORIGIN}/actor`)).status).toBe(200);
  });

  it("follows OWNER_HANDLE", async () => {
    const fetcher = fetchWithVars({ OWNER_HANDLE: "alice" });
    const res = await get(`/.well-known/webfinger?resource=acct:alice@${HOST}`, {}, fetcher);
    expect(res.status).toBe(200);
    expect((await get(`/.well-known/webfinger?resource=acct:owner@${HOST}`, {}, fetcher)).status).toBe(404);
  });

  it.each([
    ["another user", `acct:someone@${HOST}`],
    ["another host", "acct:owner@elsewhere.example"],
    ["another URL", "https://elsewhere.example/actor"],
  ])("answers 404 not_found for %s", async (_name, resource) => {
    const res = await webfinger(resource);
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: "not_found" });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("answers 400 invalid_request for a missing or malformed resource", async () => {
    for (const path of ["/.well-known/webfinger", "/.well-known/webfinger?resource=", "/.well-known/webfinger?resource=owner", "/.well-known/webfinger?resource=acct:owner"]) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    }
  });
});

describe("GET /actor", () => {
  type Actor = {
    "@context": unknown;
    id: string;
    type: string;
    inbox: string;
    preferredUsername: string;
    publicKey: { id: string; owner: string; publicKeyPem: string };
    jwks_uri: string;
  };

  it("is an ActivityPub actor with its inbox, key and the owner's JWKS", async () => {
    const res = await get("/actor", { accept: "application/activity+json" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/activity+json");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const actor = await json<Actor>(res);
    expect(actor).toMatchObject({
      id: `${TEST_ORIGIN}/actor`,
      type: "Service",
      inbox: `${TEST_ORIGIN}/inbox`,
      preferredUsername: "owner",
      publicKey: { id: `${TEST_ORIGIN}/actor#main-key`, owner: `${TEST_ORIGIN}/actor` },
      jwks_uri: `${TEST_ORIGIN}/.well-known/jwks.json`,
    });
    expect(actor["@context"]).toContain("https://www.w3.org/ns/activitystreams");
  });

  it("honours Accept: application/ld+json with the ActivityStreams profile", async () => {
    const res = await get("/actor", { accept: 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"' });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe('application/ld+json; profile="https://www.w3.org/ns/activitystreams"');
  });

  it("publishes the public half of FEDERATION_KEY: a signature by the secret verifies with publicKeyPem", async () => {
    const { publicKey } = await json<Actor>(await get("/actor"));
    const spki = pemToDer(publicKey.publicKeyPem, "PUBLIC KEY");
    expect(spki).not.toBeNull();
    const verifyKey = await crypto.subtle.importKey("spki", spki!, RSA_SHA256, false, ["verify"]);
    expect((verifyKey.algorithm as { modulusLength: number }).modulusLength).toBe(2048);

    const privateKey = await crypto.subtle.importKey("pkcs8", pemToDer(env.FEDERATION_KEY!, "PRIVATE KEY")!, RSA_SHA256, false, ["sign"]);
    const data = new TextEncoder().encode("date: Sun, 22 Nov 2026 12:00:00 GMT");
    const signature = await crypto.subtle.sign(RSA_SHA256, privateKey, data);
    expect(await crypto.subtle.verify(RSA_SHA256, verifyKey, signature, data)).toBe(true);
    expect(publicKey.publicKeyPem).not.toContain("PRIVATE");
  });

  it("is listed in /.well-known/indienet's inbox", async () => {
    const doc = await json<{ inbox: string }>(await get("/.well-known/indienet"));
    expect(doc.inbox).toBe(`${TEST_ORIGIN}/inbox`);
  });
});
