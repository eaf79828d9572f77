import { describe, expect, it } from "vitest";
import { generatePrivateJwk, importDeviceKey } from "../keys";
import { memoryKeyStore } from "../keystore";
import { OwnerClient } from "../owner";
import { memoryRefreshCounter, type RefreshCounter } from "../refreshCounter";
import { createSession } from "../session";

const ORIGIN = "https://id.example.test";

/** Web Locks stand-in: one holder at a time per name, in request order. */
function fakeLocks(): LockManager {
  const tails = new Map<string, Promise<unknown>>();
  return {
    request(name: string, _options: unknown, callback: () => Promise<unknown>) {
      const prev = tails.get(name) ?? Promise.resolve();
      const run = prev.then(() => callback());
      tails.set(name, run.catch(() => {}));
      return run;
    },
  } as unknown as LockManager;
}

/** Two linked BroadcastChannel stand-ins whose messages arrive after `delayMs`. */
function fakeChannels(delayMs: number) {
  const make = () => ({ onmessage: null as ((e: MessageEvent) => void) | null, peer: null as unknown, postMessage(data: unknown) {}, close() {} });
  const a = make();
  const b = make();
  for (const [from, to] of [[a, b], [b, a]] as const) {
    from.postMessage = (data: unknown) => setTimeout(() => to.onmessage?.({ data } as MessageEvent), delayMs);
  }
  return [a, b] as unknown as [BroadcastChannel, BroadcastChannel];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Refresh mints token-1, token-2, ...; logout answers 204; GET /api/thing refuses
 * token-0 as expired after 100 ms and serves any other token.
 */
function fakeServer() {
  let refreshes = 0;
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname === "/auth/refresh") {
      refreshes++;
      await sleep(5);
      return Response.json({ accessToken: `token-${refreshes}`, expiresIn: 900, sessionId: "s1" });
    }
    if (url.pathname === "/auth/logout") return new Response(null, { status: 204 });
    if (url.pathname === "/api/thing") {
      const auth = new Headers(init?.headers).get("authorization");
      if (auth !== "Bearer token-0") return Response.json({ thing: auth });
      await sleep(100);
      return Response.json({ error: "unauthorized", message: "The access token expired." }, { status: 401 });
    }
    return Response.json({ error: "not_found", message: "no" }, { status: 404 });
  };
  return { fetchFn, count: () => refreshes };
}

/** Two tabs of one origin, both logged in with token-0; broadcasts take 50 ms. */
function twoTabs(counter: RefreshCounter | null) {
  const server = fakeServer();
  const locks = fakeLocks();
  const tabs = fakeChannels(50).map((channel) =>
    createSession({ origin: ORIGIN, fetch: server.fetchFn, locks, channel, counter, refreshMarginMs: 60_000 }),
  );
  for (const tab of tabs) tab.adopt({ accessToken: "token-0", expiresIn: 30, sessionId: "s1" });
  return { server, tabs };
}

describe("createSession: refresh is single-flight across tabs", () => {
  it("refreshes once when two tabs refresh at the same moment, even if the broadcast arrives after the lock", async () => {
    const { server, tabs } = twoTabs(memoryRefreshCounter());

    const results = await Promise.all(tabs.map((tab) => tab.refresh()));
    expect(results).toEqual([true, true]);
    expect(server.count()).toBe(1);
    expect(await tabs[0]!.accessToken()).toBe("token-1");
    expect(await tabs[1]!.accessToken()).toBe("token-1");
    for (const tab of tabs) tab.dispose();
  });

  it("refreshes once when one tab's refresh has finished but its broadcast has not yet reached the other", async () => {
    // The other tab's timer fires after the first tab released the lock and moved the
    // counter, but before its token arrived: the counter moved since this tab's own
    // token, so it waits for the broadcast instead of rotating again.
    const { server, tabs } = twoTabs(memoryRefreshCounter());
    await sleep(60); // the adopt broadcasts have arrived

    expect(await tabs[0]!.refresh()).toBe(true);
    expect(await tabs[1]!.refresh()).toBe(true);
    expect(server.count()).toBe(1);
    expect(await tabs[1]!.accessToken()).toBe("token-1");
    for (const tab of tabs) tab.dispose();
  });

  it("without the shared counter, the late broadcast would cost a second rotation", async () => {
    const { server, tabs } = twoTabs(null);
    await Promise.all(tabs.map((tab) => tab.refresh()));
    expect(server.count()).toBe(2);
    for (const tab of tabs) tab.dispose();
  });
});

describe("createSession: no rotation that a token from another tab makes needless", () => {
  it("stops waiting for another tab's token, and refreshes nothing, when a logout arrives meanwhile", async () => {
    const counter = memoryRefreshCounter();
    const { server, tabs } = twoTabs(counter);
    await sleep(60); // the adopt broadcasts have arrived
    await counter.bump(); // another tab refreshed; its token is on the way
    const refreshing = tabs[1]!.refresh();
    await tabs[0]!.logout(); // its logged_out broadcast reaches the waiting tab first
    expect(await refreshing).toBe(false);
    expect(server.count()).toBe(0);
    expect(tabs[1]!.isLoggedIn()).toBe(false);
    for (const tab of tabs) tab.dispose();
  });

  it("takes no token of a session it saw end: another tab's refresh answered before the logout, broadcast after it", async () => {
    const { server, tabs } = twoTabs(memoryRefreshCounter());
    await sleep(60); // the adopt broadcasts have arrived
    const refreshing = tabs[1]!.refresh(); // answered in 5 ms; its broadcast takes 50
    await tabs[0]!.logout();
    expect(await refreshing).toBe(true);
    await sleep(120); // every broadcast has arrived: the token, then the logout
    expect(server.count()).toBe(1);
    expect(tabs.map((tab) => tab.isLoggedIn())).toEqual([false, false]);
    // A new login (a new session) is taken as ever.
    tabs[0]!.adopt({ accessToken: "token-new", expiresIn: 900, sessionId: "s2" });
    await sleep(60);
    expect(tabs.map((tab) => tab.sessionId())).toEqual(["s2", "s2"]);
    for (const tab of tabs) tab.dispose();
  });

  it("retries a request refused as expired with the token another tab sent meanwhile, without a refresh", async () => {
    const { server, tabs } = twoTabs(memoryRefreshCounter());
    tabs[0]!.adopt({ accessToken: "token-0", expiresIn: 900, sessionId: "s1" }); // fresh: no refresh first
    await sleep(60);
    const request = tabs[0]!.fetch("/api/thing");
    await sleep(10);
    tabs[1]!.adopt({ accessToken: "token-9", expiresIn: 900, sessionId: "s1" }); // reaches tab 0 before the 401
    const res = await request;
    expect(await res.json()).toEqual({ thing: "Bearer token-9" });
    expect(server.count()).toBe(0);
    for (const tab of tabs) tab.dispose();
  });
});

describe("createSession: logout", () => {
  const withLogoutAnswer = (answer: () => Response) => {
    const calls: string[] = [];
    const fetchFn = async (input: RequestInfo | URL) => {
      const path = new URL(String(input)).pathname;
      calls.push(path);
      return path === "/auth/logout" ? answer() : Response.json({ error: "not_found", message: "no" }, { status: 404 });
    };
    const session = createSession({ origin: ORIGIN, fetch: fetchFn, locks: null, channel: null, counter: null });
    session.adopt({ accessToken: "token-0", expiresIn: 900, sessionId: "s1" });
    const events: string[] = [];
    session.on((e) => events.push(e.type));
    return { session, events, calls };
  };

  it("logs out on 204", async () => {
    const { session, events, calls } = withLogoutAnswer(() => new Response(null, { status: 204 }));
    await session.logout();
    expect(calls).toEqual(["/auth/logout"]);
    expect(session.isLoggedIn()).toBe(false);
    expect(events).toEqual(["logged_out"]);
    session.dispose();
  });

  it.each([
    ["429 (the rate limit)", () => Response.json({ error: "rate_limited", message: "slow down" }, { status: 429, headers: { "retry-after": "30" } }), "rate_limited"],
    ["500", () => Response.json({ error: "internal_error", message: "oops" }, { status: 500 }), "internal_error"],
    ["200 instead of 204", () => Response.json({}), "bad_response"],
  ])("keeps the session and throws on %s: the server never ended it", async (_name, answer, code) => {
    const { session, events } = withLogoutAnswer(answer);
    await expect(session.logout()).rejects.toMatchObject({ code });
    expect(session.isLoggedIn()).toBe(true);
    expect(events).toEqual([]);
    session.dispose();
  });

  it("keeps the session when the server cannot be reached", async () => {
    const session = createSession({
      origin: ORIGIN,
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
      locks: null,
      channel: null,
      counter: null,
    });
    session.adopt({ accessToken: "token-0", expiresIn: 900, sessionId: "s1" });
    await expect(session.logout()).rejects.toMatchObject({ code: "network_error" });
    expect(session.isLoggedIn()).toBe(true);
    session.dispose();
  });
});

describe("createSession: a stalled refresh does not hold the cross-tab lock forever", () => {
  it("gives up after refreshTimeoutMs, releasing the lock for the next tab", { timeout: 5_000 }, async () => {
    const locks = fakeLocks();
    let refreshes = 0;
    // The first refresh request never gets an answer; it ends only if aborted, as fetch does.
    const fetchFn = (input: RequestInfo | URL, init?: RequestInit) => {
      if (new URL(String(input)).pathname !== "/auth/refresh") return Promise.resolve(new Response(null, { status: 404 }));
      refreshes++;
      if (refreshes > 1) return Promise.resolve(Response.json({ accessToken: "token-2", expiresIn: 900, sessionId: "s1" }));
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
      });
    };
    const stalled = createSession({ origin: ORIGIN, fetch: fetchFn, locks, channel: null, counter: null, refreshTimeoutMs: 100 });
    const other = createSession({ origin: ORIGIN, fetch: fetchFn, locks, channel: null, counter: null, refreshTimeoutMs: 100 });
    const first = stalled.refresh();
    const second = other.refresh();
    await expect(first).rejects.toMatchObject({ code: "network_error" });
    // The other tab was waiting for the lock; it gets it and refreshes.
    expect(await second).toBe(true);
    expect(await other.accessToken()).toBe("token-2");
    stalled.dispose();
    other.dispose();
  });
});

describe("OwnerClient.resume (a page load)", () => {
  const clientWith = async (hasKeys: boolean) => {
    const server = fakeServer();
    const keyStore = memoryKeyStore();
    if (hasKeys) {
      const [sig, enc] = await Promise.all([generatePrivateJwk("sig"), generatePrivateJwk("enc")]);
      await keyStore.save({
        format: 1,
        sig: await importDeviceKey(sig, "current"),
        enc: [await importDeviceKey(enc, "current")],
        escrowVersion: 1,
        savedAt: Date.now(),
      });
    }
    const session = createSession({ origin: ORIGIN, fetch: server.fetchFn, channel: null, counter: null, locks: null });
    return { server, client: new OwnerClient({ origin: ORIGIN, fetch: server.fetchFn, keyStore, session }) };
  };

  it("refreshes from the cookie on a device that holds the keys", async () => {
    const { server, client } = await clientWith(true);
    expect(await client.resume()).toBe(true);
    expect(server.count()).toBe(1);
    expect(client.session.isLoggedIn()).toBe(true);
  });

  it("asks nothing on a device without the keys: no session can exist there", async () => {
    const { server, client } = await clientWith(false);
    expect(await client.resume()).toBe(false);
    expect(server.count()).toBe(0);
    expect(client.session.isLoggedIn()).toBe(false);
  });
});
