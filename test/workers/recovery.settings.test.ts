/**
 * docs/api.md §13 odds and ends: RECOVERY_DELAY_S = 0 makes a request usable at
 * once; RECOVERY_WINDOW_S bounds how long after readyAt it stays usable; PUT
 * /api/escrow records its `reason` in the escrow_updated entry; the recovery routes
 * need a session, and setting the verifier needs a step-up.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { makeRecoveryVerifier, type RecoverySigner, type RecoveryVerifier } from "../helpers/recovery";
import { advanceClock, serverNowMs } from "../helpers/clock";
import { json, OwnerClient } from "../helpers/owner";
import { amrOf, enrolTotp, reauthWithCode, type Authenticator } from "../helpers/twoFactor";
import { ageLogin, claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
let verifier: RecoveryVerifier;
let authenticator: Authenticator;

async function activity(client: OwnerClient) {
  const res = await client.api("GET", "/api/activity");
  return (await json<{ entries: Array<{ type: string; detail?: Record<string, unknown> }> }>(res)).entries;
}

beforeAll(async () => {
  owner = await claimedOwner();
  verifier = await makeRecoveryVerifier();
});

describe("recovery settings and escrow reasons", { timeout: 45_000 }, () => {
  it("the recovery routes need a session, and PUT /api/recovery a recent login", async () => {
    const anonymous = owner.device();
    expect((await anonymous.request("GET", "/api/recovery")).status).toBe(401);
    expect((await anonymous.request("DELETE", "/api/recovery/request")).status).toBe(401);
    const stale = owner.device();
    expect((await stale.login()).status).toBe(200);
    await ageLogin(stale, 3_600);
    const res = await stale.api("PUT", "/api/recovery", { verifier: verifier.publicJwk });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: "step_up_required" });
  });

  it("with RECOVERY_DELAY_S = 0 a request can be completed at once", async () => {
    // A recovery key needs 2FA on (recovery.twoFactor.test.ts).
    authenticator = (await enrolTotp(owner)).auth;
    expect((await reauthWithCode(owner, { totp: await authenticator.nextCode() })).status).toBe(200);
    expect((await owner.api("PUT", "/api/recovery", { verifier: verifier.publicJwk })).status).toBe(204);
    const now = new OwnerClient(fetchWithVars({ RECOVERY_DELAY_S: "0" }), TEST_ORIGIN, owner.keys);
    const sign = () => now.assertion({ key: verifier.privateKey, kid: verifier.kid });

    const started = await now.request("POST", "/auth/recovery", { body: { assertion: await sign() } });
    expect(started.status).toBe(202);
    const { readyAt } = await json<{ readyAt: number }>(started);
    expect(readyAt).toBeLessThanOrEqual(serverNowMs());

    const done = await now.request("POST", "/auth/escrow", { body: { recovery: await sign() } });
    expect(done.status).toBe(200);
    const { mfaTicket } = await json<{ mfaTicket: string }>(done);
    // The ticket is the login's second factor, and marks it as a recovery.
    const device = now.device();
    expect((await device.login({ mfaTicket })).status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "rcv"]);
    expect((await activity(owner)).map((e) => e.type)).toEqual(expect.arrayContaining(["recovery_requested", "recovered"]));
  });

  it("RECOVERY_WINDOW_S sets how long after readyAt a request can be completed; under an hour is refused", async () => {
    const hourly = new OwnerClient(fetchWithVars({ RECOVERY_DELAY_S: "0", RECOVERY_WINDOW_S: "3600" }), TEST_ORIGIN, owner.keys);
    const sign = () => hourly.assertion({ key: verifier.privateKey, kid: verifier.kid });
    expect((await hourly.request("POST", "/auth/recovery", { body: { assertion: await sign() } })).status).toBe(202);
    advanceClock(3_601_000);
    const late = await hourly.request("POST", "/auth/escrow", { body: { recovery: await sign() } });
    expect(late.status).toBe(403);
    expect(await json(late)).toMatchObject({ error: "forbidden", message: expect.stringMatching(/expired/) });
    // A new request is a new wait (none here) and a new window.
    expect((await hourly.request("POST", "/auth/recovery", { body: { assertion: await sign() } })).status).toBe(202);
    expect((await hourly.request("POST", "/auth/escrow", { body: { recovery: await sign() } })).status).toBe(200);

    for (const value of ["0", "3599", "7776001"]) {
      const res = await fetchWithVars({ RECOVERY_WINDOW_S: value })(new Request(`${TEST_ORIGIN}/.well-known/indienet`));
      expect(res.status).toBe(500);
      await res.arrayBuffer();
    }
  });

  it("refuses a bad recovery body and a second factor beside it", async () => {
    const bad = [{ recovery: "" }, { recovery: 1 }, { recovery: "x", totp: "123456" }];
    for (const body of bad) expect((await owner.device().request("POST", "/auth/escrow", { body })).status).toBe(400);
    for (const body of [{}, { assertion: "" }, { assertion: 5 }]) {
      expect((await owner.device().request("POST", "/auth/recovery", { body })).status).toBe(400);
    }
  });

  it("PUT /api/escrow records its reason in the escrow_updated entry, and refuses unknown ones", async () => {
    expect((await owner.login({ totp: await authenticator.nextCode() })).status).toBe(200);
    expect((await reauthWithCode(owner, { totp: await authenticator.nextCode() })).status).toBe(200);
    const current = await json<{ version: number }>(await owner.api("GET", "/api/escrow"));
    const res = await owner.api("PUT", "/api/escrow", { expectedVersion: current.version, blob: "after-recovery", reason: "recovered" });
    expect(res.status).toBe(200);
    const { version } = await json<{ version: number }>(res);
    const entry = (await activity(owner)).find((e) => e.type === "escrow_updated");
    expect(entry?.detail).toEqual({ version, reason: "recovered" });

    const plain = await owner.api("PUT", "/api/escrow", { expectedVersion: version, blob: "no-reason" });
    expect(plain.status).toBe(200);
    const latest = (await activity(owner)).find((e) => e.type === "escrow_updated");
    expect(latest?.detail).toEqual({ version: version + 1 });

    const unknown = await owner.api("PUT", "/api/escrow", { expectedVersion: version + 1, blob: "x", reason: "felt_like_it" });
    expect(unknown.status).toBe(400);
  });
});
