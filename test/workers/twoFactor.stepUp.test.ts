/**
 * docs/api.md §4 step-up once 2FA is on: sensitive routes need a recent login whose
 * amr has "otp"; /auth/reauth with a code gives one. Also backup-code regeneration,
 * and malformed bodies on every 2FA route (400, never 5xx).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { advanceClock } from "../helpers/clock";
import { json, OwnerClient, type OwnerClient as Owner } from "../helpers/owner";
import { activityTypes, amrOf, enrolTotp, ensureTotp, reauthWithCode, type Authenticator } from "../helpers/twoFactor";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";

let owner: Owner;
let auth: Authenticator;
let backupCodes: string[];
let escrowVersion = 1;

beforeAll(async () => {
  owner = await claimedOwner();
});

async function putEscrow(client: Owner = owner) {
  return client.api("PUT", "/api/escrow", { expectedVersion: escrowVersion, blob: `blob-${escrowVersion + 1}` });
}

async function expectStepUpRequired(res: Response) {
  expect(res.status).toBe(403);
  expect(await json(res)).toMatchObject({ error: "step_up_required" });
}

describe("step-up with 2FA on", { timeout: 45_000 }, () => {
  it("needs no otp while 2FA is off", async () => {
    const res = await putEscrow();
    expect(res.status).toBe(200);
    escrowVersion = (await json<{ version: number }>(res)).version;
  });

  it("refuses a recent login without otp once 2FA is on", async () => {
    ({ auth, backupCodes } = await enrolTotp(owner));
    expect(amrOf(owner.accessToken)).toEqual(["pop"]);
    await expectStepUpRequired(await putEscrow());

    const plain = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion() }, bearer: true });
    expect(plain.status).toBe(200);
    owner.accessToken = (await json<{ accessToken: string }>(plain)).accessToken;
    expect(amrOf(owner.accessToken)).toEqual(["pop"]);
    await expectStepUpRequired(await putEscrow());
  });

  it("refuses a wrong code at /auth/reauth and keeps the old token's amr", async () => {
    const res = await reauthWithCode(owner, { totp: auth.wrongCode() });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_code" });
  });

  it("accepts a token from /auth/reauth with a code: amr [pop, otp] and a fresh auth_time", async () => {
    const res = await reauthWithCode(owner, { totp: await auth.nextCode() });
    expect(res.status).toBe(200);
    expect(amrOf(owner.accessToken)).toEqual(["pop", "otp"]);
    const put = await putEscrow();
    expect(put.status).toBe(200);
    escrowVersion = (await json<{ version: number }>(put)).version;
  });

  it("refuses an otp login that is older than STEP_UP_MAX_AGE_S", async () => {
    const stale = new OwnerClient(fetchWithVars({ STEP_UP_MAX_AGE_S: "0" }), TEST_ORIGIN, owner.keys);
    stale.accessToken = owner.accessToken;
    advanceClock(1_000);
    await expectStepUpRequired(await putEscrow(stale));
    await expectStepUpRequired(await stale.api("POST", "/api/2fa/totp"));
    await expectStepUpRequired(await stale.api("POST", "/api/2fa/backup-codes", { code: "123456" }));
    await expectStepUpRequired(await stale.api("DELETE", "/api/2fa/totp", { backupCode: backupCodes[0] }));
    // Step-up failures are not code failures: nothing was counted or spent.
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
  });

  it("treats a login with a backup code as a fresh otp login", async () => {
    const device = owner.device();
    expect((await device.login({ backupCode: backupCodes[0] })).status).toBe(200);
    const put = await putEscrow(device);
    expect(put.status).toBe(200);
    escrowVersion = (await json<{ version: number }>(put)).version;
  });
});

describe("POST /api/2fa/backup-codes", { timeout: 45_000 }, () => {
  beforeAll(async () => {
    // 2FA on (by the block above, or here when run alone) and a fresh otp step-up.
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
    expect((await reauthWithCode(owner, { totp: await auth.nextCode() })).status).toBe(200);
  });

  it("replaces the whole set after step-up and a TOTP code", async () => {
    expect((await owner.api("POST", "/api/2fa/backup-codes", {})).status).toBe(400);
    expect((await owner.api("POST", "/api/2fa/backup-codes", { backupCode: backupCodes[1] })).status).toBe(400);

    const res = await owner.api("POST", "/api/2fa/backup-codes", { code: await auth.nextCode() });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const fresh = (await json<{ backupCodes: string[] }>(res)).backupCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((c) => backupCodes.includes(c))).toEqual([]);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    expect(await activityTypes(owner)).toContain("backup_codes_regenerated");

    const old = await owner.device().login({ backupCode: backupCodes[1] });
    expect(old.status).toBe(401);
    expect((await owner.device().login({ backupCode: fresh[0] })).status).toBe(200);
    backupCodes = fresh;
  });
});

describe("malformed bodies on the 2FA routes", () => {
  const routes: Array<[string, string]> = [
    ["POST", "/api/2fa/totp/confirm"],
    ["DELETE", "/api/2fa/totp"],
    ["POST", "/api/2fa/backup-codes"],
  ];
  const bodies = ["not json", "[]", "null", "42", '{"code":', '{"code":null}', '{"code":["123456"]}', '{"code":"１２３４５６"}'];

  beforeAll(async () => {
    ({ auth, backupCodes } = await ensureTotp(owner, { auth, backupCodes }));
    // A fresh otp step-up, so that the body is what is judged.
    expect((await reauthWithCode(owner, { backupCode: backupCodes[9]! })).status).toBe(200);
  });

  it.each(routes)("%s %s answers 400 invalid_request, never 5xx", async (method, path) => {
    for (const body of bodies) {
      const res = await owner.request(method, path, { body, bearer: true });
      expect(res.status, `${method} ${path} ${body}`).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request" });
    }
    const wrongType = await owner.request(method, path, {
      body: '{"code":"123456"}',
      bearer: true,
      headers: { "content-type": "text/plain" },
    });
    expect(wrongType.status).toBe(400);
    const huge = await owner.request(method, path, { body: JSON.stringify({ code: "1".repeat(70_000) }), bearer: true });
    expect(huge.status).toBe(413);
  });
});
