/**
 * Client information discovery (docs/api.md §14, IndieAuth LS §4.2) in workerd, with
 * HTMLRewriter for real and the network faked (useFakeFediverse: no traffic leaves).
 */
import { describe, expect, it, vi } from "vitest";
import {
  ClientInfoCache,
  clientCacheTtlMs,
  clientForConsent,
  discoverClient,
  linkHeaderTargets,
  MAX_CLIENT_DOCUMENT_BYTES,
  type ClientDiscoveryOptions,
} from "../../src/services/indieauthClient";
import { useFakeFediverse } from "../helpers/federation";

const net = useFakeFediverse();
const T0 = 1_700_000_000_000;
const CLIENT = "https://app.example.com/";

const options = (overrides: Partial<ClientDiscoveryOptions> = {}): ClientDiscoveryOptions => ({
  policy: { allowInsecure: false, ownHost: "id.example.test" },
  nowMs: T0,
  cache: new ClientInfoCache(),
  ...overrides,
});

const json = (doc: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(doc), { status: 200, headers: { "content-type": "application/json", ...headers } });
const html = (body: string, headers: Record<string, string> = {}) => () =>
  new Response(body, { status: 200, headers: { "content-type": "text/html; charset=utf-8", ...headers } });

describe("a JSON client metadata document", () => {
  it("gives name, url, logo and redirect URIs when its client_id is the URL exactly", async () => {
    net.respond(CLIENT, json({
      client_id: CLIENT,
      client_name: "  Quill\n Editor ",
      client_uri: "https://app.example.com/",
      logo_uri: "https://cdn.example.net/logo.png",
      redirect_uris: ["https://app.example.com/cb", "https://other.example.net/cb", "com.example.app:/oauth", "/relative", "javascript:alert(1)", 42],
    }));
    const d = await discoverClient(CLIENT, options());
    expect(d).toEqual({
      ok: true,
      cached: false,
      client: {
        id: CLIENT,
        name: "Quill Editor",
        url: "https://app.example.com/",
        logo: "https://cdn.example.net/logo.png",
        redirectUris: ["https://app.example.com/cb", "https://other.example.net/cb", "com.example.app:/oauth", "https://app.example.com/relative"],
        source: "metadata",
      },
    });
    expect(net.requests).toEqual([CLIENT]);
  });

  it("refuses a document whose client_id differs, even by a trailing slash", async () => {
    const id = "https://app.example.com/client";
    net.respond(id, json({ client_id: "https://app.example.com/client/", redirect_uris: ["https://evil.example/cb"] }));
    expect(await discoverClient(id, options())).toEqual({ ok: false, reason: "client_id_mismatch" });
  });

  it("drops a client_uri that is not a prefix of the client_id, and a logo that is not https", async () => {
    const id = "https://app.example.com/apps/quill";
    net.respond(id, json({ client_id: id, client_uri: "https://elsewhere.example/", logo_uri: "data:image/png;base64,AAAA" }));
    const d = await discoverClient(id, options());
    expect(d.ok && d.client).toEqual({ id, redirectUris: [], source: "metadata" });
  });

  it("drops a client_uri whose text is a prefix of the client_id but whose host is not its host", async () => {
    const id = "https://app.example.com.evil.example/";
    net.respond(id, json({ client_id: id, client_name: "Quill", client_uri: "https://app.example.com" }));
    const d = await discoverClient(id, options());
    expect(d.ok && d.client).toEqual({ id, name: "Quill", redirectUris: [], source: "metadata" });
  });

  it("keeps a client_uri that is a prefix of the client_id once parsed", async () => {
    const id = "https://app.example.com/apps/quill.json";
    net.respond(id, json({ client_id: id, client_uri: "HTTPS://App.Example.com" }));
    const d = await discoverClient(id, options());
    expect(d.ok && d.client.url).toBe("https://app.example.com/");
  });

  it("refuses JSON that is not an object, or not UTF-8", async () => {
    net.respond(CLIENT, () => new Response("[1]", { headers: { "content-type": "application/json" } }));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "invalid_document" });
    net.respond(CLIENT, () => new Response(new Uint8Array([0x7b, 0xff, 0x7d]), { headers: { "content-type": "application/json" } }));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "invalid_document" });
  });
});

describe("an HTML page with h-app", () => {
  it("reads the first h-app's name, url and logo, and rel=redirect_uri links and Link headers", async () => {
    net.respond(CLIENT, html(
      `<!doctype html><html><head>
         <link rel="redirect_uri" href="/redirect">
         <link rel="stylesheet redirect_uri" href="https://cb.example.net/x">
       </head><body>
         <div class="h-app">
           <img class="u-logo" src="/logo.png" alt="">
           <a class="u-url p-name" href="/">Quill <b>Editor</b></a>
         </div>
         <div class="h-app"><span class="p-name">Second</span></div>
         <a rel="redirect_uri" href="https://app.example.com/cb2">cb</a>
       </body></html>`,
      { link: '<https://app.example.com/from-header>; rel="redirect_uri", <https://app.example.com/style.css>; rel=stylesheet' },
    ));
    const d = await discoverClient(CLIENT, options());
    expect(d).toEqual({
      ok: true,
      cached: false,
      client: {
        id: CLIENT,
        name: "Quill Editor",
        url: "https://app.example.com/",
        logo: "https://app.example.com/logo.png",
        redirectUris: ["https://app.example.com/from-header", "https://app.example.com/redirect", "https://cb.example.net/x", "https://app.example.com/cb2"],
        source: "h-app",
      },
    });
  });

  it("reads the legacy h-x-app, an implied name from the app's text, and resolves against <base href>", async () => {
    net.respond(CLIENT, html(
      `<html><head><base href="https://static.example.com/app/"></head><body>
         <div class="h-x-app"><img class="u-logo" src="logo.png"> Micro   Publisher </div>
         <link rel="redirect_uri" href="cb">
       </body></html>`,
    ));
    const d = await discoverClient(CLIENT, options());
    expect(d.ok && d.client).toMatchObject({
      name: "Micro Publisher",
      logo: "https://static.example.com/app/logo.png",
      redirectUris: ["https://static.example.com/app/cb"],
    });
  });

  it("reads an app that is one link, and takes no name from a page without h-app", async () => {
    const id = "https://app.example.com/apps/tiny";
    net.respond(id, html(`<p><a class="h-app" href="https://app.example.com/apps/">Tiny App</a></p>`));
    const d = await discoverClient(id, options());
    expect(d.ok && d.client).toEqual({ id, name: "Tiny App", url: "https://app.example.com/apps/", redirectUris: [], source: "h-app" });

    net.respond(CLIENT, html(`<title>Not an app</title><p class="p-name">stray</p><link rel="redirect_uri" href="/cb">`));
    const bare = await discoverClient(CLIENT, options());
    expect(bare.ok && bare.client).toEqual({ id: CLIENT, redirectUris: ["https://app.example.com/cb"], source: "h-app" });
  });

  it("drops an app URL that is not a prefix of the client_id, keeping the rest", async () => {
    const id = "https://evil.example/";
    net.respond(id, html(`<div class="h-app"><a class="u-url p-name" href="https://quill.p3k.io/">Quill</a></div><a class="h-app" href="https://quill.p3k.io/">x</a>`));
    const d = await discoverClient(id, options());
    expect(d.ok && d.client).toEqual({ id, name: "Quill", redirectUris: [], source: "h-app" });

    net.respond(CLIENT, html(`<div class="h-app"><a class="u-url p-name" href="https://app.example.com.evil.example/">Quill</a></div>`));
    const lookalike = await discoverClient(CLIENT, options());
    expect(lookalike.ok && lookalike.client).toEqual({ id: CLIENT, name: "Quill", redirectUris: [], source: "h-app" });

    // Another user's page on a shared origin.
    const alice = "https://people.example/~alice/app";
    net.respond(alice, html(`<div class="h-app"><a class="u-url p-name" href="https://people.example/~mallory/">Quill</a></div>`));
    const neighbour = await discoverClient(alice, options());
    expect(neighbour.ok && neighbour.client).toEqual({ id: alice, name: "Quill", redirectUris: [], source: "h-app" });
  });

  it("strips control and bidi-override characters from the name", async () => {
    net.respond(CLIENT, json({ client_id: CLIENT, client_name: "Good\u202eppA\u0000 x" }));
    const d = await discoverClient(CLIENT, options());
    expect(d.ok && d.client.name).toBe("Good ppA x");
  });

  it("never keeps a script URL as the app's url or logo", async () => {
    net.respond(CLIENT, html(`<div class="h-app"><a class="u-url p-name" href="javascript:alert(1)">X</a><img class="u-logo" src="http://app.example.com/l.png"></div>`));
    const d = await discoverClient(CLIENT, options());
    expect(d.ok && d.client).toEqual({ id: CLIENT, name: "X", redirectUris: [], source: "h-app" });
  });
});

describe("the fetch is bounded", () => {
  it("fetches nothing for a client_id the URL rules refuse, or one not in canonical form", async () => {
    for (const id of ["https://10.0.0.1/", "https://app.example.com:8443/", "https://id.example.test/", "http://app.example.com/", "https://APP.example.com/", "https://app.example.com"]) {
      expect(await discoverClient(id, options())).toEqual({ ok: false, reason: "refused_url" });
    }
    expect(net.requests).toEqual([]);
  });

  it("follows same-origin redirects by hand, up to 3, and no cross-origin one", async () => {
    const redirect = (location: string, status = 302) => () => new Response(null, { status, headers: { location } });
    net.respond(CLIENT, redirect("/a", 301));
    net.respond("https://app.example.com/a", redirect("https://app.example.com/b", 308));
    net.respond("https://app.example.com/b", json({ client_id: CLIENT, client_name: "After redirects" }));
    const d = await discoverClient(CLIENT, options());
    expect(d.ok && d.client.name).toBe("After redirects");
    expect(net.requests).toEqual([CLIENT, "https://app.example.com/a", "https://app.example.com/b"]);

    net.respond("https://app.example.com/b", redirect("https://evil.example/doc"));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "cross_origin_redirect" });
    net.respond("https://app.example.com/b", redirect("http://app.example.com/doc"));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "cross_origin_redirect" });

    const loop = "https://app.example.com/loop";
    net.respond(loop, redirect("/loop"));
    expect(await discoverClient(loop, options())).toEqual({ ok: false, reason: "too_many_redirects" });
    expect(net.requests.filter((u) => u === loop)).toHaveLength(4);
  });

  it("refuses a non-200 answer and an unsupported media type", async () => {
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "status" });
    net.respond(CLIENT, () => new Response("hi", { headers: { "content-type": "text/plain" } }));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "unsupported_type" });
  });

  it("refuses a body over 64 KiB, declared or not, cancelling a chunked one", async () => {
    let pulled = 0;
    let cancelled = false;
    net.respond(CLIENT, () => new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled += 8192;
          controller.enqueue(new Uint8Array(8192).fill(0x20));
          if (pulled >= 1024 * 1024) controller.close();
        },
        cancel() {
          cancelled = true;
        },
      }),
      { headers: { "content-type": "text/html" } },
    ));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "too_large" });
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThan(MAX_CLIENT_DOCUMENT_BYTES + 3 * 8192);

    net.respond(CLIENT, () => new Response("{}", { headers: { "content-type": "application/json", "content-length": String(MAX_CLIENT_DOCUMENT_BYTES + 1) } }));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "too_large" });
  });

  it("accepts a document of exactly 64 KiB", async () => {
    const bare = JSON.stringify({ client_id: CLIENT, client_name: "Padded", pad: "" });
    const doc = JSON.stringify({ client_id: CLIENT, client_name: "Padded", pad: "x".repeat(MAX_CLIENT_DOCUMENT_BYTES - bare.length) });
    expect(doc.length).toBe(MAX_CLIENT_DOCUMENT_BYTES);
    net.respond(CLIENT, () => new Response(doc, { headers: { "content-type": "application/json" } }));
    const d = await discoverClient(CLIENT, options());
    expect(d.ok && d.client.name).toBe("Padded");
  });

  it("gives up at the deadline when the server never answers, or trickles its body", async () => {
    vi.mocked(fetch).mockImplementationOnce(
      (_input, init) => new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))),
    );
    expect(await discoverClient(CLIENT, options({ timeoutMs: 50 }))).toEqual({ ok: false, reason: "timeout" });

    let cancelled = false;
    net.respond(CLIENT, () => new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("{"));
        },
        cancel() {
          cancelled = true;
        },
      }),
      { headers: { "content-type": "application/json" } },
    ));
    expect(await discoverClient(CLIENT, options({ timeoutMs: 50 }))).toEqual({ ok: false, reason: "timeout" });
    expect(cancelled).toBe(true);
  });

  it("reports a network failure", async () => {
    vi.mocked(fetch).mockRejectedValueOnce(new TypeError("connection refused"));
    expect(await discoverClient(CLIENT, options())).toEqual({ ok: false, reason: "network" });
  });
});

describe("loopback clients in insecure mode (development)", () => {
  it("fetches an http loopback client on another port than the instance", async () => {
    const id = "http://localhost:3000/";
    net.respond(id, json({ client_id: id, client_name: "Dev client", logo_uri: "http://localhost:3000/logo.png" }));
    const d = await discoverClient(id, options({ policy: { allowInsecure: true, ownHost: "localhost:8787" } }));
    expect(d.ok && d.client).toMatchObject({ name: "Dev client", logo: "http://localhost:3000/logo.png" });
    expect(await discoverClient("http://localhost:8787/", options({ policy: { allowInsecure: true, ownHost: "localhost:8787" } }))).toEqual({
      ok: false,
      reason: "refused_url",
    });
  });
});

describe("the cache", () => {
  it("reuses a success until it expires; failures are never cached", async () => {
    const cache = new ClientInfoCache();
    expect(await discoverClient(CLIENT, options({ cache }))).toEqual({ ok: false, reason: "status" });
    net.respond(CLIENT, json({ client_id: CLIENT, client_name: "v1" }));
    expect(await discoverClient(CLIENT, options({ cache }))).toMatchObject({ ok: true, cached: false });
    net.respond(CLIENT, json({ client_id: CLIENT, client_name: "v2" }));
    expect(await discoverClient(CLIENT, options({ cache, nowMs: T0 + 299_999 }))).toMatchObject({ ok: true, cached: true, client: { name: "v1" } });
    expect(await discoverClient(CLIENT, options({ cache, nowMs: T0 + 300_000 }))).toMatchObject({ ok: true, cached: false, client: { name: "v2" } });
    expect(net.requests).toHaveLength(3);
  });

  it("honours Cache-Control: no-store and a shorter max-age", async () => {
    const cache = new ClientInfoCache();
    net.respond(CLIENT, json({ client_id: CLIENT }, { "cache-control": "no-store" }));
    await discoverClient(CLIENT, options({ cache }));
    expect(await discoverClient(CLIENT, options({ cache }))).toMatchObject({ cached: false });
    net.respond(CLIENT, json({ client_id: CLIENT }, { "cache-control": "public, max-age=10" }));
    await discoverClient(CLIENT, options({ cache }));
    expect(await discoverClient(CLIENT, options({ cache, nowMs: T0 + 9_999 }))).toMatchObject({ cached: true });
    expect(await discoverClient(CLIENT, options({ cache, nowMs: T0 + 10_000 }))).toMatchObject({ cached: false });
  });

  it("computes lifetimes from Cache-Control, never above 5 minutes", () => {
    expect(clientCacheTtlMs(null)).toBe(300_000);
    expect(clientCacheTtlMs("max-age=86400")).toBe(300_000);
    expect(clientCacheTtlMs("max-age=0")).toBe(0);
    expect(clientCacheTtlMs("private, max-age=60")).toBe(0);
    expect(clientCacheTtlMs("no-cache")).toBe(0);
  });

  it("drops the oldest entry when full", () => {
    const cache = new ClientInfoCache(2);
    for (const id of ["https://a.example/", "https://b.example/", "https://c.example/"]) cache.set({ id, redirectUris: [], source: "metadata" }, T0 + 1000);
    expect(cache.get("https://a.example/", T0)).toBeNull();
    expect(cache.get("https://c.example/", T0)).not.toBeNull();
  });
});

describe("linkHeaderTargets (RFC 8288)", () => {
  it("finds every link with the relation, quoted or not, among several", () => {
    expect(linkHeaderTargets('<https://a.example/cb>; rel="redirect_uri", <https://b.example/x,y>; rel=redirect_uri; title="t", <https://c.example/>; rel="other redirect_uri"', "redirect_uri")).toEqual([
      "https://a.example/cb",
      "https://b.example/x,y",
      "https://c.example/",
    ]);
    expect(linkHeaderTargets('<https://a.example/>; rel="redirect_uris"', "redirect_uri")).toEqual([]);
    expect(linkHeaderTargets(null, "redirect_uri")).toEqual([]);
  });
});

describe("clientForConsent", () => {
  it("gives what discovery found, or only the id", async () => {
    net.respond(CLIENT, json({ client_id: CLIENT, client_name: "Quill", redirect_uris: ["https://app.example.com/cb"] }));
    const found = await discoverClient(CLIENT, options());
    expect(clientForConsent(CLIENT, found)).toEqual({ id: CLIENT, name: "Quill" });
    expect(clientForConsent(CLIENT, { ok: false, reason: "timeout" })).toEqual({ id: CLIENT });
  });
});
