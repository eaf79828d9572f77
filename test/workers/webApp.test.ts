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

  it("keeps JSON 404s for unknown files and for API paths", async () => {
    for (const path of ["/no-such-page.js", "/api/nope", "/auth/nope", "/.well-known/nope", "/messages/nope"]) {
      const res = await get(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.headers.get("content-type"), path).toMatch(/application\/json/);
      await res.arrayBuffer();
    }
  });
});
