// Cross-cutting rules of docs/api.md §0: error shape, validation, body limits,
// Origin checks, CORS, security headers and rate limits, on every route.
import { beforeAll, describe, expect, it } from "vitest";
import { LIMITS } from "../../src/schemas/api";
import { json, OwnerClient } from "../helpers/owner";
import { claimedOwner, fetchWithVars, selfFetch, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

const JSON_ROUTES: Array<[string, string]> = [
  ["POST", "/auth/setup"],
  ["POST", "/auth/login"],
  ["POST", "/auth/escrow"],
  ["POST", "/auth/reauth"],
  ["PUT", "/api/escrow"],
];
const ALL_ROUTES: Array<[string, string]> = [
  ...JSON_ROUTES,
  ["POST", "/auth/challenge"],
  ["POST", "/auth/refresh"],
  ["POST", "/auth/logout"],
  ["GET", "/api/sessions"],
  ["DELETE", "/api/sessions"],
  ["DELETE", "/api/sessions/x"],
  ["GET", "/api/activity"],
  ["GET", "/api/escrow"],
  ["GET", "/.well-known/jwks.json"],
  ["GET", "/.well-known/indienet"],
];

function send(method: string, path: string, body: string, headers: Record<string, string> = {}) {
  return owner.request(method, path, {
    body: method === "GET" ? undefined : body,
    bearer: true,
    headers: { "content-type": "application/json", ...headers },
  });
}

async function expectError(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = await json<{ error: string; message: string }>(res);
  expect(body.error).toBe(error);
  expect(body.message).toEqual(expect.any(String));
}

describe("bad input gets a 4xx JSON error, never a 5xx", () => {
  it.each(JSON_ROUTES)("%s %s: malformed JSON → 400 invalid_request", async (method, path) => {
    await expectError(await send(method, path, "{not json"), 400, "invalid_request");
  });

  it.each(JSON_ROUTES)("%s %s: wrong types → 400 invalid_request with issues", async (method, path) => {
    const res = await send(method, path, JSON.stringify({ assertion: 42, totp: [], expectedVersion: "1", blob: {}, setupCode: null }));
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request", issues: expect.any(Array) });
  });

  it.each(JSON_ROUTES)("%s %s: a JSON array or string body → 400", async (method, path) => {
    await expectError(await send(method, path, "[]"), 400, "invalid_request");
    await expectError(await send(method, path, '"x"'), 400, "invalid_request");
  });

  it.each(JSON_ROUTES)("%s %s: a non-JSON content type → 400", async (method, path) => {
    await expectError(await send(method, path, "a=b", { "content-type": "application/x-www-form-urlencoded" }), 400, "invalid_request");
  });

  it.each(ALL_ROUTES.filter(([method]) => method !== "GET"))("%s %s: a body over the limit → 413 payload_too_large", async (method, path) => {
    // Over every route's limit, the escrow routes' larger one included (LIMITS.escrowBodyBytes).
    await expectError(await send(method, path, JSON.stringify({ blob: "x".repeat(LIMITS.escrowBodyBytes) })), 413, "payload_too_large");
  });

  it("allows escrow-sized bodies on the escrow routes only", async () => {
    const body = JSON.stringify({ assertion: "x", pad: "x".repeat(70 * 1024) });
    await expectError(await send("POST", "/auth/login", body), 413, "payload_too_large");
    await expectError(await send("POST", "/auth/setup", body), 400, "invalid_request");
  });

  it("applies a route's larger limit with a trailing slash too (the router takes it as the same route)", async () => {
    const body = JSON.stringify({ assertion: "x", pad: "x".repeat(70 * 1024) });
    await expectError(await send("POST", "/auth/setup/", body), 400, "invalid_request");
    await expectError(await send("PUT", "/api/escrow/", body), 400, "invalid_request");
    await expectError(await send("POST", "/auth/login/", body), 413, "payload_too_large");
  });

  it("answers unknown routes with 404 not_found as JSON", async () => {
    await expectError(await send("GET", "/nope", ""), 404, "not_found");
    await expectError(await send("PATCH", "/auth/login", "{}"), 404, "not_found");
  });
});

describe("Origin checks on browser routes", () => {
  it.each([...JSON_ROUTES, ["POST", "/auth/refresh"], ["POST", "/auth/logout"], ["POST", "/auth/challenge"], ["DELETE", "/api/sessions"]] as Array<[string, string]>)(
    "%s %s refuses a foreign Origin with 403 forbidden",
    async (method, path) => {
      await expectError(await send(method, path, "{}", { origin: "https://evil.example" }), 403, "forbidden");
    },
  );

  it("accepts the instance's own Origin and requests without one", async () => {
    expect((await owner.request("POST", "/auth/challenge", { headers: { origin: TEST_ORIGIN } })).status).toBe(200);
    expect((await owner.request("POST", "/auth/challenge")).status).toBe(200);
  });

  it("keeps a foreign page from logging the owner out", async () => {
    const device = owner.device();
    await device.login();
    await expectError(await device.request("POST", "/auth/logout", { headers: { origin: "https://evil.example" } }), 403, "forbidden");
    expect((await device.refresh()).status).toBe(200);
  });
});

describe("CORS", () => {
  it("is open (no credentials) on discovery", async () => {
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`, { headers: { origin: "https://a.example" } }));
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`, { method: "OPTIONS" }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("is absent on /auth and /api", async () => {
    const res = await owner.request("POST", "/auth/challenge", { headers: { origin: TEST_ORIGIN } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect((await owner.api("GET", "/api/sessions")).headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("security headers", () => {
  const CSP_REST = "style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'";
  const FIXED = {
    "cross-origin-opener-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "DENY",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
  };
  const securityHeadersOf = (res: Response) =>
    Object.fromEntries([...res.headers].filter(([name]) => name in FIXED || name === "content-security-policy" || name.startsWith("cross-origin-")));

  it("sends exactly these security headers, the CSP by page, on answers, errors, preflights and pages alike", async () => {
    const ownerApp = { ...FIXED, "content-security-policy": `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; ${CSP_REST}; trusted-types argon2id` };
    const contact = { ...FIXED, "content-security-policy": `default-src 'self'; script-src 'self'; ${CSP_REST}; trusted-types 'none'` };
    const consent = {
      ...FIXED,
      "content-security-policy": `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; ${CSP_REST.replace("img-src 'self' data:", "img-src 'self' data: https:")}; trusted-types argon2id`,
    };
    const responses: Array<[string, Response, object]> = [
      ["GET /api/sessions", await owner.api("GET", "/api/sessions"), ownerApp],
      ["GET /api/sessions without a token", await selfFetch(new Request(`${TEST_ORIGIN}/api/sessions`)), ownerApp],
      ["GET /nope", await send("GET", "/nope", ""), ownerApp],
      ["OPTIONS /.well-known/indienet", await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`, { method: "OPTIONS" })), ownerApp],
      ["POST /indieauth/token", await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/token`, { method: "POST" })), ownerApp],
      ["GET /", await selfFetch(new Request(`${TEST_ORIGIN}/`)), ownerApp],
      ["GET /contact", await selfFetch(new Request(`${TEST_ORIGIN}/contact`)), contact],
      ["GET /contact.html", await selfFetch(new Request(`${TEST_ORIGIN}/contact.html`)), contact],
      ["GET /indieauth/authorize/", await selfFetch(new Request(`${TEST_ORIGIN}/indieauth/authorize/`)), consent],
    ];
    for (const [name, res, expected] of responses) {
      expect(securityHeadersOf(res), name).toEqual(expected);
      expect(res.headers.get("x-powered-by"), name).toBeNull();
      await res.arrayBuffer();
    }
  });

  it("sends CSP with frame-ancestors 'none', HSTS and nosniff on every response", async () => {
    for (const res of [await owner.api("GET", "/api/sessions"), await send("GET", "/nope", "")]) {
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(res.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });
});

describe("the home page", () => {
  it("is rewritten (its links name this instance), so it carries no ETag and answers a conditional GET in full", async () => {
    const first = await selfFetch(new Request(`${TEST_ORIGIN}/`));
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBeNull();
    const page = await first.text();
    expect(page).toContain('rel="indieauth-metadata"');
    const again = await selfFetch(new Request(`${TEST_ORIGIN}/`, { headers: { "if-none-match": "*" } }));
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(page);
  });
});

describe("rate limits", () => {
  it.each(["/auth/challenge", "/auth/login", "/auth/escrow", "/auth/refresh"])(
    "%s answers 429 rate_limited with Retry-After past RATE_LIMIT_PER_MIN per address",
    async (path) => {
      const limited = new OwnerClient(fetchWithVars({ RATE_LIMIT_PER_MIN: "3" }), TEST_ORIGIN, owner.keys, {
        "cf-connecting-ip": `198.51.100.${path.length}`,
      });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.request("POST", path, { body: {} })).status);
      expect(statuses.slice(0, 3)).not.toContain(429);
      const res = await limited.request("POST", path, { body: {} });
      await expectError(res, 429, "rate_limited");
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Another address is not affected.
      const other = new OwnerClient(fetchWithVars({ RATE_LIMIT_PER_MIN: "3" }), TEST_ORIGIN, owner.keys, { "cf-connecting-ip": `192.0.2.${path.length}` });
      expect((await other.request("POST", "/auth/challenge")).status).toBe(200);
    },
  );

  it("counts exactly under concurrency: 20 parallel challenges with a budget of 5 → 5 succeed", async () => {
    const limited = new OwnerClient(fetchWithVars({ RATE_LIMIT_PER_MIN: "5" }), TEST_ORIGIN, owner.keys, { "cf-connecting-ip": "198.51.100.77" });
    const results = await Promise.all(Array.from({ length: 20 }, () => limited.request("POST", "/auth/challenge")));
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    expect(results.filter((r) => r.status === 429)).toHaveLength(15);
  });

  it("counts an IPv6 client by its /64: other addresses of it share the budget, the next /64 has its own", async () => {
    const from = (ip: string) => new OwnerClient(fetchWithVars({ RATE_LIMIT_PER_MIN: "3" }), TEST_ORIGIN, owner.keys, { "cf-connecting-ip": ip });
    const statuses = [];
    for (const ip of ["2001:db8:77:1::1", "2001:db8:77:1::2", "2001:0db8:0077:0001:ffff:1:2:3", "2001:db8:77:1:abcd::"]) {
      statuses.push((await from(ip).request("POST", "/auth/challenge")).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await from("2001:db8:77:2::1").request("POST", "/auth/challenge")).status).toBe(200);
  });
});
