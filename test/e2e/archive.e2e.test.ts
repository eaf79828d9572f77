/**
 * Moving house, over real HTTP (docs/export-restore.md): an owner lives a while on
 * instance A (messages, a password change, a key rotation, 2FA), exports it with
 * `npm run export`, and restores the file into a second, fresh `npm run dev` instance
 * B with B's setup code. Refused archives leave B unclaimed; two restores at once
 * leave one winner; afterwards the owner logs in to B with the same keys, opens the
 * same messages, and finds the same escrow versions and activity log.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Archive } from "../../src/schemas/archive";
import { postRestore, withDigest } from "../helpers/archive";
import { openMessage, postMessage, publishedEncryptionKey, sealMessage, type StoredMessage } from "../helpers/messages";
import { json, makeOwnerKeys, OwnerClient, type OwnerKeys } from "../helpers/owner";
import { nodeFetch, startInstance, type DevServer } from "./devServer";

// The port range this suite's servers may use on a shared machine.
process.env.INDIENET_PORT_RANGE ??= "9500-9599";

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** `npm run export` as the owner runs it, with the token in the environment. */
async function npmExport(url: string, out: string, token: string | undefined) {
  try {
    const { stdout, stderr } = await run("npm", ["run", "--silent", "export", "--", "--url", url, "--out", out], {
      cwd: REPO_ROOT,
      env: { ...process.env, INDIENET_ACCESS_TOKEN: token ?? "" },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function totpCode(secret: string, step: number): string {
  return new TOTP({ secret, algorithm: "SHA1", digits: 6, period: 30 }).generate({ timestamp: step * 30_000 });
}

async function discoveryClaimed(server: DevServer): Promise<boolean> {
  return (await json<{ claimed: boolean }>(await nodeFetch(new Request(`${server.url}/.well-known/indienet`)))).claimed;
}

describe("export from one instance, restore into another", () => {
  let a: DevServer;
  let b: DevServer;
  const files = mkdtempSync(join(tmpdir(), "indienet-archive-e2e-"));
  const archiveFile = join(files, "a.json");
  let owner: OwnerClient;
  let first: OwnerKeys;
  const plaintexts = new Map<number, string>();
  let exported: Archive;

  beforeAll(async () => {
    a = await startInstance();
  }, 60_000);
  beforeAll(async () => {
    b = await startInstance();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(files, { recursive: true, force: true });
  });

  it("lives on instance A: messages, a password change, a key rotation, 2FA", async () => {
    owner = await OwnerClient.create(nodeFetch, a.origin);
    expect((await owner.claim(a.setupCode)).status).toBe(201);
    first = owner.keys;
    const send = async (text: string) => {
      const key = await publishedEncryptionKey(nodeFetch, a.origin);
      const res = await postMessage(nodeFetch, a.origin, { jwe: await sealMessage(key, text), from: "acct:friend@example.net" });
      expect(res.status).toBe(202);
      plaintexts.set((await json<{ id: number }>(res)).id, text);
    };
    await send("hello before the rotation");
    await send("this one gets deleted");
    expect((await owner.api("DELETE", "/api/messages/2")).status).toBe(204);
    plaintexts.delete(2);
    expect((await owner.api("PUT", "/api/escrow", { expectedVersion: 1, blob: "escrow v2: a new password" })).status).toBe(200);

    const next = await makeOwnerKeys();
    const rotation = await owner.api("PUT", "/api/escrow", {
      expectedVersion: 2,
      blob: "escrow v3: old and new private keys",
      publicKeys: next.publicKeys,
      assertion: await new OwnerClient(nodeFetch, a.origin, next).assertion(),
    });
    expect(rotation.status).toBe(200);
    owner.keys = next;
    await send("hello after the rotation: é✓");

    const begin = await json<{ secret: string }>(await owner.api("POST", "/api/2fa/totp"));
    const step = Math.floor(Date.now() / 30_000);
    expect((await owner.api("POST", "/api/2fa/totp/confirm", { code: totpCode(begin.secret, step) })).status).toBe(200);
    // Export is step-up: with 2FA on, the token needs a login with a code.
    const reauth = await owner.request("POST", "/auth/reauth", {
      bearer: true,
      body: { assertion: await owner.assertion(), totp: totpCode(begin.secret, step + 1) },
    });
    expect(reauth.status).toBe(200);
    owner.accessToken = (await json<{ accessToken: string }>(reauth)).accessToken;
  });

  it("exports A with npm run export into one file", async () => {
    const refused = await npmExport(a.url, join(files, "nope.json"), "not-a-token");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/401 unauthorized/);

    const done = await npmExport(a.url, archiveFile, owner.accessToken);
    expect(done.stderr).toBe("");
    expect(done.code).toBe(0);
    expect(done.stdout).toContain("public keys   2 current, 2 retired");
    expect(done.stdout).toContain("escrow        3 versions");
    expect(done.stdout).toContain("messages      2 (ciphertext)");
    exported = JSON.parse(readFileSync(archiveFile, "utf8")) as Archive;
    expect(exported.origin).toBe(a.origin);
    expect(exported.lastMessageId).toBe(3);
    expect(exported.messages.map((m) => m.id)).toEqual([1, 3]);
  });

  it("refuses damaged archives on B with 400, and B stays unclaimed", async () => {
    const text = readFileSync(archiveFile, "utf8");
    const attempt = (archive: Archive | string, extra: { approve?: string; setupCode?: string } = {}) =>
      postRestore(nodeFetch, b.origin, { keys: owner.keys, setupCode: b.setupCode, archive, ...extra });
    const expectError = async (res: Response, status: number, error: string, message: RegExp) => {
      const body = await json<{ error: string; message: string }>(res);
      expect({ status: res.status, error: body.error }).toEqual({ status, error });
      expect(body.message).toMatch(message);
      expect(await discoveryClaimed(b)).toBe(false);
    };

    // One byte of an escrow blob, digest not updated.
    const oneByte = text.replace("escrow v2: a new password", "escrow v2: a new passwore");
    expect(oneByte).not.toBe(text);
    await expectError(await attempt(oneByte), 400, "invalid_request", /does not match its digest/);
    // The digest updated too, but the owner's assertion approves the original.
    const redigested = await withDigest({ ...(JSON.parse(oneByte) as Archive) });
    await expectError(await attempt(redigested, { approve: exported.digest }), 400, "invalid_request", /does not approve/);
    // Cut off in the middle of the file.
    await expectError(await attempt(text.slice(0, Math.floor(text.length * 0.6))), 400, "invalid_request", /truncated/);
    // Another version, another format.
    await expectError(await attempt(await withDigest({ ...exported, version: 7 as never })), 400, "invalid_request", /version 7/);
    await expectError(await attempt(await withDigest({ ...exported, format: "tarball" as never })), 400, "invalid_request", /not an Indienet archive/);
    // The right archive with a wrong setup code.
    await expectError(await attempt(exported, { setupCode: "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH" }), 403, "forbidden", /setup code/);

    expect(await discoveryClaimed(b)).toBe(false);
  });

  it("restores into B: of two restores at once, exactly one wins", async () => {
    const archive = JSON.parse(readFileSync(archiveFile, "utf8")) as Archive;
    const results = await Promise.all(
      [0, 1].map(() => postRestore(nodeFetch, b.origin, { keys: owner.keys, setupCode: b.setupCode, archive })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const loser = results.find((r) => r.status === 409)!;
    expect(await json(loser)).toMatchObject({ error: "already_claimed" });
    expect(await discoveryClaimed(b)).toBe(true);
  });

  describe("on B afterwards", () => {
    let onB: OwnerClient;

    beforeAll(async () => {
      onB = new OwnerClient(nodeFetch, b.origin, owner.keys);
    });

    it("the owner logs in with the same keys, without a second factor: 2FA is off until enrolled again", async () => {
      const res = await onB.login();
      expect(res.status).toBe(200);
      expect(await json(await onB.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
      const old = new OwnerClient(nodeFetch, b.origin, first);
      expect((await old.login()).status).toBe(401);
    });

    it("reads the same messages, with the same ids, and opens each with the owner's keys", async () => {
      const { messages } = await json<{ messages: StoredMessage[] }>(await onB.api("GET", "/api/messages?limit=100"));
      expect(messages).toEqual(exported.messages);
      for (const m of messages) {
        const key = m.id === 1 ? first.enc.privateKey : owner.keys.enc.privateKey;
        expect(await openMessage(m.jwe, key)).toBe(plaintexts.get(m.id));
      }
      // A new message gets an id after every id A ever handed out, the deleted ones included.
      const key = await publishedEncryptionKey(nodeFetch, b.origin);
      const res = await postMessage(nodeFetch, b.origin, { jwe: await sealMessage(key, "hello, new house") });
      expect(await json(res)).toEqual({ id: exported.lastMessageId + 1 });
    });

    it("has the same escrow versions, keys and activity: B's own export starts where A's ended", async () => {
      expect(await json(await onB.api("GET", "/api/escrow"))).toMatchObject({ version: 3, blob: "escrow v3: old and new private keys" });
      const file = join(files, "b.json");
      const done = await npmExport(b.url, file, onB.accessToken);
      expect(done.code, done.stderr).toBe(0);
      const fromB = JSON.parse(readFileSync(file, "utf8")) as Archive;
      expect(fromB.origin).toBe(b.origin);
      expect(fromB.escrow).toEqual(exported.escrow);
      expect(fromB.publicKeys).toEqual(exported.publicKeys);
      expect(fromB.settings).toEqual(exported.settings);
      expect(fromB.messages.slice(0, exported.messages.length)).toEqual(exported.messages);
      expect(fromB.activity.slice(0, exported.activity.length)).toEqual(exported.activity);
      const after = fromB.activity.slice(exported.activity.length);
      expect(after.find((e) => e.type === "claimed")?.detail).toMatchObject({
        restoredFrom: a.origin,
        archiveDigest: exported.digest,
        messages: 2,
        escrowVersions: 3,
      });
    });

    it("lets the owner enrol 2FA again", async () => {
      const begin = await onB.api("POST", "/api/2fa/totp");
      expect(begin.status).toBe(200);
      const { secret } = await json<{ secret: string }>(begin);
      const confirm = await onB.api("POST", "/api/2fa/totp/confirm", { code: totpCode(secret, Math.floor(Date.now() / 30_000)) });
      expect(confirm.status).toBe(200);
      expect(await json(await onB.api("GET", "/api/2fa"))).toMatchObject({ enabled: true });
    });

    it("refuses another restore with 409 already_claimed", async () => {
      const res = await postRestore(nodeFetch, b.origin, { keys: owner.keys, setupCode: b.setupCode, archive: exported });
      expect(res.status).toBe(409);
      expect(await json(res)).toMatchObject({ error: "already_claimed" });
    });
  });
});
