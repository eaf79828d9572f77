/**
 * docs/api.md §4: POST /auth/escrow is gated by a second factor once 2FA is on, and
 * then returns a single-use mfaTicket that /auth/login takes once, within 300 s, in
 * place of a code.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { serverNowMs } from "../helpers/clock";
import { json, type OwnerClient } from "../helpers/owner";
import { amrOf, enrolTotp, sqlInInstance, type Authenticator } from "../helpers/twoFactor";
import { claimedOwner } from "../helpers/workers";

let owner: OwnerClient;
let auth: Authenticator;
let backupCodes: string[];

interface EscrowBody {
  version: number;
  blob: string;
  publicKeys: unknown;
  mfaTicket?: string;
}

function fetchEscrow(body: unknown) {
  return owner.device().request("POST", "/auth/escrow", { body, cookie: null });
}

async function loginWithTicket(mfaTicket: string) {
  const device = owner.device();
  const res = await device.login({ mfaTicket });
  return { device, res };
}

beforeAll(async () => {
  owner = await claimedOwner();
});

describe("POST /auth/escrow", { timeout: 45_000 }, () => {
  it("returns the escrow without a code and without a ticket while 2FA is off", async () => {
    for (const body of [{}, { totp: "123456" }]) {
      const res = await fetchEscrow(body);
      expect(res.status).toBe(200);
      const escrow = await json<EscrowBody>(res);
      expect(escrow).toMatchObject({ version: 1, blob: "escrow-blob-v1" });
      expect(escrow.mfaTicket).toBeUndefined();
    }
  });

  it("needs a second factor once 2FA is on, and says nothing about the escrow without one", async () => {
    ({ auth, backupCodes } = await enrolTotp(owner));
    const res = await fetchEscrow({});
    expect(res.status).toBe(401);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ error: "mfa_required" });
    expect(body).not.toContain("escrow-blob-v1");

    const wrong = await fetchEscrow({ totp: auth.wrongCode() });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain("escrow-blob-v1");

    for (const bad of [{ totp: "123456", backupCode: backupCodes[0] }, { totp: 1 }, { backupCode: "" }, "[]"]) {
      expect((await fetchEscrow(bad)).status).toBe(400);
    }
  });

  it("returns the escrow and an mfa ticket for a right code", async () => {
    const res = await fetchEscrow({ totp: await auth.nextCode() });
    expect(res.status).toBe(200);
    const escrow = await json<EscrowBody>(res);
    expect(escrow).toMatchObject({ version: 1, blob: "escrow-blob-v1", publicKeys: owner.keys.publicKeys });
    expect(escrow.mfaTicket).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Stored only as a keyed hash.
    const rows = await sqlInInstance<{ hash: string }>("SELECT hash FROM mfa_tickets");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hash).not.toBe(escrow.mfaTicket);

    const { device, res: login } = await loginWithTicket(escrow.mfaTicket!);
    expect(login.status).toBe(200);
    expect(amrOf(device.accessToken)).toEqual(["pop", "otp"]);

    const again = await loginWithTicket(escrow.mfaTicket!);
    expect(again.res.status).toBe(401);
    expect(await json(again.res)).toMatchObject({ error: "invalid_code" });
  });

  it("also gives a ticket for a backup code", async () => {
    const res = await fetchEscrow({ backupCode: backupCodes[0] });
    expect(res.status).toBe(200);
    const { mfaTicket } = await json<EscrowBody>(res);
    expect((await loginWithTicket(mfaTicket!)).res.status).toBe(200);
    // The backup code is spent.
    expect((await fetchEscrow({ backupCode: backupCodes[0] })).status).toBe(401);
  });

  it("refuses a ticket older than 300 s", async () => {
    const { mfaTicket } = await json<EscrowBody>(await fetchEscrow({ backupCode: backupCodes[1] }));
    const [row] = await sqlInInstance<{ ttl: number }>("SELECT MAX(expires_at_ms) - ? AS ttl FROM mfa_tickets", serverNowMs());
    expect(row!.ttl).toBeGreaterThan(295_000);
    expect(row!.ttl).toBeLessThanOrEqual(300_000);
    await sqlInInstance("UPDATE mfa_tickets SET expires_at_ms = ?", serverNowMs() - 1);
    const { res } = await loginWithTicket(mfaTicket!);
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_code" });
  });

  it("lets exactly one of 20 concurrent logins with the same ticket in", async () => {
    const { mfaTicket } = await json<EscrowBody>(await fetchEscrow({ backupCode: backupCodes[2] }));
    const devices = Array.from({ length: 20 }, () => owner.device());
    const assertions = await Promise.all(devices.map((d) => d.assertion()));
    const results = await Promise.all(
      devices.map((d, i) => d.request("POST", "/auth/login", { body: { assertion: assertions[i], mfaTicket } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
  });

  it("is not a way around the signature: a ticket without a valid assertion is refused first", async () => {
    const { mfaTicket } = await json<EscrowBody>(await fetchEscrow({ backupCode: backupCodes[3] }));
    const stranger = owner.device();
    const res = await stranger.request("POST", "/auth/login", {
      body: { assertion: await stranger.assertion({ aud: "https://elsewhere.example" }), mfaTicket },
    });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
    // The ticket was not consumed by the failed login.
    expect((await loginWithTicket(mfaTicket!)).res.status).toBe(200);
  });
});
