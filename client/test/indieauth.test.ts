// The IndieAuth calls of the SDK (docs/api.md §14) against a fake fetch: what each
// sends, how answers are read, and which redirects the consent page may follow.
// The real routes are exercised by test/e2e/indieauth.e2e.test.ts and
// test/browser/indieauth.browser.test.ts.
import { describe, expect, it } from "vitest";
import { base64urlEncode } from "../../src/lib/bytes";
import { isIndieError } from "../errors";
import {
  approveAuthorization,
  denyAuthorization,
  followableRedirect,
  getProfile,
  listGrants,
  revokeGrant,
  startAuthorization,
  updateProfile,
  type AuthorizationRequest,
} from "../indieauth";
import { memoryKeyStore } from "../keystore";
import { OwnerClient } from "../owner";
import { createSession } from "../session";

const ORIGIN = "https://id.example.test";
const enc = new TextEncoder();

function token() {
  const part = (o: unknown) => base64urlEncode(enc.encode(JSON.stringify(o)));
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none" })}.${part({ sid: "s1", auth_time: now, amr: ["pop"], exp: now + 900, iat: now })}.x`;
}

interface Recorded {
  method: string;
  path: string;
  body: unknown;
  authorization: string | null;
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A client whose every request is answered by `answer` and recorded. */
function clientWith(answer: (r: Recorded) => Response) {
  const requests: Recorded[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const r = {
      method: init?.method ?? "GET",
      path: url.pathname + url.search,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      authorization: headers.get("authorization"),
    };
    requests.push(r);
    return answer(r);
  };
  const client = new OwnerClient({
    origin: ORIGIN,
    fetch,
    keyStore: memoryKeyStore(),
    session: createSession({ origin: ORIGIN, fetch, channel: null, counter: null, locks: null }),
    credentials: null,
  });
  client.session.adopt({ accessToken: token(), expiresIn: 900, sessionId: "s1" });
  return { client, requests };
}

const REQUEST: AuthorizationRequest = {
  requestId: "AAAAAAAAAAAAAAAAAAAAAA",
  client: { id: "https://app.example.com/", name: "Example App", url: "https://app.example.com/", logo: "https://app.example.com/logo.png" },
  redirectUri: "https://app.example.com/callback?from=login",
  scopes: ["profile", "create"],
};

describe("startAuthorization", () => {
  const QUERY = "response_type=code&client_id=https%3A%2F%2Fapp.example.com%2F&state=xyz";

  it("posts the query string as is, with the Bearer token, and returns the request to show", async () => {
    const { client, requests } = clientWith(() => json(REQUEST));
    expect(await startAuthorization(client, QUERY)).toEqual({ ok: true, request: REQUEST });
    expect(requests).toEqual([{ method: "POST", path: "/api/indieauth/requests", body: { query: QUERY }, authorization: expect.stringMatching(/^Bearer /) }]);
  });

  it("returns a redirectable defect's redirect (the page follows it when the owner asks)", async () => {
    const redirect = "https://app.example.com/callback?error=invalid_request&state=xyz&iss=https%3A%2F%2Fid.example.test%2F";
    const { client } = clientWith(() => json({ error: "invalid_request", message: "code_challenge is missing.", redirect }, 400));
    const query = `${QUERY}&redirect_uri=${encodeURIComponent("https://app.example.com/callback")}`;
    expect(await startAuthorization(client, query)).toEqual({ ok: false, redirect, message: "code_challenge is missing." });
    // A query without a redirect_uri is never redirected by the server: a redirect then is refused.
    const bare = clientWith(() => json({ error: "invalid_request", message: "code_challenge is missing.", redirect }, 400));
    expect(isIndieError(await startAuthorization(bare.client, QUERY).catch((e: unknown) => e), "bad_response")).toBe(true);
  });

  it("refuses a defect's redirect to another address than the request's redirect_uri", async () => {
    const query = `${QUERY}&redirect_uri=${encodeURIComponent("https://app.example.com/callback")}`;
    const back = "https://app.example.com/callback?error=invalid_request&state=xyz";
    const { client } = clientWith(() => json({ error: "invalid_request", message: "code_challenge is missing.", redirect: back }, 400));
    expect(await startAuthorization(client, query)).toEqual({ ok: false, redirect: back, message: "code_challenge is missing." });
    const elsewhere = clientWith(() => json({ error: "invalid_request", message: "bad", redirect: "https://elsewhere.example/callback?error=invalid_request" }, 400));
    const err = await startAuthorization(elsewhere.client, query).catch((e: unknown) => e);
    expect(isIndieError(err, "bad_response")).toBe(true);
    // An empty redirect_uri before the real one is skipped, as the server skips it.
    const first = clientWith(() => json({ error: "invalid_request", message: "code_challenge is missing.", redirect: back }, 400));
    expect(await startAuthorization(first.client, `${QUERY}&redirect_uri=&redirect_uri=${encodeURIComponent("https://app.example.com/callback")}`)).toMatchObject({ ok: false, redirect: back });
    // One that is not a URL matches nothing: bad_response, not a TypeError.
    const broken = clientWith(() => json({ error: "invalid_request", message: "bad", redirect: back }, 400));
    const thrown = await startAuthorization(broken.client, `${QUERY}&redirect_uri=not%20a%20url`).catch((e: unknown) => e);
    expect(isIndieError(thrown, "bad_response")).toBe(true);
  });

  it("throws an untrusted request's error (shown on the page, never redirected to)", async () => {
    const { client } = clientWith(() => json({ error: "invalid_request", message: "The redirect_uri is not one the client lists." }, 400));
    const err = await startAuthorization(client, QUERY).catch((e: unknown) => e);
    expect(isIndieError(err, "invalid_request")).toBe(true);
    expect((err as Error).message).toBe("The redirect_uri is not one the client lists.");
  });

  it("refuses a redirect with a script-running scheme, even from the server", async () => {
    const { client } = clientWith(() => json({ error: "invalid_request", message: "bad", redirect: "javascript:alert(1)" }, 400));
    const err = await startAuthorization(client, `${QUERY}&redirect_uri=javascript%3Aalert(1)`).catch((e: unknown) => e);
    expect(isIndieError(err, "bad_response")).toBe(true);
  });

  it("reads a malformed answer as bad_response", async () => {
    const { client } = clientWith(() => json({ ...REQUEST, requestId: "short" }));
    const err = await startAuthorization(client, QUERY).catch((e: unknown) => e);
    expect(isIndieError(err, "bad_response")).toBe(true);
  });
});

describe("approve and deny", () => {
  it("approve sends the checked scopes space-separated and returns the code redirect", async () => {
    const redirect = "https://app.example.com/callback?from=login&code=abc&state=xyz&iss=https%3A%2F%2Fid.example.test%2F";
    const { client, requests } = clientWith(() => json({ redirect }));
    expect(await approveAuthorization(client, REQUEST, ["create"])).toBe(redirect);
    expect(requests[0]).toMatchObject({ method: "POST", path: "/api/indieauth/approve", body: { requestId: REQUEST.requestId, scope: "create" } });
  });

  it("approve with nothing checked sends an empty scope (the app learns only who you are)", async () => {
    const { client, requests } = clientWith(() => json({ redirect: "https://app.example.com/callback?code=abc" }));
    await approveAuthorization(client, REQUEST, []);
    expect(requests[0]!.body).toEqual({ requestId: REQUEST.requestId, scope: "" });
  });

  it("deny posts the request id and returns the access_denied redirect", async () => {
    const redirect = "https://app.example.com/callback?error=access_denied&state=xyz";
    const { client, requests } = clientWith(() => json({ redirect }));
    expect(await denyAuthorization(client, REQUEST)).toBe(redirect);
    expect(requests[0]).toMatchObject({ method: "POST", path: "/api/indieauth/deny", body: { requestId: REQUEST.requestId } });
  });

  it("refuses a redirect to another place than the redirect URI the owner was shown", async () => {
    for (const redirect of ["https://evil.example.net/callback?code=abc", "https://app.example.com/other?code=abc", "http://app.example.com/callback?code=abc"]) {
      const { client } = clientWith(() => json({ redirect }));
      const err = await approveAuthorization(client, REQUEST, ["create"]).catch((e: unknown) => e);
      expect(isIndieError(err, "bad_response"), redirect).toBe(true);
    }
  });

  it("a request that expired or was used is the server's error", async () => {
    const { client } = clientWith(() => json({ error: "not_found", message: "This sign-in request expired or was already answered." }, 404));
    const err = await approveAuthorization(client, REQUEST, []).catch((e: unknown) => e);
    expect(isIndieError(err, "not_found")).toBe(true);
  });
});

describe("followableRedirect", () => {
  it("accepts a custom-scheme redirect URI when it is the one shown", () => {
    expect(followableRedirect("com.example.app:/cb?code=1", "com.example.app:/cb")).toBe("com.example.app:/cb?code=1");
  });
  it("refuses what is not a URL", () => {
    expect(() => followableRedirect("/relative")).toThrow(/not a URL/);
  });
});

describe("grants and profile", () => {
  it("lists grants and revokes one by id", async () => {
    const grant = { id: "g/1", clientId: "https://app.example.com/", clientName: "Example App", scope: "create", createdAt: 1, lastUsedAt: 2 };
    const { client, requests } = clientWith((r) => (r.method === "GET" ? json({ grants: [grant] }) : new Response(null, { status: 204 })));
    expect(await listGrants(client)).toEqual([grant]);
    await revokeGrant(client, "g/1");
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/indieauth/grants", "DELETE /api/indieauth/grants/g%2F1"]);
  });

  it("reads the profile", async () => {
    const { client, requests } = clientWith(() => json({ name: "Ada", photo: "https://id.example.test/ada.jpg" }));
    expect(await getProfile(client)).toEqual({ name: "Ada", photo: "https://id.example.test/ada.jpg" });
    expect(requests[0]).toMatchObject({ method: "GET", path: "/api/profile" });
  });

  it("puts the profile, leaving out an empty photo", async () => {
    const { client, requests } = clientWith((r) => json(r.body));
    expect(await updateProfile(client, { name: "Ada", photo: "" })).toEqual({ name: "Ada" });
    expect(requests[0]).toMatchObject({ method: "PUT", path: "/api/profile", body: { name: "Ada" } });
  });

  it("a step-up refusal reaches the caller as step_up_required", async () => {
    const { client } = clientWith(() => json({ error: "step_up_required", message: "Log in again." }, 403));
    const err = await updateProfile(client, { name: "Ada" }).catch((e: unknown) => e);
    expect(isIndieError(err, "step_up_required")).toBe(true);
  });
});
