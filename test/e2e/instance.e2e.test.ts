/**
 * A person's first hour with a local instance, over real HTTP: `npm run dev`, claim
 * it with the setup code it printed, log in from a second device, stay logged in by
 * refreshing, see and revoke sessions, log out; then restart the server on the same
 * state and find the instance still claimed. docs/api.md §2-6.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, OwnerClient, refreshCookieFrom } from "../helpers/owner";
import { leftoverProcesses, makePersistDir, nodeFetch, startInstance, type DevServer } from "./devServer";

interface ErrorBody {
  error: string;
  message: string;
}

interface SessionList {
  sessions: { id: string; deviceName: string | null; createdAt: number; lastUsedAt: number; current: boolean }[];
}

function setCookieLines(res: Response): string[] {
  return (res.headers as Headers & { getSetCookie(): string[] }).getSetCookie();
}

function refreshCookieLine(res: Response): string {
  const line = setCookieLines(res).find((l) => l.startsWith("__Secure-rt="));
  if (!line) throw new Error(`no __Secure-rt cookie in ${JSON.stringify(setCookieLines(res))}`);
  return line;
}

/** Cookie attributes, lower-cased names: "HttpOnly" -> httponly: "". */
function cookieAttributes(line: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of line.split(";").slice(1)) {
    const [name, ...value] = part.trim().split("=");
    attributes.set(name!.toLowerCase(), value.join("="));
  }
  return attributes;
}

describe("a local instance started with npm run dev", () => {
  const state = makePersistDir();
  let server: DevServer;
  let laptop: OwnerClient;
  let phone: OwnerClient;

  beforeAll(async () => {
    server = await startInstance({ persistTo: state.path });
  });

  afterAll(async () => {
    await server?.stop();
    state.remove();
  });

  it("prints a setup code and answers discovery as unclaimed", async () => {
    expect(server.setupCode).toMatch(/^[A-Z0-9]{4}(-[A-Z0-9]{4}){7}$/);

    const res = await nodeFetch(new Request(`${server.url}/.well-known/indienet`));
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await res.json()).toEqual({
      protocol: "indienet/1",
      origin: server.origin,
      claimed: false,
      jwks_uri: `${server.origin}/.well-known/jwks.json`,
      messages_endpoint: `${server.origin}/messages`,
      inbox: `${server.origin}/inbox`,
    });

    const jwks = await nodeFetch(new Request(`${server.url}/.well-known/jwks.json`));
    expect(jwks.status).toBe(404);
    expect(await json<ErrorBody>(jwks)).toMatchObject({ error: "not_claimed" });
  });

  it("refuses a wrong setup code, then is claimed with the printed one", async () => {
    laptop = await OwnerClient.create(nodeFetch, server.origin);

    const wrong = await laptop.claim("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH");
    expect(wrong.status).toBe(403);
    expect(await json<ErrorBody>(wrong)).toMatchObject({ error: "forbidden" });

    const res = await laptop.claim(server.setupCode, { deviceName: "laptop" });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      accessToken: expect.any(String),
      tokenType: "Bearer",
      expiresIn: 900,
      sessionId: expect.any(String),
    });
    const cookie = refreshCookieLine(res);
    const attributes = cookieAttributes(cookie);
    expect(refreshCookieFrom(res)).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(attributes.has("httponly")).toBe(true);
    expect(attributes.has("secure")).toBe(true);
    expect(attributes.get("samesite")).toBe("Strict");
    expect(attributes.get("path")).toBe("/auth");

    const discovery = await nodeFetch(new Request(`${server.url}/.well-known/indienet`));
    expect(await discovery.json()).toMatchObject({ claimed: true });

    const again = await (await OwnerClient.create(nodeFetch, server.origin)).claim(server.setupCode);
    expect(again.status).toBe(409);
    expect(await json<ErrorBody>(again)).toMatchObject({ error: "already_claimed" });
  });

  it("publishes the owner's signing and encryption keys in jwks.json", async () => {
    const res = await nodeFetch(new Request(`${server.url}/.well-known/jwks.json`));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    const { keys } = await json<{ keys: { kid: string; use: string; status?: string }[] }>(res);
    expect(keys.map((k) => [k.use, k.kid]).sort()).toEqual(
      [
        ["enc", laptop.keys.enc.publicJwk.kid],
        ["sig", laptop.keys.sig.publicJwk.kid],
      ].sort(),
    );
    expect(keys.every((k) => k.status === undefined || k.status === "current")).toBe(true);
  });

  it("logs in from a second device with a signed challenge", async () => {
    phone = laptop.device();
    const res = await phone.login({ deviceName: "phone" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tokenType: "Bearer", sessionId: expect.any(String) });
    expect(phone.sessionId).not.toBe(laptop.sessionId);
    expect(phone.refreshToken).toBeDefined();
    expect(phone.refreshToken).not.toBe(laptop.refreshToken);
  });

  it("rotates the refresh token on every refresh", async () => {
    const before = { refreshToken: phone.refreshToken, accessToken: phone.accessToken, sessionId: phone.sessionId };
    const res = await phone.refresh();
    expect(res.status).toBe(200);
    expect(phone.sessionId).toBe(before.sessionId);
    expect(phone.refreshToken).toBeDefined();
    expect(phone.refreshToken).not.toBe(before.refreshToken);
    expect(phone.accessToken).not.toBe(before.accessToken);
    expect((await phone.api("GET", "/api/sessions")).status).toBe(200);
  });

  it("lists both sessions, marking the caller's own as current", async () => {
    const res = await laptop.api("GET", "/api/sessions");
    expect(res.status).toBe(200);
    const { sessions } = await json<SessionList>(res);
    expect(sessions).toHaveLength(2);
    const byId = new Map(sessions.map((s) => [s.id, s]));
    expect(byId.get(laptop.sessionId!)).toMatchObject({ deviceName: "laptop", current: true });
    expect(byId.get(phone.sessionId!)).toMatchObject({ deviceName: "phone", current: false });
  });

  it("revokes the other session, whose access token is refused at once", async () => {
    // The phone's access token is still far from expiry; only revocation can stop it.
    expect((await phone.api("GET", "/api/sessions")).status).toBe(200);

    const revoke = await laptop.api("DELETE", `/api/sessions/${phone.sessionId}`);
    expect(revoke.status).toBe(204);

    const refused = await phone.api("GET", "/api/sessions");
    expect(refused.status).toBe(401);
    expect(await json<ErrorBody>(refused)).toMatchObject({ error: "session_revoked" });
    const refresh = await phone.refresh();
    expect(refresh.status).toBe(401);
    expect(await json<ErrorBody>(refresh)).toMatchObject({ error: "session_revoked" });

    const { sessions } = await json<SessionList>(await laptop.api("GET", "/api/sessions"));
    expect(sessions.map((s) => s.id)).toEqual([laptop.sessionId]);
  });

  it("logs out: the cookie is cleared and the session ends", async () => {
    const oldRefreshToken = laptop.refreshToken;
    const res = await laptop.request("POST", "/auth/logout");
    expect(res.status).toBe(204);
    const attributes = cookieAttributes(refreshCookieLine(res));
    expect(refreshCookieFrom(res)).toBeUndefined(); // empty value
    expect(attributes.get("max-age") === "0" || new Date(attributes.get("expires") ?? 0) < new Date()).toBe(true);
    expect(attributes.get("path")).toBe("/auth");

    const refresh = await laptop.refresh(oldRefreshToken);
    expect(refresh.status).toBe(401);
    const api = await laptop.api("GET", "/api/sessions");
    expect(api.status).toBe(401);
    expect(await json<ErrorBody>(api)).toMatchObject({ error: "session_revoked" });
  });

  it("keeps the instance claimed and its sessions when npm run dev restarts on the same state", async () => {
    const tablet = laptop.device();
    expect((await tablet.login({ deviceName: "tablet" })).status).toBe(200);
    const setupCode = server.setupCode;

    await server.stop();
    expect(leftoverProcesses(server)).toEqual([]);
    server = await startInstance({ persistTo: state.path, port: server.port });

    // The same secrets (.dev.vars) and the same state: nothing was re-initialized.
    expect(server.setupCode).toBe(setupCode);
    const discovery = await nodeFetch(new Request(`${server.url}/.well-known/indienet`));
    expect(await discovery.json()).toMatchObject({ claimed: true });
    const jwks = await json<{ keys: { kid: string }[] }>(await nodeFetch(new Request(`${server.url}/.well-known/jwks.json`)));
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual(
      [laptop.keys.sig.publicJwk.kid, laptop.keys.enc.publicJwk.kid].sort(),
    );

    const claimAgain = await (await OwnerClient.create(nodeFetch, server.origin)).claim(setupCode);
    expect(claimAgain.status).toBe(409);

    // The tablet's session survived: its access token and refresh cookie still work.
    expect((await tablet.api("GET", "/api/sessions")).status).toBe(200);
    expect((await tablet.refresh()).status).toBe(200);
    expect((await laptop.device().login()).status).toBe(200);
  });

  it("leaves no wrangler or workerd process behind when stopped", async () => {
    await server.stop();
    expect(leftoverProcesses(server)).toEqual([]);
  });
});
