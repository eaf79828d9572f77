import { beforeAll, describe, expect, it, vi } from "vitest";
import { SETUP_ATTEMPTS_PER_HOUR } from "../../src/routes/auth";
import { json, makeOwnerKeys, OwnerClient } from "../helpers/owner";
import { fetchWithVars, inInstance, selfFetch, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

// Tests in this file run in order against one fresh instance: unclaimed first.

describe("an unclaimed instance", () => {
  it("says so in discovery and has no JWKS yet", async () => {
    const doc = await json(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)));
    expect(doc).toEqual({
      protocol: "indienet/1",
      origin: TEST_ORIGIN,
      claimed: false,
      jwks_uri: `${TEST_ORIGIN}/.well-known/jwks.json`,
      messages_endpoint: `${TEST_ORIGIN}/messages`,
      inbox: `${TEST_ORIGIN}/inbox`,
    });
    const jwks = await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`));
    expect(jwks.status).toBe(404);
    expect(await json(jwks)).toMatchObject({ error: "not_claimed" });
  });

  it("issues 32-byte challenges valid for 120 s that say claimed: false", async () => {
    const before = Date.now();
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/auth/challenge`, { method: "POST" }));
    const body = await json<{ challenge: string; expiresAt: number; mfa: boolean; claimed: boolean }>(res);
    expect(body.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.expiresAt).toBeGreaterThanOrEqual(before + 120_000);
    expect(body.expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(body).toMatchObject({ mfa: false, claimed: false });
  });

  it("refuses login, escrow and the owner API with not_claimed / unauthorized", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    const login = await owner.login();
    expect(login.status).toBe(404);
    expect(await json(login)).toMatchObject({ error: "not_claimed" });
    const escrow = await owner.request("POST", "/auth/escrow", { body: {} });
    expect(escrow.status).toBe(404);
    expect((await owner.request("GET", "/api/sessions")).status).toBe(401);
  });

  it("refuses to be claimed when no setup code is configured", async () => {
    const owner = await OwnerClient.create(fetchWithVars({ SETUP_CODE: "" }), TEST_ORIGIN);
    const res = await owner.claim("anything");
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "forbidden" });
  });

  it("refuses to be claimed, even with the right code, while the configured code is under 128 bits", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const weak of ["hunter2", "correct-horse-battery-staple", "1234-5678-9012-3456-7890-1234-5678"]) {
        const owner = await OwnerClient.create(fetchWithVars({ SETUP_CODE: weak }), TEST_ORIGIN, { "cf-connecting-ip": "203.0.113.8" });
        const res = await owner.claim(weak);
        expect(res.status, weak).toBe(403);
        expect(await json(res)).toMatchObject({ error: "forbidden", message: expect.stringContaining("too weak") });
        const logged = errors.mock.calls.map((args) => String(args[0])).filter((line) => line.includes("setup_code_too_weak"));
        expect(logged, weak).toHaveLength(1);
        expect(JSON.parse(logged[0]!)).toMatchObject({ event: "setup_code_too_weak", requiredBits: 128, estimatedBits: expect.any(Number) });
        expect(logged[0]).not.toContain(weak);
        errors.mockClear();
      }
    } finally {
      errors.mockRestore();
    }
    const doc = await json(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)));
    expect(doc).toMatchObject({ claimed: false });
  });

  it("refuses a wrong setup code with 403, then rate-limits the address", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "203.0.113.9" });
    for (let i = 0; i < SETUP_ATTEMPTS_PER_HOUR; i++) {
      const res = await owner.claim(`WRONG-${i}`);
      expect(res.status, `attempt ${i}`).toBe(403);
    }
    // Past the budget even the right code is refused from this address for now.
    const limited = await owner.claim(TEST_SETUP_CODE);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await json(limited)).toMatchObject({ error: "rate_limited" });
  });

  it("counts setup attempts exactly: 20 parallel wrong codes from one address → 10 × 403, 10 × 429", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "203.0.113.10" });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => owner.claim(`WRONG-${i}`)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 403)).toHaveLength(SETUP_ATTEMPTS_PER_HOUR);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - SETUP_ATTEMPTS_PER_HOUR);
  });

  it("refuses keys whose kid is not their thumbprint, and private keys", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    const badKid = await owner.claim(TEST_SETUP_CODE, {
      publicKeys: { ...owner.keys.publicKeys, enc: { ...owner.keys.publicKeys.enc, kid: "not-a-thumbprint" } },
    });
    expect(badKid.status).toBe(400);
    expect(await json(badKid)).toMatchObject({ error: "invalid_request" });

    const withD = await owner.claim(TEST_SETUP_CODE, {
      publicKeys: { ...owner.keys.publicKeys, sig: { ...owner.keys.publicKeys.sig, d: owner.keys.publicKeys.sig.x } },
    });
    expect(withD.status).toBe(400);
    expect(await json(withD)).toMatchObject({ error: "invalid_request", issues: expect.any(Array) });
  });

  it("refuses an assertion not signed by the new signing key", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    const other = await makeOwnerKeys();
    const res = await owner.claim(TEST_SETUP_CODE, {
      assertion: await owner.assertion({ key: other.sig.privateKey }),
    });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
  });

  it("takes a generated code as typed: any case, grouped by dashes, spaces or nothing", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "203.0.113.11" });
    const stranger = await makeOwnerKeys();
    const typed = [TEST_SETUP_CODE.toLowerCase(), TEST_SETUP_CODE.replace(/-/g, ""), ` ${TEST_SETUP_CODE.replace(/-/g, " ")}\n`];
    for (const code of typed) {
      const res = await owner.claim(code, { assertion: await owner.assertion({ key: stranger.sig.privateKey }) });
      // Past the code: the next check, the assertion's signature, is what refuses it.
      expect(res.status, JSON.stringify(code)).toBe(401);
      expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
    }
    const wrong = await owner.claim(TEST_SETUP_CODE.replace(/-/g, "").slice(0, -1));
    expect(wrong.status).toBe(403);
  });

  it("compares a configured code with lower-case letters exactly, but for its grouping", async () => {
    const configured = "Mixed-Case-Code-0123-4567-89ab-cdef-ghjk";
    const owner = await OwnerClient.create(fetchWithVars({ SETUP_CODE: configured }), TEST_ORIGIN, { "cf-connecting-ip": "203.0.113.12" });
    const stranger = await makeOwnerKeys();
    const refused = await owner.claim(configured.toUpperCase());
    expect(refused.status).toBe(403);
    const ungrouped = await owner.claim(configured.replace(/-/g, ""), { assertion: await owner.assertion({ key: stranger.sig.privateKey }) });
    expect(ungrouped.status).toBe(401);
  });

  it("lets exactly one of 10 concurrent claims win", async () => {
    // From one address: exactly the hourly budget of setup attempts.
    const owners = await Promise.all(
      Array.from({ length: 10 }, () => OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "192.0.2.50" })),
    );
    const results = await Promise.all(owners.map((o) => o.claim(TEST_SETUP_CODE)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);

    const winner = owners[results.findIndex((r) => r.status === 201)]!;
    const body = await json(results.find((r) => r.status === 201)!);
    expect(body).toEqual({ accessToken: expect.any(String), tokenType: "Bearer", expiresIn: 900, sessionId: expect.any(String) });
    const cookie = results.find((r) => r.status === 201)!.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Secure-rt=[A-Za-z0-9_-]{43};/);
    for (const attr of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"]) expect(cookie).toContain(attr);

    // The winner's keys are the published ones.
    const jwks = await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`));
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=300");
    expect(jwks.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json(jwks)).toEqual({ keys: [winner.keys.publicKeys.sig, winner.keys.publicKeys.enc].sort((a, b) => (a.use < b.use ? 1 : -1)) });
    expect((await winner.api("GET", "/api/sessions")).status).toBe(200);
  });
});

describe("a claimed instance", () => {
  beforeAll(async () => {
    // Claimed by the race above; alone, this block claims the instance itself.
    const doc = await json<{ claimed: boolean }>(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)));
    if (doc.claimed) return;
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN, { "cf-connecting-ip": "192.0.2.51" });
    const res = await owner.claim(TEST_SETUP_CODE);
    if (res.status !== 201) throw new Error(`claim: ${res.status} ${await res.text()}`);
  });

  it("answers any further setup with 409 already_claimed, whatever the code", async () => {
    const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    for (const code of [TEST_SETUP_CODE, "WRONG"]) {
      const res = await owner.claim(code);
      expect(res.status).toBe(409);
      expect(await json(res)).toMatchObject({ error: "already_claimed" });
    }
  });

  it("says claimed: true in discovery and in challenges", async () => {
    expect(await json(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)))).toMatchObject({ claimed: true });
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/auth/challenge`, { method: "POST" }));
    expect(await json(res)).toMatchObject({ claimed: true });
  });

  it("logged the claim in the activity log", async () => {
    const types = await inInstance((instance) => instance["activity"].list(undefined, 100).map((e) => e.type));
    expect(types).toContain("claimed");
    expect(types).toContain("login");
  });
});
