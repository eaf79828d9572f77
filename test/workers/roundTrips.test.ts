/**
 * The hot paths' Durable Object calls, counted (docs/benchmarks.md): each makes ONE.
 * A change that adds a round trip to one of them fails here; if it is worth it,
 * change the count here and in docs/benchmarks.md together.
 */

import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { base64urlDecode } from "../../src/lib/bytes";
import { ROUTE_LIST } from "../../src/schemas/routes";
import { readSettings } from "../../src/settings";
import { countingFetcher, type CountingFetcher } from "../helpers/instanceCalls";
import { publishedEncryptionKey, postMessage, sealMessage } from "../helpers/messages";
import { json, makeKeyPair, OwnerClient } from "../helpers/owner";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { makeRecoveryVerifier } from "../helpers/recovery";
import { enrolTotp, type Enrolled } from "../helpers/twoFactor";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
let counting: CountingFetcher;
/** A device of the owner whose requests are counted. */
let device: OwnerClient;

beforeAll(async () => {
  owner = await claimedOwner();
  counting = countingFetcher();
  device = new OwnerClient(counting.fetcher, TEST_ORIGIN, owner.keys);
});

describe("one Durable Object call per hot path", () => {
  it("POST /auth/challenge: openChallenge", async () => {
    counting.take();
    await device.challenge();
    expect(counting.take()).toEqual(["openChallenge"]);
  });

  it("POST /auth/login: login (rate limit, challenge, 2FA check and session together)", async () => {
    const assertion = await device.assertion();
    counting.take();
    const res = await device.adopt(await device.request("POST", "/auth/login", { body: { assertion } }));
    expect(res.status).toBe(200);
    expect(counting.take()).toEqual(["login"]);
  });

  it("a login with a bad signature: one call, which also spends the challenge and logs the failure", async () => {
    const stranger = await makeKeyPair("sig");
    const assertion = await device.assertion({ key: stranger.privateKey });
    counting.take();
    const res = await device.request("POST", "/auth/login", { body: { assertion } });
    expect(res.status).toBe(401);
    expect(counting.take()).toEqual(["login"]);
    // The challenge is spent: the right signature over it no longer works.
    const again = await device.request("POST", "/auth/login", { body: { assertion: await device.assertion({ nonce: nonceOf(assertion) }) } });
    expect(again.status).toBe(401);
    const activity = await json<{ entries: Array<{ type: string; detail: { reason?: string } }> }>(await owner.api("GET", "/api/activity"));
    expect(activity.entries.some((e) => e.type === "login_failed")).toBe(true);
  });

  it("a login whose body is not valid still counts its rate-limit hit, in one call", async () => {
    counting.take();
    const res = await device.request("POST", "/auth/login", { body: { assertion: 42 } });
    expect(res.status).toBe(400);
    expect(counting.take()).toEqual(["hitRateLimit"]);
  });

  it("POST /auth/refresh: refresh (rate limit and rotation together)", async () => {
    counting.take();
    const res = await device.refresh();
    expect(res.status).toBe(200);
    expect(counting.take()).toEqual(["refresh"]);
  });

  it("an authenticated GET /api/2fa: the session check alone", async () => {
    counting.take();
    const res = await device.api("GET", "/api/2fa");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    expect(counting.take()).toEqual(["authorizeSession"]);
  });

  // The owner app's other reads: each rides in the session check's call (http/auth.ts, BEARER_READS).
  it.each([
    ["/api/messages?limit=5", "messages"],
    ["/api/activity?limit=3", "entries"],
    ["/api/sessions", "sessions"],
    ["/api/passkeys", "passkeys"],
    // The router takes a trailing slash as the same route; so does the fold.
    ["/api/messages/?limit=5", "messages"],
    ["/api/sessions/", "sessions"],
  ])("an authenticated GET %s: the session check, which brings the %s", async (path, field) => {
    counting.take();
    const res = await device.api("GET", path);
    expect(res.status).toBe(200);
    const body = await json<Record<string, unknown[]>>(res);
    expect(Array.isArray(body[field])).toBe(true);
    expect(counting.take()).toEqual(["authorizeSession"]);
    // HEAD runs the GET route (hono), so it folds the read too.
    const head = await device.api("HEAD", path);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(counting.take()).toEqual(["authorizeSession"]);
  });

  it("a query the route refuses is a 400 before any call; a revoked session's read is a 401 with nothing read", async () => {
    counting.take();
    const bad = await device.api("GET", "/api/messages?after=1&before=2");
    expect(bad.status).toBe(400);
    expect(counting.take()).toEqual([]);

    const other = new OwnerClient(counting.fetcher, TEST_ORIGIN, owner.keys);
    expect((await other.login()).status).toBe(200);
    expect((await owner.api("DELETE", `/api/sessions/${other.sessionId}`)).status).toBe(204);
    counting.take();
    const revoked = await other.api("GET", "/api/messages");
    expect(revoked.status).toBe(401);
    expect(await json(revoked)).toMatchObject({ error: "session_revoked" });
    expect(counting.take()).toEqual(["authorizeSession"]);
    // What the object answered: the status, and no page, list or entries.
    const stub = env.INSTANCE.get(env.INSTANCE.idFromName("instance"));
    const answer = await stub.authorizeSession(other.sessionId!, readSettings(env).sessionPolicy, {
      messages: { limit: 5 },
      activity: { limit: 5 },
      sessions: true,
      passkeys: true,
    });
    expect(answer).toEqual({ status: "revoked", twoFactor: expect.any(Object) });
  });

  it("POST /messages: acceptMessage (rate limit, current kid, quota, insert and push)", async () => {
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const jwe = await sealMessage(key, "hello");
    counting.take();
    const res = await postMessage(counting.fetcher, TEST_ORIGIN, { jwe });
    expect(res.status).toBe(202);
    expect(counting.take()).toEqual(["acceptMessage"]);
    const refused = await postMessage(counting.fetcher, TEST_ORIGIN, { jwe: await sealMessage(key, "x", { kid: "not-a-key" }) });
    expect(refused.status).toBe(400);
    expect(counting.take()).toEqual(["acceptMessage"]);
  });

  // The owner app's writes without a rule of their own: each rides in the session
  // check's call too (http/auth.ts, bearerWork).
  it("DELETE /api/messages/:id: the session check, which deletes; an unknown or malformed id is a 404 in the same one call", async () => {
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const { id } = await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "to delete") }));
    counting.take();
    expect((await device.api("DELETE", `/api/messages/${id}`)).status).toBe(204);
    expect(counting.take()).toEqual(["authorizeSession"]);
    for (const path of [`/api/messages/${id}`, "/api/messages/0", "/api/messages/x"]) {
      const res = await device.api("DELETE", path);
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ error: "not_found" });
      expect(counting.take()).toEqual(["authorizeSession"]);
    }
  });

  it("DELETE /api/sessions/:id and DELETE /api/sessions: the session check, which revokes; a revoked session's token writes nothing", async () => {
    // b counts its calls, as `device` does; a and c do not.
    const [a, b, c] = [owner.device(), new OwnerClient(counting.fetcher, TEST_ORIGIN, owner.keys), owner.device()];
    for (const other of [a, b, c]) expect((await other.login()).status).toBe(200);
    counting.take();
    expect((await device.api("DELETE", `/api/sessions/${a.sessionId}`)).status).toBe(204);
    expect(counting.take()).toEqual(["authorizeSession"]);
    expect((await device.api("DELETE", `/api/sessions/${a.sessionId}`)).status).toBe(404);
    expect(counting.take()).toEqual(["authorizeSession"]);
    // A revoked session's token writes nothing, whichever delete it sends.
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    const { id: kept } = await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "kept") }));
    for (const path of [`/api/sessions/${b.sessionId}`, "/api/sessions", `/api/messages/${kept}`]) {
      const res = await a.api("DELETE", path);
      expect(res.status).toBe(401);
      expect(await json(res)).toMatchObject({ error: "session_revoked" });
    }
    expect((await b.api("GET", "/api/2fa")).status).toBe(200);
    expect((await c.api("GET", "/api/2fa")).status).toBe(200);
    const inbox = await json<{ messages: Array<{ id: number }> }>(await b.api("GET", "/api/messages?limit=100"));
    expect(inbox.messages.map((m) => m.id)).toContain(kept);
    // A trailing slash is the same route, and the same write; so is an id encoded as
    // the router decodes it (%2B is "+", and "+7" is 7, as c.req.param would give).
    const { id: encoded } = await json<{ id: number }>(await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "encoded") }));
    counting.take();
    expect((await b.api("DELETE", `/api/messages/${kept}/`)).status).toBe(204);
    expect((await b.api("DELETE", `/api/messages/%2B${encoded}`)).status).toBe(204);
    expect(counting.take()).toEqual(["authorizeSession", "authorizeSession"]);
    const after = await json<{ messages: Array<{ id: number }> }>(await b.api("GET", "/api/messages?limit=100"));
    expect(after.messages.map((m) => m.id)).not.toContain(encoded);
    counting.take();
    expect((await b.api("DELETE", "/api/sessions/")).status).toBe(204);
    expect(counting.take()).toEqual(["authorizeSession"]);
    expect((await b.api("GET", "/api/2fa")).status).toBe(200);
    for (const revoked of [c, device]) expect(await json(await revoked.api("GET", "/api/2fa"))).toMatchObject({ error: "session_revoked" });
    expect((await device.login()).status).toBe(200);
  });

  it("bearerWork writes on exactly the three plain DELETE routes of the table: a new DELETE under /api/messages or /api/sessions must be told apart there first", () => {
    const deletes = ROUTE_LIST.filter((r) => r.method === "DELETE" && /^\/api\/(messages|sessions)(\/|$)/.test(r.path)).map((r) => r.path);
    expect(deletes.sort()).toEqual(["/api/messages/{id}", "/api/sessions", "/api/sessions/{id}"]);
  });

  describe("with 2FA on", () => {
    let enrolled: Enrolled;
    beforeAll(async () => {
      const fresh = owner.device();
      await fresh.login();
      enrolled = await enrolTotp(fresh);
    });

    it("a login with a TOTP code: one call", async () => {
      const assertion = await device.assertion();
      const totp = await enrolled.auth.nextCode();
      counting.take();
      const res = await device.adopt(await device.request("POST", "/auth/login", { body: { assertion, totp } }));
      expect(res.status).toBe(200);
      expect(counting.take()).toEqual(["login"]);
    });

    it("a login with a wrong code, and one without a code: one call each", async () => {
      for (const extra of [{ totp: "000000" }, {}]) {
        const assertion = await device.assertion();
        counting.take();
        const res = await device.request("POST", "/auth/login", { body: { assertion, ...extra } });
        expect([401, 403]).toContain(res.status);
        expect(counting.take()).toEqual(["login"]);
      }
    });

    it("GET /api/2fa reports the status from the session check", async () => {
      counting.take();
      const res = await device.api("GET", "/api/2fa");
      expect(await json(res)).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: enrolled.backupCodes.length });
      expect(counting.take()).toEqual(["authorizeSession"]);
    });

    it("a login with a passkey: one call, which verifies the assertion against the stored passkey (amr hwk)", async () => {
      const rpId = new URL(TEST_ORIGIN).hostname;
      const bytes = (b64: string) => base64urlDecode(b64)!;
      const authr = await SoftAuthenticator.create({ alg: -7 });
      // The device's TOTP login above is a fresh step-up.
      const created = await json<{ options: { challenge: string; user: { id: string } } }>(await device.api("POST", "/api/passkeys/options"));
      const credential = await authr.register({ challenge: bytes(created.options.challenge), origin: TEST_ORIGIN, rpId });
      expect((await device.api("POST", "/api/passkeys", { credential })).status).toBe(201);
      const requested = await json<{ options: { challenge: string } }>(await device.request("POST", "/auth/passkey/options"));
      const passkey = await authr.authenticate({ challenge: bytes(requested.options.challenge), origin: TEST_ORIGIN, rpId, userHandle: created.options.user.id });
      const assertion = await device.assertion();
      counting.take();
      const res = await device.adopt(await device.request("POST", "/auth/login", { body: { assertion, passkey } }));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(counting.take()).toEqual(["login"]);
      expect(decodeJwt(device.accessToken!).amr).toEqual(["pop", "hwk"]);
    });

    it("POST /auth/recovery with a bad signature: the same calls and answer whether or not a recovery verifier is set up", async () => {
      const verifier = await makeRecoveryVerifier();
      const attempt = async (kid?: string) => {
        // Signed by the owner's key, never the recovery verifier: under the owner's
        // kid, and under the verifier's (so that the signature itself is checked).
        const assertion = await device.assertion({ kid });
        counting.take();
        const res = await device.request("POST", "/auth/recovery", { body: { assertion }, cookie: null });
        return { status: res.status, body: await res.text(), calls: counting.take() };
      };
      const without = [await attempt(), await attempt(verifier.kid)];
      const admin = owner.device();
      expect((await admin.login({ totp: await enrolled.auth.nextCode() })).status).toBe(200);
      expect((await admin.api("PUT", "/api/recovery", { verifier: verifier.publicJwk })).status).toBe(204);
      const withVerifier = [await attempt(), await attempt(verifier.kid)];
      expect(without[0]).toEqual({
        status: 401,
        body: JSON.stringify({ error: "invalid_assertion", message: "The signed challenge is not valid." }),
        calls: ["hitRateLimit", "recoveryVerifier", "consumeChallenge"],
      });
      expect(without[1]).toEqual(without[0]);
      expect(withVerifier).toEqual(without);
    });
  });
});

function nonceOf(assertion: string): string {
  const payload = assertion.split(".")[1]!;
  return (JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as { nonce: string }).nonce;
}

