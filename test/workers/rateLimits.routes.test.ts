/**
 * The rate limits of docs/api.md §12-14, route by route (http.test.ts covers §3-5):
 * past RATE_LIMIT_PER_MIN from one address, each answers 429 rate_limited with a
 * Retry-After, whatever the request; another address is not affected. Revocation has
 * its own group (indieauth-revoke), so a spent indieauth budget never keeps a token
 * alive.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

const LIMIT = 3;
let owner: OwnerClient;

beforeAll(async () => {
  owner = await claimedOwner();
});

const form = (fields: Record<string, string>) => ({
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
});

/** Each route's request: public ones as a stranger sends them, Bearer ones with the owner's token. */
const ROUTES: Array<[string, string, () => RequestInit & { headers?: Record<string, string> }]> = [
  ["POST", "/auth/recovery", () => ({ headers: { "content-type": "application/json" }, body: "{}" })],
  ["POST", "/auth/passkey/options", () => ({})],
  ["POST", "/api/passkeys/options", () => ({ headers: { authorization: `Bearer ${owner.accessToken}` } })],
  ["POST", "/indieauth/token", () => form({ grant_type: "authorization_code", code: "x" })],
  ["POST", "/indieauth/authorize", () => form({ grant_type: "authorization_code", code: "x" })],
  ["GET", "/indieauth/userinfo", () => ({ headers: { authorization: "Bearer not-a-token" } })],
  ["POST", "/indieauth/revoke", () => form({ token: "x" })],
];

describe("rate limits of §12-14", () => {
  it.each(ROUTES.map((route, i) => [...route, i] as const))("%s %s answers 429 rate_limited with Retry-After past RATE_LIMIT_PER_MIN per address", async (method, path, init, i) => {
    const fetcher = fetchWithVars({ RATE_LIMIT_PER_MIN: String(LIMIT) });
    const send = (ip: string) => {
      const { headers, ...rest } = init();
      return fetcher(new Request(`${TEST_ORIGIN}${path}`, { method, ...rest, headers: { ...headers, "cf-connecting-ip": ip } }));
    };
    const ip = `198.51.100.${i + 1}`;
    for (let i = 0; i < LIMIT; i++) expect((await send(ip)).status).not.toBe(429);
    const res = await send(ip);
    expect(res.status).toBe(429);
    expect(await json(res)).toMatchObject({ error: "rate_limited" });
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await send(`192.0.2.${i + 1}`)).status).not.toBe(429);
  });

  it("revocation keeps its own budget: a spent indieauth budget does not stop it", async () => {
    const fetcher = fetchWithVars({ RATE_LIMIT_PER_MIN: String(LIMIT) });
    const headers = { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "203.0.113.9" };
    for (let i = 0; i <= LIMIT; i++) {
      await fetcher(new Request(`${TEST_ORIGIN}/indieauth/token`, { method: "POST", headers, body: "grant_type=authorization_code&code=x" }));
    }
    const spent = await fetcher(new Request(`${TEST_ORIGIN}/indieauth/token`, { method: "POST", headers, body: "grant_type=authorization_code&code=x" }));
    expect(spent.status).toBe(429);
    const revoke = await fetcher(new Request(`${TEST_ORIGIN}/indieauth/revoke`, { method: "POST", headers, body: "token=x" }));
    expect(revoke.status).toBe(200);
  });
});
