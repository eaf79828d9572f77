/**
 * Two-factor authentication against a real `npm run dev`, with the codes made by an
 * independent implementation: the oath-toolkit CLI (`oathtool --totp -b SECRET`,
 * Debian package oathtool), fed the secret from the otpauth:// URI the way an
 * authenticator app would read it. docs/api.md §4, §8.
 */
import { execFileSync } from "node:child_process";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, OwnerClient } from "../helpers/owner";
import { nodeFetch, startInstance, type DevServer } from "./devServer";

/** A TOTP code from oathtool for the time `atS` (seconds since the epoch). */
function oathtool(secretBase32: string, atS: number): string {
  const out = execFileSync("oathtool", ["--totp", "-b", `--now=@${atS}`, secretBase32], { encoding: "utf8" });
  const code = out.trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(out)}`);
  return code;
}

describe("TOTP with codes from oathtool, against npm run dev", () => {
  let server: DevServer;
  let owner: OwnerClient;
  let secret: string;
  let backupCodes: string[];
  // One moment for every code below, so that they are successive 30 s steps.
  let t0S: number;

  beforeAll(async () => {
    server = await startInstance();
    owner = await OwnerClient.create(nodeFetch, server.origin);
    const claimed = await owner.claim(server.setupCode);
    expect(claimed.status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("enrols: a pending secret in an otpauth:// URI with the issuer in the label and as a parameter", async () => {
    const res = await owner.api("POST", "/api/2fa/totp");
    expect(res.status).toBe(200);
    const body = await json<{ secret: string; uri: string; qrSvg: string }>(res);
    const uri = new URL(body.uri);
    const issuer = new URL(server.origin).hostname;
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe(`/${issuer}:owner`);
    expect(uri.searchParams.get("issuer")).toBe(issuer);
    expect(uri.searchParams.get("algorithm")).toBe("SHA1");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(uri.searchParams.get("period")).toBe("30");
    expect(body.qrSvg.startsWith("<svg")).toBe(true);
    secret = uri.searchParams.get("secret")!;
    expect(secret).toBe(body.secret);
  });

  it("confirms with oathtool's code for now", async () => {
    t0S = Math.floor(Date.now() / 1000);
    const res = await owner.api("POST", "/api/2fa/totp/confirm", { code: oathtool(secret, t0S) });
    expect(res.status).toBe(200);
    backupCodes = (await json<{ backupCodes: string[] }>(res)).backupCodes;
    expect(backupCodes).toHaveLength(10);
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: true, totp: true, passkeys: 0, backupCodesRemaining: 10 });
    const challenge = await owner.request("POST", "/auth/challenge");
    expect(await json(challenge)).toMatchObject({ mfa: true, claimed: true });
  });

  it("logs a new device in with oathtool's next code, once", async () => {
    const phone = owner.device();
    const missing = await phone.login();
    expect(missing.status).toBe(401);
    expect(await json(missing)).toMatchObject({ error: "mfa_required" });

    const code = oathtool(secret, t0S + 30);
    const res = await phone.login({ totp: code });
    expect(res.status).toBe(200);
    expect(decodeJwt(phone.accessToken!).amr).toEqual(["pop", "otp"]);

    const replay = await owner.device().login({ totp: code });
    expect(replay.status).toBe(401);
    expect(await json(replay)).toMatchObject({ error: "invalid_code" });
  });

  it("gates the escrow by a code and trades it for a one-time mfa ticket", async () => {
    const device = owner.device();
    const gated = await device.request("POST", "/auth/escrow", { body: {} });
    expect(gated.status).toBe(401);
    const res = await device.request("POST", "/auth/escrow", { body: { backupCode: backupCodes[0] } });
    expect(res.status).toBe(200);
    const { mfaTicket, blob } = await json<{ mfaTicket: string; blob: string }>(res);
    expect(blob).toBe("escrow-blob-v1");
    expect((await device.login({ mfaTicket })).status).toBe(200);
    expect((await owner.device().login({ mfaTicket })).status).toBe(401);
  });
});
