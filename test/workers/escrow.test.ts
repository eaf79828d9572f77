import { decodeJwt } from "jose";
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { json, makeOwnerKeys, OwnerClient } from "../helpers/owner";
import { advanceClock } from "../helpers/clock";
import { ageLogin, claimedOwner, fetchWithVars, selfFetch, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

type Escrow = { version: number; blob: string; publicKeys: { sig: { kid: string }; enc: { kid: string } } };

describe("POST /auth/escrow (public)", () => {
  it("returns the latest blob byte for byte with the public keys, to anyone, without cookies", async () => {
    const stranger = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    const res = await stranger.request("POST", "/auth/escrow", { cookie: null });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ version: 1, blob: "escrow-blob-v1", publicKeys: owner.keys.publicKeys });
  });
});

describe("GET /api/escrow", () => {
  it("returns the same record to the owner, never cached", async () => {
    const res = await owner.api("GET", "/api/escrow");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await json(res)).toEqual({
      version: 1,
      blob: "escrow-blob-v1",
      publicKeys: owner.keys.publicKeys,
    });
  });
});

describe("PUT /api/escrow", () => {
  it("stores a new version when expectedVersion is current", async () => {
    const blob = "é✓".repeat(100) + "x".repeat(1000);
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: 1, blob });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ version: 2 });
    expect(await json(await owner.api("GET", "/api/escrow"))).toMatchObject({ version: 2, blob });
  });

  it("refuses a stale expectedVersion with 409 and changes nothing", async () => {
    const before = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: 1, blob: "stale" });
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ error: "version_conflict" });
    const ahead = await owner.api("PUT", "/api/escrow", { expectedVersion: before.version + 5, blob: "from the future" });
    expect(ahead.status).toBe(409);
    expect(await json(await owner.api("GET", "/api/escrow"))).toEqual(before);
  });

  it("lets exactly one of 10 concurrent writers with the same expectedVersion win", async () => {
    const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: `writer-${i}` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
    const winner = statuses.indexOf(200);
    expect(await json(await owner.api("GET", "/api/escrow"))).toMatchObject({ version: version + 1, blob: `writer-${winner}` });
  });

  it("refuses publicKeys that reuse the current kids with other key material", async () => {
    const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    const other = await makeOwnerKeys();
    const smuggled = {
      sig: { ...other.publicKeys.sig, kid: owner.keys.publicKeys.sig.kid },
      enc: owner.keys.publicKeys.enc,
    };
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "b", publicKeys: smuggled });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request" });
    expect(await json(await owner.api("GET", "/api/escrow"))).toMatchObject({ version });
  });

  it("refuses a blob over 64 KiB", async () => {
    const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "x".repeat(64 * 1024 + 1) });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: "invalid_request" });
    const atLimit = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "x".repeat(64 * 1024) });
    expect(atLimit.status).toBe(200);
  });

  it("stores any blob up to 64 KiB however long its JSON escaping makes the body, byte for byte", async () => {
    // 64 KiB of control characters is 384 KiB as JSON (\u0001 each); of quotes, 128 KiB.
    for (const blob of ["\u0001".repeat(64 * 1024), '"'.repeat(64 * 1024), "\\\"\n\u001f".repeat(16 * 1024)]) {
      const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
      const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob });
      expect(res.status).toBe(200);
      const stored = await json<Escrow>(await owner.api("GET", "/api/escrow"));
      expect(stored.version).toBe(version + 1);
      expect(stored.blob === blob).toBe(true);
    }
    const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    const over = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "\u0001".repeat(64 * 1024 + 1) });
    expect(over.status).toBe(400);
    const tooBig = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "\u0001".repeat(70 * 1024) });
    expect(tooBig.status).toBe(413);
    expect(await json(tooBig)).toMatchObject({ error: "payload_too_large" });
  });

  it("refuses a blob that is not well-formed Unicode (a lone surrogate would come back as U+FFFD)", async () => {
    const { version } = await json<Escrow>(await owner.api("GET", "/api/escrow"));
    for (const blob of ["a\ud800b", "\udc00", "x\ud83d", "\ude00\ud83d"]) {
      const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob });
      expect(res.status, JSON.stringify(blob)).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    }
    // Setup validates the same schema (before it learns the instance is claimed).
    const stranger = await OwnerClient.create(selfFetch, TEST_ORIGIN);
    const setup = await stranger.request("POST", "/auth/setup", {
      body: { setupCode: "x", publicKeys: stranger.keys.publicKeys, escrow: "a\ud800b", assertion: "x" },
    });
    expect(setup.status).toBe(400);
    expect(await json(setup)).toMatchObject({ error: "invalid_request" });
    // A surrogate pair (an emoji) is well formed and round-trips.
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "a\ud83d\ude00b" });
    expect(res.status).toBe(200);
    expect(await json(await owner.api("GET", "/api/escrow"))).toMatchObject({ version: version + 1, blob: "a😀b" });
  });

  it("answers 200 for a stored change whose activity entry cannot be written, and logs the miss", async () => {
    // The instance binding, except that writing activity fails twice (the route retries once).
    let failures = 0;
    const flaky = new Proxy(env.INSTANCE, {
      get(namespace, prop) {
        if (prop !== "get") {
          const value = Reflect.get(namespace, prop, namespace);
          return typeof value === "function" ? value.bind(namespace) : value;
        }
        return (id: DurableObjectId) => {
          const stub = namespace.get(id);
          return new Proxy(stub, {
            get(target, name) {
              if (name === "recordActivities") {
                return async () => {
                  failures++;
                  throw new Error("Durable Object is overloaded");
                };
              }
              // RPC methods must be called on the stub itself.
              return (...args: unknown[]) => (target as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>)[name]!(...args);
            },
          });
        };
      },
    });
    const device = new OwnerClient(fetchWithVars({ INSTANCE: flaky }), TEST_ORIGIN, owner.keys);
    await device.login();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const { version } = await json<Escrow>(await device.api("GET", "/api/escrow"));
      const res = await device.api("PUT", "/api/escrow", { expectedVersion: version, blob: "stored anyway" });
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ version: version + 1 });
      expect(failures).toBe(2);
      expect(errors.mock.calls.map((call) => String(call[0])).filter((line) => line.includes("activity_write_failed"))).toEqual([
        JSON.stringify({ event: "activity_write_failed", types: ["escrow_updated"], error: "Error: Durable Object is overloaded" }),
      ]);
    } finally {
      errors.mockRestore();
    }
    expect(await json(await owner.api("GET", "/api/escrow"))).toMatchObject({ blob: "stored anyway" });
  });

  it("needs step-up: a login older than STEP_UP_MAX_AGE_S is refused with 403 step_up_required", async () => {
    const strict = new OwnerClient(fetchWithVars({ STEP_UP_MAX_AGE_S: "0" }), TEST_ORIGIN, owner.keys);
    await strict.login();
    advanceClock(1_100);
    const { version } = await json<Escrow>(await strict.api("GET", "/api/escrow"));
    const res = await strict.api("PUT", "/api/escrow", { expectedVersion: version, blob: "needs step-up" });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
    expect(await json(await strict.api("GET", "/api/escrow"))).toMatchObject({ version });
  });
});

describe("POST /auth/reauth (step-up)", () => {
  it("returns a token for the same session with a fresh auth_time", async () => {
    const device = owner.device();
    await device.login();
    await ageLogin(device, 3600);
    const { version } = await json<Escrow>(await device.api("GET", "/api/escrow"));
    expect((await device.api("PUT", "/api/escrow", { expectedVersion: version, blob: "b" })).status).toBe(403);

    const beforeS = Math.floor(Date.now() / 1000);
    const res = await device.request("POST", "/auth/reauth", { bearer: true, body: { assertion: await device.assertion() } });
    expect(res.status).toBe(200);
    const body = await json<{ accessToken: string; sessionId: string }>(res);
    expect(body).toMatchObject({ tokenType: "Bearer", expiresIn: 900, sessionId: device.sessionId });
    expect(decodeJwt(body.accessToken).auth_time).toBeGreaterThanOrEqual(beforeS);
    device.accessToken = body.accessToken;
    expect((await device.api("PUT", "/api/escrow", { expectedVersion: version, blob: "b" })).status).toBe(200);

    // The fresh auth_time sticks to the session: a refreshed token carries it too.
    const refreshed = await device.refresh();
    expect(decodeJwt((await json<{ accessToken: string }>(refreshed)).accessToken).auth_time).toBeGreaterThanOrEqual(beforeS);
  });

  it("needs a bearer token and a valid assertion", async () => {
    const noBearer = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion() } });
    expect(noBearer.status).toBe(401);
    const other = await makeOwnerKeys();
    const forged = await owner.request("POST", "/auth/reauth", {
      bearer: true,
      body: { assertion: await owner.assertion({ key: other.sig.privateKey }) },
    });
    expect(forged.status).toBe(401);
    expect(forged.headers.get("www-authenticate")).toBe("Bearer");
    expect(await json(forged)).toMatchObject({ error: "invalid_assertion" });
  });
});

describe("key rotation through PUT /api/escrow", () => {
  it("needs an assertion signed by the new signing key", async () => {
    const device = owner.device();
    await device.login();
    const next = await makeOwnerKeys();
    const { version } = await json<Escrow>(await device.api("GET", "/api/escrow"));
    const missing = await device.api("PUT", "/api/escrow", { expectedVersion: version, blob: "rotated", publicKeys: next.publicKeys });
    expect(missing.status).toBe(400);
    const oldKey = await device.api("PUT", "/api/escrow", {
      expectedVersion: version,
      blob: "rotated",
      publicKeys: next.publicKeys,
      assertion: await device.assertion(),
    });
    expect(oldKey.status).toBe(401);
    expect(await json(oldKey)).toMatchObject({ error: "invalid_assertion" });
    expect(await json(await device.api("GET", "/api/escrow"))).toMatchObject({ version, publicKeys: owner.keys.publicKeys });
  });

  it("rotates: old keys are retired in the JWKS, the old key can no longer log in, the new one can", async () => {
    const device = owner.device();
    await device.login();
    const next = await makeOwnerKeys();
    const rotated = new OwnerClient(selfFetch, TEST_ORIGIN, next);
    const { version } = await json<Escrow>(await device.api("GET", "/api/escrow"));
    const res = await device.api("PUT", "/api/escrow", {
      expectedVersion: version,
      blob: "blob with old and new private keys",
      publicKeys: next.publicKeys,
      assertion: await rotated.assertion(),
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ version: version + 1 });

    const jwks = await json<{ keys: Array<Record<string, unknown>> }>(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`)));
    expect(jwks.keys).toContainEqual(next.publicKeys.sig);
    expect(jwks.keys).toContainEqual(next.publicKeys.enc);
    expect(jwks.keys).toContainEqual({ ...owner.keys.publicKeys.sig, status: "retired" });
    expect(jwks.keys).toContainEqual({ ...owner.keys.publicKeys.enc, status: "retired" });
    expect(jwks.keys).toHaveLength(4);

    expect(await json(await device.api("GET", "/api/escrow"))).toMatchObject({ version: version + 1, publicKeys: next.publicKeys });
    expect((await owner.device().login()).status).toBe(401);
    expect((await rotated.login()).status).toBe(200);

    // A retired key can never become current again.
    const back = await rotated.api("PUT", "/api/escrow", {
      expectedVersion: version + 1,
      blob: "b",
      publicKeys: owner.keys.publicKeys,
      assertion: await owner.device().assertion(),
    });
    expect(back.status).toBe(400);

    const activity = await json<{ entries: Array<{ type: string }> }>(await rotated.api("GET", "/api/activity?limit=20"));
    expect(activity.entries.map((e) => e.type)).toEqual(expect.arrayContaining(["keys_rotated", "escrow_updated"]));
    // The owner of this file lives on with the new keys.
    owner.keys = next;
  });

  it("lets exactly one of 5 concurrent key rotations with the same expectedVersion win", async () => {
    const device = owner.device();
    await device.login();
    const { version, publicKeys: before } = await json<Escrow>(await device.api("GET", "/api/escrow"));
    const candidates = await Promise.all(Array.from({ length: 5 }, () => makeOwnerKeys()));
    const bodies = await Promise.all(
      candidates.map(async (keys, i) => ({
        expectedVersion: version,
        blob: `rotation-${i}`,
        publicKeys: keys.publicKeys,
        assertion: await new OwnerClient(selfFetch, TEST_ORIGIN, keys).assertion(),
      })),
    );
    const results = await Promise.all(bodies.map((body) => device.api("PUT", "/api/escrow", body)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(4);
    const winner = candidates[statuses.indexOf(200)]!;
    const jwks = await json<{ keys: Array<{ kid: string; use: string; status?: string }> }>(
      await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`)),
    );
    const current = jwks.keys.filter((k) => !k.status);
    expect(current.map((k) => k.kid).sort()).toEqual([winner.publicKeys.sig.kid, winner.publicKeys.enc.kid].sort());
    expect(jwks.keys).toContainEqual({ ...before.sig, status: "retired" });
    // The losers' keys never made it in, not even as retired.
    for (const loser of candidates.filter((k) => k !== winner)) {
      expect(jwks.keys.map((k) => k.kid)).not.toContain(loser.publicKeys.sig.kid);
    }
  });
});
