import { beforeAll, describe, expect, it } from "vitest";
import { json, OwnerClient, refreshCookieFrom } from "../helpers/owner";
import { advanceClock } from "../helpers/clock";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

/** A fresh session of the owner, on its own device. */
async function newDevice(fetcher = owner.fetcher): Promise<OwnerClient> {
  const device = new OwnerClient(fetcher, TEST_ORIGIN, owner.keys);
  const res = await device.login();
  expect(res.status).toBe(200);
  return device;
}

async function expectRevoked(res: Response) {
  expect(res.status).toBe(401);
  expect(await json(res)).toMatchObject({ error: "session_revoked" });
}

describe("rule 1: presenting the current token rotates", () => {
  it("returns a new access token and a new refresh cookie for the same session", async () => {
    const device = await newDevice();
    const first = device.refreshToken;
    const res = await device.refresh();
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({ accessToken: expect.any(String), expiresIn: 900, sessionId: device.sessionId });
    expect(device.refreshToken).not.toBe(first);
    expect(res.headers.get("set-cookie")).toMatch(/HttpOnly; Secure; SameSite=Strict/);
    expect((await device.api("GET", "/api/sessions")).status).toBe(200);
  });

  it("sets the cookie with exactly these attributes (REFRESH_IDLE_TTL_S as Max-Age), and clears it the same way", async () => {
    const device = await newDevice();
    const res = await device.refresh();
    expect(res.headers.get("set-cookie")).toBe(`__Secure-rt=${device.refreshToken}; Max-Age=8640000; Path=/auth; HttpOnly; Secure; SameSite=Strict`);
    expect(device.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const logout = await device.request("POST", "/auth/logout");
    expect(logout.status).toBe(204);
    expect(logout.headers.get("set-cookie")).toBe("__Secure-rt=; Max-Age=0; Path=/auth; HttpOnly; Secure; SameSite=Strict");
  });

  it("answers 401 unauthorized without a cookie or with an unknown one", async () => {
    const device = owner.device();
    const none = await device.refresh(null);
    expect(none.status).toBe(401);
    expect(await json(none)).toMatchObject({ error: "unauthorized" });
    const unknown = await device.refresh("A".repeat(43));
    expect(unknown.status).toBe(401);
    expect(await json(unknown)).toMatchObject({ error: "unauthorized" });
  });
});

describe("rule 2: concurrent tabs and retries share one successor", () => {
  it("gives 20 concurrent refreshes with one token exactly one successor", async () => {
    const device = await newDevice();
    const token = device.refreshToken!;
    const results = await Promise.all(Array.from({ length: 20 }, () => device.request("POST", "/auth/refresh", { cookie: token })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const successors = new Set(results.map(refreshCookieFrom));
    expect(successors.size).toBe(1);
    const successor = [...successors][0]!;
    expect(successor).not.toBe(token);
    // The shared successor is a real, current token: it rotates.
    const next = await device.request("POST", "/auth/refresh", { cookie: successor });
    expect(next.status).toBe(200);
    expect(refreshCookieFrom(next)).not.toBe(successor);
  });

  it("returns the same successor to a retry within the grace period", async () => {
    const device = await newDevice();
    const token = device.refreshToken!;
    const a = await device.request("POST", "/auth/refresh", { cookie: token });
    const b = await device.request("POST", "/auth/refresh", { cookie: token });
    expect(refreshCookieFrom(a)).toBe(refreshCookieFrom(b));
    // Each answer carries its own valid access token for the same session.
    const tokenA = (await json<{ accessToken: string }>(a)).accessToken;
    const tokenB = (await json<{ accessToken: string }>(b)).accessToken;
    expect(tokenA).not.toBe(tokenB);
    for (const t of [tokenA, tokenB]) expect((await device.request("GET", "/api/sessions", { bearer: t })).status).toBe(200);
  });
});

describe("rule 3: a lost response is not theft", () => {
  it("rotates again when the previous token returns after the grace period and its successor was never used", async () => {
    const noGrace = fetchWithVars({ REFRESH_REUSE_GRACE_S: "0" });
    const device = await newDevice(noGrace);
    const token = device.refreshToken!;
    const lost = await device.request("POST", "/auth/refresh", { cookie: token }); // the response the client never saw
    const lostSuccessor = refreshCookieFrom(lost)!;
    advanceClock(5);

    const retry = await device.request("POST", "/auth/refresh", { cookie: token });
    expect(retry.status).toBe(200);
    const newSuccessor = refreshCookieFrom(retry)!;
    expect(newSuccessor).not.toBe(lostSuccessor);
    expect((await device.request("GET", "/api/sessions", { bearer: (await json<{ accessToken: string }>(retry)).accessToken })).status).toBe(200);

    // The successor that was never delivered died with rule 3: presenting it now is theft.
    await expectRevoked(await device.request("POST", "/auth/refresh", { cookie: lostSuccessor }));
    await expectRevoked(await device.request("POST", "/auth/refresh", { cookie: newSuccessor }));
  });
});

describe("rule 4: reuse of a superseded token is theft", () => {
  it("revokes the session, its access tokens at once, and no other session", async () => {
    const victim = await newDevice();
    const bystander = await newDevice();
    const stolen = victim.refreshToken!;
    expect((await victim.refresh()).status).toBe(200); // successor issued...
    expect((await victim.refresh()).status).toBe(200); // ...and used: `stolen` is now history
    const accessBefore = victim.accessToken!;
    expect((await victim.api("GET", "/api/sessions")).status).toBe(200);

    const replay = await victim.request("POST", "/auth/refresh", { cookie: stolen });
    await expectRevoked(replay);
    expect(replay.headers.get("set-cookie")).toMatch(/__Secure-rt=;/);

    // Everything of the victim's session is dead at once...
    await expectRevoked(await victim.request("GET", "/api/sessions", { bearer: accessBefore }));
    await expectRevoked(await victim.refresh());
    // ...and the other session is untouched.
    expect((await bystander.api("GET", "/api/sessions")).status).toBe(200);
    expect((await bystander.refresh()).status).toBe(200);

    const activity = await json<{ entries: Array<{ type: string; sessionId?: string }> }>(await bystander.api("GET", "/api/activity"));
    expect(activity.entries).toContainEqual(expect.objectContaining({ type: "refresh_token_reuse", sessionId: victim.sessionId }));
  });

  it("revokes exactly once when 20 stolen-token replays race", async () => {
    const victim = await newDevice();
    const stolen = victim.refreshToken!;
    await victim.refresh();
    await victim.refresh();
    const results = await Promise.all(Array.from({ length: 20 }, () => victim.request("POST", "/auth/refresh", { cookie: stolen })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(401));
    const activity = await json<{ entries: Array<{ type: string; sessionId?: string }> }>(await owner.api("GET", "/api/activity?limit=100"));
    expect(activity.entries.filter((e) => e.type === "refresh_token_reuse" && e.sessionId === victim.sessionId)).toHaveLength(1);
  });
});

describe("rule 5: lifetimes", () => {
  it("expires a session that was idle longer than REFRESH_IDLE_TTL_S", async () => {
    const shortIdle = fetchWithVars({ REFRESH_IDLE_TTL_S: "1" });
    const device = await newDevice(shortIdle);
    advanceClock(1_100);
    const res = await device.refresh();
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthorized" });
  });

  it("expires a session older than SESSION_MAX_TTL_S even if refreshed", async () => {
    // One client whose settings change mid-test: the session is refreshed under the
    // default lifetime (so it was just used), then checked against a 1 s maximum. No
    // step depends on how fast the machine answers, only on the 1.1 s the clock moves.
    let vars: Record<string, string> = {};
    const device = await newDevice((request) => fetchWithVars(vars)(request));
    advanceClock(1_100);
    expect((await device.refresh()).status).toBe(200);
    vars = { SESSION_MAX_TTL_S: "1" };
    expect((await device.refresh()).status).toBe(401);
    expect((await device.api("GET", "/api/sessions")).status).toBe(401);
  });
});

describe("POST /auth/logout", () => {
  it("revokes the session, clears the cookie, and kills its access token at once", async () => {
    const device = await newDevice();
    const res = await device.request("POST", "/auth/logout");
    expect(res.status).toBe(204);
    expect(res.headers.get("set-cookie")).toMatch(/^__Secure-rt=;.*Max-Age=0/);
    await expectRevoked(await device.api("GET", "/api/sessions"));
    await expectRevoked(await device.refresh());
  });

  it("wins against refreshes racing it: no token minted around the logout survives", async () => {
    const device = await newDevice();
    const token = device.refreshToken!;
    const [logout, ...refreshes] = await Promise.all([
      device.request("POST", "/auth/logout", { cookie: token }),
      ...Array.from({ length: 10 }, () => device.request("POST", "/auth/refresh", { cookie: token })),
    ]);
    expect(logout!.status).toBe(204);
    for (const res of refreshes.filter((r) => r.ok)) {
      const successor = refreshCookieFrom(res)!;
      const { accessToken } = await json<{ accessToken: string }>(res);
      await expectRevoked(await device.request("POST", "/auth/refresh", { cookie: successor }));
      await expectRevoked(await device.request("GET", "/api/sessions", { bearer: accessToken }));
    }
  });

  it("has its own rate-limit budget: a spent refresh budget from the same address does not stop it", async () => {
    const address = { "cf-connecting-ip": "203.0.113.91" };
    const limited = fetchWithVars({ RATE_LIMIT_PER_MIN: "3" });
    const device = await newDevice();
    const fromAddress = new OwnerClient(limited, TEST_ORIGIN, owner.keys, address);
    // Someone else on the same network spends the address's refresh budget.
    const stranger = new OwnerClient(limited, TEST_ORIGIN, owner.keys, address);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await stranger.request("POST", "/auth/refresh", { cookie: null })).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const res = await fromAddress.request("POST", "/auth/logout", { cookie: device.refreshToken });
    expect(res.status).toBe(204);
    await expectRevoked(await device.api("GET", "/api/sessions"));
  });

  it("is idempotent without a cookie", async () => {
    expect((await owner.device().request("POST", "/auth/logout", { cookie: null })).status).toBe(204);
  });
});
