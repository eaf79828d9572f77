import { describe, expect, it } from "vitest";
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

function fakeStorage() {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v) };
}

function fakeServer() {
  let refreshes = 0;
  const fetchFn = async (input: RequestInfo | URL) => {
    const url = new URL(String(input));
    if (url.pathname === "/auth/refresh") {
      refreshes++;
      await new Promise((r) => setTimeout(r, 5));
      return Response.json({ accessToken: `token-${refreshes}`, expiresIn: 900, sessionId: "s1" });
    }
    return Response.json({ error: "not_found", message: "no" }, { status: 404 });
  };
  return { fetchFn, count: () => refreshes };
}

describe("createSession: refresh is single-flight across tabs", () => {
  it("refreshes once when two tabs refresh at the same moment, even if the broadcast arrives after the lock", async () => {
    const server = fakeServer();
    const locks = fakeLocks();
    const storage = fakeStorage();
    const [ca, cb] = fakeChannels(50);
    const tabs = [ca, cb].map((channel) =>
      createSession({ origin: ORIGIN, fetch: server.fetchFn, locks, channel, storage, refreshMarginMs: 60_000 }),
    );
    for (const tab of tabs) tab.adopt({ accessToken: "token-0", expiresIn: 30, sessionId: "s1" });

    const results = await Promise.all(tabs.map((tab) => tab.refresh()));
    expect(results).toEqual([true, true]);
    expect(server.count()).toBe(1);
    expect(await tabs[0]!.accessToken()).toBe("token-1");
    expect(await tabs[1]!.accessToken()).toBe("token-1");
    for (const tab of tabs) tab.dispose();
  });

  it("without the shared counter, the late broadcast would cost a second rotation", async () => {
    const server = fakeServer();
    const locks = fakeLocks();
    const [ca, cb] = fakeChannels(50);
    const tabs = [ca, cb].map((channel) =>
      createSession({ origin: ORIGIN, fetch: server.fetchFn, locks, channel, storage: null, refreshMarginMs: 60_000 }),
    );
    for (const tab of tabs) tab.adopt({ accessToken: "token-0", expiresIn: 30, sessionId: "s1" });
    await Promise.all(tabs.map((tab) => tab.refresh()));
    expect(server.count()).toBe(2);
    for (const tab of tabs) tab.dispose();
  });
});
