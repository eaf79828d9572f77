/**
 * IndieAuth (docs/api.md §14) under concurrency, through the Worker: of 20
 * redemptions of one code exactly one gets tokens (and the other 19, replays,
 * revoke them); of 20 approvals of one request exactly one gets a code; 20 refreshes
 * of one refresh token follow §5 (one rotation, the rest get the same successor
 * within the grace), and after the grace the rules 3 and 4 hold.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { advanceClock } from "../helpers/clock";
import {
  approvedCode,
  authorizationQuery,
  introspect,
  issuedTokens,
  makePkce,
  oauthError,
  postRequest,
  redeemCode,
  refreshGrant,
  serveClient,
  useFakeClientNetwork,
  type AuthorizationParams,
  type TokenResponse,
} from "../helpers/indieauth";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner } from "../helpers/workers";

const net = useFakeClientNetwork();
const SECRET = env.INDIEAUTH_INTROSPECTION_SECRET!;
const CLIENT = "https://racer.example.com/";
const REDIRECT = "https://racer.example.com/cb";
const N = 20;

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

async function params(): Promise<AuthorizationParams> {
  return { clientId: CLIENT, redirectUri: REDIRECT, pkce: await makePkce(), scope: "create" };
}

const tokens = (p: AuthorizationParams) => issuedTokens(net, owner, p);

describe("single use under concurrency", () => {
  it(`of ${N} concurrent redemptions of one code, exactly one gets tokens, and the replays revoke them`, async () => {
    const p = await params();
    serveClient(net, CLIENT);
    const code = await approvedCode(owner, p);
    const responses = await Promise.all(Array.from({ length: N }, () => redeemCode(code, p)));
    const winners = responses.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const loser of responses.filter((r) => r.status !== 200)) expect(await oauthError(loser)).toEqual({ status: 400, error: "invalid_grant" });
    const won = await json<TokenResponse>(winners[0]!);
    expect(await json(await introspect(won.access_token, SECRET))).toEqual({ active: false });
  });

  it(`of ${N} concurrent approvals of one request, exactly one gets a code`, async () => {
    serveClient(net, CLIENT);
    const requested = await postRequest(owner, authorizationQuery(await params()));
    const { requestId } = await json<{ requestId: string }>(requested);
    const responses = await Promise.all(Array.from({ length: N }, () => owner.api("POST", "/api/indieauth/approve", { requestId })));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    const losers = responses.filter((r) => r.status !== 200);
    expect(losers).toHaveLength(N - 1);
    for (const loser of losers) {
      expect(loser.status).toBe(404);
      expect(await json(loser)).toMatchObject({ error: "not_found" });
    }
  });

  it(`of ${N} concurrent approvals and denials of one request, exactly one answers`, async () => {
    serveClient(net, CLIENT);
    const { requestId } = await json<{ requestId: string }>(await postRequest(owner, authorizationQuery(await params())));
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) => owner.api("POST", i % 2 ? "/api/indieauth/approve" : "/api/indieauth/deny", { requestId })),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 404)).toHaveLength(N - 1);
  });
});

describe("concurrent refreshes of one refresh token (the §5 grace)", () => {
  it(`${N} at once: one rotation, every answer the same successor with its own access token; the grant stays live`, async () => {
    const first = await tokens(await params());
    const responses = await Promise.all(Array.from({ length: N }, () => refreshGrant(first.refresh_token, CLIENT)));
    expect(responses.map((r) => r.status)).toEqual(Array(N).fill(200));
    const bodies = await Promise.all(responses.map((r) => json<TokenResponse>(r)));
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.access_token)).size).toBe(N);
    for (const b of bodies.slice(0, 3)) expect(await json(await introspect(b.access_token, SECRET))).toMatchObject({ active: true });
    // The successor works, and the grant was never taken for stolen.
    expect((await refreshGrant(bodies[0]!.refresh_token, CLIENT)).status).toBe(200);
  });

  it("after the grace: the previous token rotates again while its successor is unused (rule 3); the dead successor is theft (rule 4)", async () => {
    const first = await tokens(await params());
    const a = await json<TokenResponse>(await refreshGrant(first.refresh_token, CLIENT));
    advanceClock(10_001);
    const b = await json<TokenResponse>(await refreshGrant(first.refresh_token, CLIENT));
    expect(b.refresh_token).not.toBe(a.refresh_token);
    // a's successor died under rule 3: presenting it is reuse of a superseded token.
    expect(await oauthError(await refreshGrant(a.refresh_token, CLIENT))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await oauthError(await refreshGrant(b.refresh_token, CLIENT))).toEqual({ status: 400, error: "invalid_grant" });
    expect(await json(await introspect(b.access_token, SECRET))).toEqual({ active: false });
    const log = await json<{ entries: Array<{ type: string; detail?: { reason?: string } }> }>(await owner.api("GET", "/api/activity?limit=1"));
    expect(log.entries[0]).toMatchObject({ type: "app_revoked", detail: { reason: "refresh_token_reuse" } });
  });

  it(`${N} concurrent uses of a superseded token: the grant is revoked once, every one refused`, async () => {
    const first = await tokens(await params());
    const second = await json<TokenResponse>(await refreshGrant(first.refresh_token, CLIENT));
    // Using the successor makes the first token history.
    await json(await refreshGrant(second.refresh_token, CLIENT));
    const newest = async () => (await json<{ entries: Array<{ id: number; type: string }> }>(await owner.api("GET", "/api/activity?limit=100"))).entries;
    const before = (await newest())[0]!.id;
    const responses = await Promise.all(Array.from({ length: N }, () => refreshGrant(first.refresh_token, CLIENT)));
    for (const r of responses) expect(await oauthError(r)).toEqual({ status: 400, error: "invalid_grant" });
    expect((await newest()).filter((e) => e.id > before).map((e) => e.type)).toEqual(["app_revoked"]);
  });
});
