/**
 * docs/api.md §8: confirming an enrolment turns 2FA on and revokes every other
 * session. A login without a code checks "is 2FA on?" in one call to the instance
 * object and creates its session in a second; a confirmation can commit between the
 * two. The session must then be refused, or it would outlive the enrolment with no
 * second factor.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { json, type OwnerClient } from "../helpers/owner";
import { Authenticator } from "../helpers/twoFactor";
import { claimedOwner, inInstance } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

describe("logins racing the confirmation of an enrolment", () => {
  it("leave no session without a second factor once 2FA is on", async () => {
    const begin = await owner.api("POST", "/api/2fa/totp");
    expect(begin.status).toBe(200);
    const auth = new Authenticator((await json<{ secret: string }>(begin)).secret);
    const code = await auth.nextCode();
    const devices = Array.from({ length: 20 }, () => owner.device());
    const assertions = await Promise.all(devices.map((d) => d.assertion()));

    const logins = devices.map((d, i) => d.request("POST", "/auth/login", { body: { assertion: assertions[i] } }).then((r) => d.adopt(r)));
    const confirm = owner.api("POST", "/api/2fa/totp/confirm", { code });
    const [confirmed, ...results] = await Promise.all([confirm, ...logins]);
    expect(confirmed.status).toBe(200);

    // Each login either finished before the confirmation (and was revoked by it) or
    // came after it and was told a code is needed.
    for (const res of results) {
      if (res.status !== 200) {
        expect(res.status).toBe(401);
        expect(await json(res)).toMatchObject({ error: "mfa_required" });
      }
    }
    const sessions = await json<{ sessions: Array<{ id: string }> }>(await owner.api("GET", "/api/sessions"));
    expect(sessions.sessions.map((s) => s.id)).toEqual([owner.sessionId]);
    for (const device of devices) {
      if (device.accessToken) expect((await device.api("GET", "/api/sessions")).status).toBe(401);
    }
  });

  it("is refused by the instance itself: no session without otp while 2FA is on", async () => {
    const grant = await inInstance((instance) =>
      instance.createSession({ deviceName: null, amr: ["pop"], activity: "login", maxTtlMs: 60_000 }),
    );
    expect(grant).toBeNull();
    const withOtp = await inInstance((instance) =>
      instance.createSession({ deviceName: null, amr: ["pop", "otp"], activity: "login", maxTtlMs: 60_000 }),
    );
    expect(withOtp).toMatchObject({ amr: ["pop", "otp"] });
  });
});
