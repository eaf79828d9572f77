// The owner web app (web/, built into dist/web) is served through the Worker
// (wrangler.toml [assets] with run_worker_first), so pages get the same security
// headers as the API, and API paths never fall through to it.
import { describe, expect, it } from "vitest";
import { selfFetch, TEST_ORIGIN } from "../helpers/workers";

const get = (path: string) => selfFetch(new Request(TEST_ORIGIN + path));

describe("web app assets", () => {
  it("serves the app's page at / with a CSP that allows no inline script and only WebAssembly compilation beyond 'self'", async () => {
    const res = await get("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp).not.toMatch(/unsafe-inline|'unsafe-eval'/);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/app.js"></script>');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
  });

  it("serves the contact page at /contact and the scripts with their headers", async () => {
    const contact = await get("/contact");
    expect(contact.status).toBe(200);
    expect(await contact.text()).toContain("/contact.js");
    const js = await get("/app.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(js.headers.get("content-security-policy")).toContain("'wasm-unsafe-eval'");
    await js.arrayBuffer();
  });

  it("lets the IndieAuth consent page, and no other page, show images from https origins (the client's logo)", async () => {
    const consent = await get("/indieauth/authorize?response_type=code&client_id=https%3A%2F%2Fapp.example.com%2F");
    const csp = consent.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("img-src 'self' data: https:;");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp).toContain("connect-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    await consent.arrayBuffer();
    for (const path of ["/", "/contact", "/app.js"]) {
      const res = await get(path);
      expect(res.headers.get("content-security-policy"), path).toContain("img-src 'self' data:;");
      await res.arrayBuffer();
    }
  });

  it("serves the public contact page with a CSP that allows no WebAssembly either: it runs none", async () => {
    for (const path of ["/contact", "/contact.html"]) {
      const res = await get(path);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("script-src 'self';");
      expect(csp, path).not.toContain("wasm-unsafe-eval");
      expect(csp, path).toContain("frame-ancestors 'none'");
      await res.arrayBuffer();
    }
    // The owner app keeps it (Argon2id), on its page and on the KDF worker's script.
    for (const path of ["/", "/kdf-worker.js"]) {
      const res = await get(path);
      expect(res.headers.get("content-security-policy"), path).toContain("script-src 'self' 'wasm-unsafe-eval';");
      await res.arrayBuffer();
    }
  });

  it("enforces Trusted Types: the owner app may create only the Argon2id worker's policy, the contact page none", async () => {
    const directives = (csp: string) => new Map(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(" ")]));
    for (const path of ["/", "/kdf-worker.js", "/contact", "/contact.html"]) {
      const res = await get(path);
      const csp = directives(res.headers.get("content-security-policy") ?? "");
      expect(csp.get("require-trusted-types-for"), path).toBe("'script'");
      expect(csp.get("trusted-types"), path).toBe(path.startsWith("/contact") ? "'none'" : "argon2id");
      await res.arrayBuffer();
    }
  });

  it("serves the password lists' data file as JSON with a year-long immutable cache, and the hashed chunks too", async () => {
    const app = await (await get("/app.js")).text();
    const listsPath = app.match(/\/password-lists\.[0-9a-f]{16}\.json/)?.[0];
    expect(listsPath, "the app names its password lists file").toBeDefined();
    const lists = await get(listsPath!);
    expect(lists.status).toBe(200);
    expect(lists.headers.get("content-type")).toMatch(/^application\/json/);
    expect(lists.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(lists.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const file = (await lists.json()) as { format: number; lists: Record<string, string> };
    expect(file.format).toBe(1);
    expect(Object.keys(file.lists).sort()).toEqual(["commonWords", "diceware", "firstnames", "passwords"]);

    const chunk = app.match(/\.\/chunks\/[\w-]+-[A-Z0-9]{8}\.js/)?.[0];
    expect(chunk, "app.js imports a hashed chunk").toBeDefined();
    const chunkRes = await get(chunk!.slice(1));
    expect(chunkRes.status).toBe(200);
    expect(chunkRes.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    await chunkRes.arrayBuffer();

    // Names that do not change with their content are revalidated as before.
    const entry = await get("/app.js");
    expect(entry.headers.get("cache-control") ?? "").not.toMatch(/immutable/);
    await entry.arrayBuffer();
    const other = await get("/password-lists.0000000000000000.json");
    expect(other.status).toBe(404);
    await other.arrayBuffer();
  });

  it("keeps JSON 404s for unknown files and for API paths", async () => {
    for (const path of ["/no-such-page.js", "/api/nope", "/auth/nope", "/.well-known/nope", "/messages/nope"]) {
      const res = await get(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.headers.get("content-type"), path).toMatch(/application\/json/);
      await res.arrayBuffer();
    }
  });
});
