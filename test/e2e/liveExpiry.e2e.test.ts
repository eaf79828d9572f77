/**
 * Access-token expiry on the live channel (docs/api.md §10) against a real
 * `npm run dev`. The token lifetime is set to the server's floor, 120 s
 * (ACCESS_TOKEN_TTL_MIN_S: anything shorter is under the clients' 60 s refresh
 * margin and refused), so the whole cycle takes about 3 minutes: token_expiring
 * comes 60 s after hello; a socket that re-authenticates with a refreshed token outlives its first token,
 * and one that does not is told token_expired and closed with 4401; its token then
 * no longer opens a socket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OwnerClient } from "../helpers/owner";
import { nodeFetch, startInstance, type DevServer } from "./devServer";
import { closeFrameReceived, openLiveSocket } from "./liveClient";

const TTL_S = 120;
/** token_expiring goes out 60 s before expiry (TOKEN_EXPIRY_WARNING_MS). */
const WARNING_AFTER_MS = (TTL_S - 60) * 1000 + 5_000;
let server: DevServer;
let owner: OwnerClient;

beforeAll(async () => {
  server = await startInstance({ vars: { ACCESS_TOKEN_TTL_S: String(TTL_S) } });
  owner = await OwnerClient.create(nodeFetch, server.origin);
  const claim = await owner.claim(server.setupCode);
  if (claim.status !== 201) throw new Error(`claim: ${claim.status} ${await claim.text()}`);
});

afterAll(async () => {
  await server?.stop();
});

const expOf = (token: string | undefined) =>
  (JSON.parse(Buffer.from(token!.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000;

describe("token expiry on the live channel", () => {
  it("warns before expiry; re-auth keeps the socket; without re-auth it closes with 4401", { timeout: 4 * TTL_S * 1000 }, async () => {
    const keeper = owner.device();
    const quitter = owner.device();
    expect((await keeper.login({ deviceName: "keeper" })).status).toBe(200);
    expect((await quitter.login({ deviceName: "quitter" })).status).toBe(200);
    const kept = await openLiveSocket(server.url, keeper.accessToken);
    const dropped = await openLiveSocket(server.url, quitter.accessToken);
    const firstExpiry = expOf(quitter.accessToken);

    for (const [socket, device] of [[kept, keeper], [dropped, quitter]] as const) {
      expect(await socket.frames.expect("hello")).toEqual({ type: "hello", sessionId: device.sessionId, expiresAt: expOf(device.accessToken) });
      expect(await socket.frames.expect("token_expiring", WARNING_AFTER_MS)).toEqual({ type: "token_expiring", expiresAt: expOf(device.accessToken) });
    }

    // The keeper refreshes a few seconds later, as a client does on token_expiring,
    // and hands the socket its new token.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await keeper.refresh()).status).toBe(200);
    const renewedExpiry = expOf(keeper.accessToken);
    expect(renewedExpiry).toBeGreaterThan(expOf(quitter.accessToken));
    kept.ws.send(JSON.stringify({ type: "auth", accessToken: keeper.accessToken }));
    expect(await kept.frames.expect("authed")).toEqual({ type: "authed", expiresAt: renewedExpiry });
    // Warned again 60 s before the new expiry.
    expect(await kept.frames.expect("token_expiring", WARNING_AFTER_MS)).toEqual({ type: "token_expiring", expiresAt: renewedExpiry });

    // The quitter never re-authenticates: token_expired, then 4401, at its expiry.
    expect(await dropped.frames.expect("token_expired", TTL_S * 1000 + 5_000)).toEqual({ type: "token_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(firstExpiry);
    await closeFrameReceived(dropped, 1_000);
    expect((await dropped.frames.close(3_000)).code).toBe(4401);
    // Reconnecting with the dead token is refused before the upgrade.
    await expect(openLiveSocket(server.url, quitter.accessToken)).rejects.toMatchObject({ status: 401 });

    // The keeper's socket outlived its first token: open, answering, nothing pending.
    expect(kept.ws.readyState).toBe(kept.ws.OPEN);
    expect(kept.frames.pending()).toEqual([]);
    kept.ws.send("ping");
    expect(await kept.frames.next()).toBe("pong");
    // The owner's API still works for the keeper's session with the renewed token.
    expect((await keeper.api("GET", "/api/sessions")).status).toBe(200);

    // And its renewed token expires in turn.
    expect(await kept.frames.expect("token_expired", renewedExpiry - Date.now() + 5_000)).toEqual({ type: "token_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(renewedExpiry);
    await closeFrameReceived(kept, 1_000);
    expect((await kept.frames.close(3_000)).code).toBe(4401);
  });
});
