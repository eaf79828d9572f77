import { env } from "cloudflare:test";
import { base64url, SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { json, makeOwnerKeys, type OwnerClient } from "../helpers/owner";
import { ACTIVITY_RETENTION, ACTIVITY_RETENTION_BY_TYPE, ACTIVITY_SWEEP_EVERY } from "../../src/durable/activityLog";
import type { InstanceDO } from "../../src/durable/instance";
import { claimedOwner, inInstance, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

async function expectInvalidAssertion(res: Response) {
  expect(res.status).toBe(401);
  expect(await json(res)).toMatchObject({ error: "invalid_assertion", message: expect.any(String) });
}

describe("POST /auth/login", () => {
  it("returns an access token and a refresh cookie for a valid assertion", async () => {
    const device = owner.device();
    const res = await device.login({ deviceName: "phone" });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      accessToken: expect.any(String),
      tokenType: "Bearer",
      expiresIn: 900,
      sessionId: expect.any(String),
    });
    expect(device.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("issues access tokens with the protocol's claims, signed by the instance", async () => {
    const device = owner.device();
    await device.login();
    const [headerPart, payloadPart] = device.accessToken!.split(".");
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(headerPart!)));
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payloadPart!)));
    expect(header).toMatchObject({ alg: "EdDSA", typ: "at+jwt" });
    expect(header.kid).not.toBe(owner.keys.publicKeys.sig.kid);
    const now = Math.floor(Date.now() / 1000);
    expect(claims).toEqual({
      iss: TEST_ORIGIN,
      aud: TEST_ORIGIN,
      sub: "owner",
      sid: device.sessionId,
      iat: expect.any(Number),
      exp: claims.iat + 900,
      auth_time: expect.any(Number),
      amr: ["pop"],
      jti: expect.any(String),
    });
    expect(Math.abs(claims.auth_time - now)).toBeLessThanOrEqual(2);
  });

  it("accepts the EdDSA alg name as well as Ed25519", async () => {
    const device = owner.device();
    const res = await device.request("POST", "/auth/login", { body: { assertion: await device.assertion({ alg: "EdDSA" }) } });
    expect(res.status).toBe(200);
  });

  it("makes exactly one session from 20 concurrent logins with one assertion", async () => {
    const count = () => inInstance((_, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM sessions").one().n as number);
    const before = await count();
    const assertion = await owner.assertion();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => owner.device().request("POST", "/auth/login", { body: { assertion } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
    expect(await count()).toBe(before + 1);
  });

  it("consumes a challenge on a failed attempt, so it cannot be retried", async () => {
    const nonce = await owner.challenge();
    await expectInvalidAssertion(
      await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ nonce, aud: "https://evil.example" }) } }),
    );
    await expectInvalidAssertion(await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ nonce }) } }));
  });

  it("refuses an expired challenge", async () => {
    const nonce = await owner.challenge();
    await inInstance((_, state) => {
      state.storage.sql.exec("UPDATE challenges SET expires_at_ms = ? WHERE challenge = ?", Date.now() - 1, nonce);
    });
    await expectInvalidAssertion(await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ nonce }) } }));
  });

  it("refuses a nonce the server never issued", async () => {
    await expectInvalidAssertion(
      await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ nonce: "made-up-nonce" }) } }),
    );
  });

  it("does not log attempts that name no live challenge, so strangers cannot flood the log", async () => {
    const before = await json<{ entries: Array<{ id: number }> }>(await owner.api("GET", "/api/activity?limit=1"));
    for (const assertion of ["x", await owner.assertion({ nonce: "never-issued" })]) {
      expect((await owner.request("POST", "/auth/login", { body: { assertion } })).status).toBe(401);
    }
    const after = await json<{ entries: Array<{ id: number }> }>(await owner.api("GET", "/api/activity?limit=1"));
    expect(after.entries[0]!.id).toBe(before.entries[0]!.id);
  });

  it("writes login_failed to the activity log", async () => {
    await owner.request("POST", "/auth/login", { body: { assertion: await owner.assertion({ aud: "https://other.example" }) } });
    const res = await owner.api("GET", "/api/activity?limit=1");
    expect(await json(res)).toMatchObject({ entries: [{ type: "login_failed", detail: { purpose: "login" } }] });
  });
});

describe("activity log retention", () => {
  // A stranger's failed login costs two requests; write the entries directly.
  const flood = (instance: InstanceDO, n: number, from = 0) => {
    const entries = Array.from({ length: n }, (_, i) => ({
      type: "login_failed" as const,
      sessionId: null,
      detail: { purpose: "login", reason: `flood ${from + i}` },
    }));
    instance.recordActivities(entries);
  };
  const countsIn = (state: DurableObjectState) => {
    const count = (type: string) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity WHERE type = ?", type).one().n;
    const all = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity").one().n;
    const newest = state.storage.sql
      .exec<{ detail: string }>("SELECT detail FROM activity WHERE type = 'login_failed' ORDER BY id DESC LIMIT 1")
      .toArray()[0]?.detail;
    return { all, failed: count("login_failed"), locked: count("locked_out"), escrow: count("escrow_updated"), claimed: count("claimed"), newest };
  };
  const owners = (state: DurableObjectState, marker: string) =>
    state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity WHERE detail = ?", JSON.stringify({ marker })).one().n;

  it("keeps at most 1,000 login_failed entries (swept every 64 entries), which anyone can cause", async () => {
    const counts = await inInstance((instance, state) => {
      instance.recordActivities([{ type: "escrow_updated", sessionId: null, detail: { version: 99 } }]);
      // More than a sweep's slack past the bound, so an unbounded type would show.
      flood(instance, ACTIVITY_RETENTION_BY_TYPE.login_failed! + 200);
      return countsIn(state);
    });
    expect(counts.failed).toBeGreaterThanOrEqual(1_000);
    expect(counts.failed).toBeLessThan(1_000 + ACTIVITY_SWEEP_EVERY);
    expect(counts).toMatchObject({ escrow: 1, claimed: 1, newest: JSON.stringify({ purpose: "login", reason: "flood 1199" }) });
  });

  it("keeps at most 1,000 locked_out entries, which wrong codes at POST /auth/escrow cause without a key", async () => {
    const counts = await inInstance((instance, state) => {
      const lockouts = Array.from({ length: 1_200 }, (_, i) => ({
        type: "locked_out" as const,
        sessionId: null,
        detail: { counter: "escrow", lockouts: i },
      }));
      instance.recordActivities(lockouts);
      return countsIn(state);
    });
    expect(counts.locked).toBeGreaterThanOrEqual(1_000);
    expect(counts.locked).toBeLessThan(1_000 + ACTIVITY_SWEEP_EVERY);
    expect(counts).toMatchObject({ claimed: 1 });
  });

  it("a flood longer than the whole log's bound still never pushes the owner's history out", async () => {
    // The log's bound counts entries, not ids: the failures pruned by type leave
    // gaps in the ids, and an id-based bound used to drop everything before them.
    const counts = await inInstance((instance, state) => {
      instance.recordActivities([{ type: "backup_codes_regenerated", sessionId: null, detail: { marker: "before the flood" } }]);
      for (let i = 0; i < ACTIVITY_RETENTION + 2_000; i += 2_000) flood(instance, 2_000, i);
      return { ...countsIn(state), mine: owners(state, "before the flood") };
    });
    expect(counts).toMatchObject({ mine: 1, claimed: 1, newest: JSON.stringify({ purpose: "login", reason: `flood ${ACTIVITY_RETENTION + 1_999}` }) });
    expect(counts.failed).toBeLessThan(1_000 + ACTIVITY_SWEEP_EVERY);
  });

  it("keeps the newest 10,000 entries of the owner's own", async () => {
    const counts = await inInstance((instance, state) => {
      const own = Array.from({ length: ACTIVITY_RETENTION + 100 }, (_, i) => ({ type: "escrow_updated" as const, sessionId: null, detail: { version: i } }));
      instance.recordActivities(own);
      const version = (order: "ASC" | "DESC") =>
        JSON.parse(state.storage.sql.exec<{ detail: string }>(`SELECT detail FROM activity ORDER BY id ${order} LIMIT 1`).one().detail).version;
      return { ...countsIn(state), oldest: version("ASC"), newest: version("DESC") };
    });
    expect(counts.all).toBeGreaterThanOrEqual(ACTIVITY_RETENTION);
    expect(counts.all).toBeLessThan(ACTIVITY_RETENTION + ACTIVITY_SWEEP_EVERY);
    // All of them the newest of the owner's own: everything older went first.
    expect(counts.escrow).toBe(counts.all);
    expect(counts.newest).toBe(ACTIVITY_RETENTION + 99);
    expect(counts.oldest).toBe(ACTIVITY_RETENTION + 100 - counts.all);
  });
});

describe("forged assertions are refused with 401 invalid_assertion", () => {
  const payload = async () => ({
    aud: TEST_ORIGIN,
    nonce: await owner.challenge(),
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 60,
  });
  const login = (assertion: string) => owner.request("POST", "/auth/login", { body: { assertion } });

  it("alg: none", async () => {
    await expectInvalidAssertion(await login(new UnsecuredJWT(await payload()).encode()));
  });

  it("HS256 keyed with the owner's public key", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(owner.keys.publicKeys.sig));
    const forged = await new SignJWT(await payload()).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
    await expectInvalidAssertion(await login(forged));
    const raw = base64url.decode(owner.keys.publicKeys.sig.x!);
    const forged2 = await new SignJWT(await payload()).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(raw);
    await expectInvalidAssertion(await login(forged2));
  });

  it("a tampered payload", async () => {
    const genuine = await owner.assertion();
    const [h, p, s] = genuine.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    claims.exp += 100;
    const tampered = [h, base64url.encode(JSON.stringify(claims)), s].join(".");
    await expectInvalidAssertion(await login(tampered));
  });

  it("a wrong aud", async () => {
    await expectInvalidAssertion(await login(await owner.assertion({ aud: "https://id.example.test.evil" })));
  });

  it("an expired assertion", async () => {
    const iat = Math.floor(Date.now() / 1000) - 600;
    await expectInvalidAssertion(await login(await owner.assertion({ iat, exp: iat + 120 })));
  });

  it("a lifetime over 300 s", async () => {
    const iat = Math.floor(Date.now() / 1000);
    await expectInvalidAssertion(await login(await owner.assertion({ iat, exp: iat + 301 })));
  });

  it("an iat in the future", async () => {
    const iat = Math.floor(Date.now() / 1000) + 3600;
    await expectInvalidAssertion(await login(await owner.assertion({ iat, exp: iat + 60 })));
  });

  it("a signature by some other key", async () => {
    const other = await makeOwnerKeys();
    await expectInvalidAssertion(await login(await owner.assertion({ key: other.sig.privateKey })));
  });

  it("a kid that is not the owner's", async () => {
    await expectInvalidAssertion(await login(await owner.assertion({ kid: "someone-else" })));
  });

  it("garbage", async () => {
    await expectInvalidAssertion(await login("not.a.jws"));
    await expectInvalidAssertion(await login("x"));
  });
});

describe("forged access tokens are refused with 401 on /api", () => {
  const api = (token: string) => owner.request("GET", "/api/sessions", { bearer: token });
  const claims = () => {
    const now = Math.floor(Date.now() / 1000);
    return { sid: owner.sessionId, auth_time: now, amr: ["pop"], iss: TEST_ORIGIN, aud: TEST_ORIGIN, sub: "owner", iat: now, exp: now + 600, jti: "x" };
  };
  const instanceKey = async () => {
    const { importJWK } = await import("jose");
    return (await importJWK(JSON.parse(env.INSTANCE_SIGNING_KEY!), "EdDSA")) as CryptoKey;
  };
  const expectUnauthorized = async (res: Response) => {
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthorized" });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  };

  it("accepts a genuine token (control)", async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" }).sign(await instanceKey());
    expect((await api(token)).status).toBe(200);
  });

  it("alg: none", async () => {
    await expectUnauthorized(await api(new UnsecuredJWT(claims()).encode()));
  });

  it("HS256 keyed with the instance public key", async () => {
    const { d: _d, ...pub } = JSON.parse(env.INSTANCE_SIGNING_KEY!);
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
      .sign(new TextEncoder().encode(JSON.stringify(pub)));
    await expectUnauthorized(await api(forged));
  });

  it("a tampered payload", async () => {
    const [h, p, s] = owner.accessToken!.split(".");
    const c = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    c.auth_time += 1000;
    await expectUnauthorized(await api([h, base64url.encode(JSON.stringify(c)), s].join(".")));
  });

  it("a wrong aud", async () => {
    const forged = await new SignJWT({ ...claims(), aud: "https://elsewhere.example" })
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" })
      .sign(await instanceKey());
    await expectUnauthorized(await api(forged));
  });

  it("an expired token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ ...claims(), iat: now - 1000, exp: now - 100 })
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" })
      .sign(await instanceKey());
    await expectUnauthorized(await api(forged));
  });

  it("a token signed by the owner's key instead of the instance's", async () => {
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" }).sign(owner.keys.sig.privateKey);
    await expectUnauthorized(await api(forged));
  });

  it("an assertion used as an access token", async () => {
    await expectUnauthorized(await api(await owner.assertion()));
  });

  it("no token, or a malformed header", async () => {
    await expectUnauthorized(await owner.request("GET", "/api/sessions"));
    await expectUnauthorized(await owner.request("GET", "/api/sessions", { headers: { authorization: "Basic abc" } }));
  });
});
