/**
 * docs/api.md §13 through the public routes: the owner sets a recovery verifier
 * (derived from a recovery key by the client's own code), someone holding the key
 * starts a recovery, which waits RECOVERY_DELAY_S (the test moves the server's
 * clock) while every session sees it and can cancel it (with a recent login: step-up),
 * and completes it once at POST /auth/escrow, whose ticket logs in with amr
 * ["pop", "rcv"].
 */
import { beforeAll, describe, expect, it } from "vitest";
import { makeRecoveryVerifier, type RecoverySigner, type RecoveryVerifier } from "../helpers/recovery";
import { advanceClock, serverNowMs } from "../helpers/clock";
import { json, makeKeyPair, type OwnerClient } from "../helpers/owner";
import { activityTypes, amrOf, enrolTotp, reauthWithCode, statusCounts, type Authenticator } from "../helpers/twoFactor";
import { ageLogin, claimedOwner, connectLive } from "../helpers/workers";

/** RECOVERY_DELAY_S's default: 72 h. */
const DELAY_MS = 259_200_000;
/** RECOVERY_WINDOW_S's default: 7 days. */
const WINDOW_MS = 604_800_000;

let owner: OwnerClient;
let verifier: RecoveryVerifier;
let authenticator: Authenticator;

async function verifierAssertion(signer: RecoverySigner = verifier): Promise<string> {
  return await owner.device().assertion({ key: signer.privateKey, kid: signer.kid });
}

async function startRecovery(signer?: RecoverySigner) {
  return await owner.device().request("POST", "/auth/recovery", { body: { assertion: await verifierAssertion(signer) }, cookie: null });
}

async function completeRecovery(signer?: RecoverySigner) {
  return await owner.device().request("POST", "/auth/escrow", { body: { recovery: await verifierAssertion(signer) }, cookie: null });
}

async function recoveryStatus(client: OwnerClient = owner) {
  const res = await client.api("GET", "/api/recovery");
  expect(res.status).toBe(200);
  return await json<{ configured: boolean; configuredAt?: number; request?: { id: string; createdAt: number; readyAt: number } }>(res);
}

/** Moves the server's clock, and logs the owner in again: a 72 h old access token has expired. */
async function advance(ms: number): Promise<void> {
  advanceClock(ms);
  const res = await owner.login({ totp: await authenticator.nextCode() });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  owner = await claimedOwner();
  verifier = await makeRecoveryVerifier();
  // A recovery key is set up only while 2FA is on (recovery.twoFactor.test.ts).
  ({ auth: authenticator } = await enrolTotp(owner));
});

describe("recovery (docs/api.md §13)", { timeout: 60_000 }, () => {
  it("starts unconfigured, and a start without a verifier is refused like a bad signature", async () => {
    expect(await recoveryStatus()).toEqual({ configured: false });
    const res = await startRecovery();
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
  });

  it("PUT /api/recovery sets the verifier after a step-up, checking its kid", async () => {
    expect((await reauthWithCode(owner, { totp: await authenticator.nextCode() })).status).toBe(200);
    const badKid = await owner.api("PUT", "/api/recovery", { verifier: { ...verifier.publicJwk, kid: "not-the-thumbprint" } });
    expect(badKid.status).toBe(400);
    const withPrivate = await owner.api("PUT", "/api/recovery", { verifier: { ...verifier.publicJwk, d: verifier.publicJwk.x } });
    expect(withPrivate.status).toBe(400);

    const before = serverNowMs();
    const res = await owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk });
    expect(res.status).toBe(204);
    const status = await recoveryStatus();
    expect(status.configured).toBe(true);
    expect(status.configuredAt).toBeGreaterThanOrEqual(before);
    expect(status.request).toBeUndefined();
    expect(await activityTypes(owner)).toContain("recovery_configured");
  });

  it("a recovery request is announced on every live socket, waits, and a second start keeps its readyAt", async () => {
    const other = owner.device();
    expect((await other.login({ totp: await authenticator.nextCode() })).status).toBe(200);
    const a = await connectLive(owner.accessToken);
    const b = await connectLive(other.accessToken);
    await a.frames.expect("hello");
    await b.frames.expect("hello");

    const before = serverNowMs();
    const res = await startRecovery();
    expect(res.status).toBe(202);
    const { readyAt } = await json<{ readyAt: number }>(res);
    expect(readyAt).toBeGreaterThanOrEqual(before + DELAY_MS);
    expect(readyAt).toBeLessThanOrEqual(serverNowMs() + DELAY_MS);
    expect(await a.frames.expect("recovery_requested")).toEqual({ type: "recovery_requested", readyAt });
    expect(await b.frames.expect("recovery_requested")).toEqual({ type: "recovery_requested", readyAt });
    a.ws.close(1000);
    b.ws.close(1000);

    const status = await recoveryStatus(other);
    expect(status.request).toMatchObject({ readyAt });
    expect(status.request!.createdAt).toBe(readyAt - DELAY_MS);

    await advance(60_000);
    const again = await startRecovery();
    expect(again.status).toBe(202);
    expect(await json(again)).toEqual({ readyAt });
    expect((await activityTypes(owner)).filter((t) => t === "recovery_requested")).toHaveLength(1);
  });

  it("refuses to complete before readyAt, naming it, and refuses another key", async () => {
    const { request } = await recoveryStatus();
    const early = await completeRecovery();
    expect(early.status).toBe(403);
    const body = await json<{ error: string; message: string }>(early);
    expect(body.error).toBe("forbidden");
    expect(body.message).toContain(String(request!.readyAt));
    expect(JSON.stringify(body)).not.toContain("escrow-blob");

    await advance(DELAY_MS);
    const stranger = await makeKeyPair("sig");
    const wrong = await completeRecovery({ privateKey: stranger.privateKey, kid: stranger.publicJwk.kid });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toMatchObject({ error: "invalid_assertion" });
    // The owner's own signing key is not the recovery verifier either.
    const ownerKey = await completeRecovery({ privateKey: owner.keys.sig.privateKey, kid: owner.keys.publicKeys.sig.kid });
    expect(ownerKey.status).toBe(401);
    expect((await recoveryStatus()).request).toBeDefined();
  });

  it("a session whose login is old cannot cancel (step-up), and the request stays open", async () => {
    // What a stolen refresh cookie gives: a live session, but no fresh signature.
    const stale = owner.device();
    expect((await stale.login({ totp: await authenticator.nextCode() })).status).toBe(200);
    await ageLogin(stale, 86_400);
    const res = await stale.api("DELETE", "/api/recovery/request");
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
    expect((await recoveryStatus()).request).toBeDefined();
    expect(await activityTypes(owner)).not.toContain("recovery_cancelled");
  });

  it("any session with a recent login cancels an open request; a cancelled one cannot complete; 404 when none is open", async () => {
    const other = owner.device();
    expect((await other.login({ totp: await authenticator.nextCode() })).status).toBe(200);
    expect((await other.api("DELETE", "/api/recovery/request")).status).toBe(204);
    expect((await recoveryStatus()).request).toBeUndefined();
    expect(await activityTypes(owner)).toContain("recovery_cancelled");
    const again = await other.api("DELETE", "/api/recovery/request");
    expect(again.status).toBe(404);
    expect(await json(again)).toMatchObject({ error: "not_found" });

    const res = await completeRecovery();
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "forbidden" });
  });

  it("a new request waits again; after readyAt one assertion completes it once, with a ticket for amr [pop, rcv]", async () => {
    const started = await startRecovery();
    expect(started.status).toBe(202);
    const { readyAt } = await json<{ readyAt: number }>(started);
    expect(readyAt).toBeGreaterThanOrEqual(serverNowMs() + DELAY_MS - 5_000);
    expect((await completeRecovery()).status).toBe(403);
    await advance(DELAY_MS);

    // 20 parallel completions with one assertion: its challenge is single use, and
    // so is the request.
    const assertion = await verifierAssertion();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => owner.device().request("POST", "/auth/escrow", { body: { recovery: assertion }, cookie: null })),
    );
    expect(statusCounts(responses)).toEqual({ 200: 1, 401: 19 });
    const winner = await json<{ blob: string; mfaTicket?: string }>(responses.find((r) => r.status === 200)!);
    expect(winner.blob).toBe("escrow-blob-v1");
    expect(winner.mfaTicket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const r of responses.filter((r) => r.status !== 200)) expect(await r.text()).not.toContain("escrow-blob");

    // Spent: a fresh assertion finds no open request.
    expect((await completeRecovery()).status).toBe(403);
    expect((await recoveryStatus()).request).toBeUndefined();

    // The ticket logs in (2FA is on) with amr ["pop", "rcv"], once; step-up accepts it.
    const device = owner.device();
    const login = await device.login({ mfaTicket: winner.mfaTicket });
    expect(login.status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "rcv"]);
    expect((await owner.device().login({ mfaTicket: winner.mfaTicket })).status).toBe(401);
    const stepUp = await device.api("PUT", "/api/recovery", { verifier: verifier.publicJwk });
    expect(stepUp.status).toBe(204);
    expect(await activityTypes(owner)).toContain("recovered");
  });

  it("many concurrent completions, each with its own fresh assertion: exactly one wins", async () => {
    expect((await startRecovery()).status).toBe(202);
    await advance(DELAY_MS);
    const assertions = await Promise.all(Array.from({ length: 20 }, () => verifierAssertion()));
    const responses = await Promise.all(
      assertions.map((a) => owner.device().request("POST", "/auth/escrow", { body: { recovery: a }, cookie: null })),
    );
    expect(statusCounts(responses)).toEqual({ 200: 1, 403: 19 });
  });

  it("removing the verifier ends any open request, and its key starts nothing more", async () => {
    expect((await startRecovery()).status).toBe(202);
    await reauthWithCode(owner, { totp: await authenticator.nextCode() });
    expect((await owner.api("PUT", "/api/recovery", { verifier: null })).status).toBe(204);
    expect(await recoveryStatus()).toEqual({ configured: false });
    expect(await activityTypes(owner)).toContain("recovery_removed");
    expect((await startRecovery()).status).toBe(401);
  });
});

describe("a request's window, and cancelling after completion (docs/api.md §13)", { timeout: 60_000 }, () => {
  it("can be completed until RECOVERY_WINDOW_S after readyAt", async () => {
    await reauthWithCode(owner, { totp: await authenticator.nextCode() });
    expect((await owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk })).status).toBe(204);
    expect((await startRecovery()).status).toBe(202);
    await advance(DELAY_MS + WINDOW_MS - 60_000);
    expect((await recoveryStatus()).request).toBeDefined();
    const done = await completeRecovery();
    expect(done.status, await done.clone().text()).toBe(200);
  });

  it("after that it is refused and no longer shown, and a new start waits again", async () => {
    const started = await startRecovery();
    expect(started.status).toBe(202);
    const { readyAt } = await json<{ readyAt: number }>(started);
    await advance(DELAY_MS + WINDOW_MS + 1_000);
    expect((await recoveryStatus()).request).toBeUndefined();
    const late = await completeRecovery();
    expect(late.status).toBe(403);
    expect(await json(late)).toMatchObject({ error: "forbidden", message: expect.stringMatching(/expired/) });
    // Nothing to cancel: the expired request is not open.
    expect((await owner.api("DELETE", "/api/recovery/request")).status).toBe(404);

    const again = await startRecovery();
    expect(again.status).toBe(202);
    const next = (await json<{ readyAt: number }>(again)).readyAt;
    expect(next).toBeGreaterThanOrEqual(readyAt + DELAY_MS + WINDOW_MS);
    expect((await completeRecovery()).status).toBe(403);
    await advance(DELAY_MS);
    expect((await completeRecovery()).status).toBe(200);
  });

  it("a cancel after completion stops the ticket that has not logged in yet", async () => {
    expect((await startRecovery()).status).toBe(202);
    await advance(DELAY_MS);
    const done = await completeRecovery();
    expect(done.status).toBe(200);
    const { mfaTicket } = await json<{ mfaTicket: string }>(done);
    // The owner sees "recovered" and stops it: nothing is open, but the ticket dies.
    expect((await recoveryStatus()).request).toBeUndefined();
    expect((await owner.api("DELETE", "/api/recovery/request")).status).toBe(204);
    const login = await owner.device().login({ mfaTicket });
    expect(login.status).toBe(401);
    expect(await json(login)).toMatchObject({ error: "invalid_code" });
    expect((await owner.api("DELETE", "/api/recovery/request")).status).toBe(404);
  });

  it("a ticket already used leaves nothing to cancel; a cancel racing the ticket's login: one of them wins", async () => {
    expect((await startRecovery()).status).toBe(202);
    await advance(DELAY_MS);
    const first = await json<{ mfaTicket: string }>(await completeRecovery());
    expect((await owner.device().login({ mfaTicket: first.mfaTicket })).status).toBe(200);
    expect((await owner.api("DELETE", "/api/recovery/request")).status).toBe(404);

    for (let round = 0; round < 3; round++) {
      expect((await startRecovery()).status).toBe(202);
      await advance(DELAY_MS);
      const { mfaTicket } = await json<{ mfaTicket: string }>(await completeRecovery());
      const device = owner.device();
      const assertion = await device.assertion();
      const [login, cancel] = await Promise.all([
        device.request("POST", "/auth/login", { body: { assertion, mfaTicket } }),
        owner.api("DELETE", "/api/recovery/request"),
      ]);
      expect([login.status, cancel.status].sort()).toEqual(login.status === 200 ? [200, 404] : [204, 401]);
    }
  });
});
