/**
 * GET /api/export (docs/export-restore.md) against this file's instance: who may
 * export, what the archive holds (everything the owner needs to move), and what it
 * never holds (any secret). Tests run in order on one instance that lives a little:
 * escrow updates, a key rotation, messages (one deleted), 2FA turned on.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { archiveDigest, findArchiveInconsistency } from "../../src/domain/archive";
import { archiveSchema, type Archive } from "../../src/schemas/archive";
import { EXPORT_ACTIVITY_PAGE } from "../../src/services/archiveExport";
import { EXPORT_PAGE_BYTES } from "../../src/storage/archiveStore";
import { postMessage, publishedEncryptionKey, sealMessage, type StoredMessage } from "../helpers/messages";
import { json, makeOwnerKeys, OwnerClient } from "../helpers/owner";
import { enrolTotp, reauthWithCode, type Enrolled } from "../helpers/twoFactor";
import { ageLogin, claimedOwner, fetchWithVars, inInstance, selfFetch, objectRows, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

let owner: OwnerClient;

beforeAll(async () => {
  owner = await claimedOwner();
});

async function exportArchive(client: OwnerClient = owner): Promise<{ res: Response; text: string; archive: Archive }> {
  const res = await client.api("GET", "/api/export");
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(200);
  return { res, text, archive: archiveSchema.parse(JSON.parse(text)) };
}

async function activityLog() {
  return inInstance((_i, s) =>
    s.storage.sql
      .exec<{ id: number; type: string; at_ms: number; session_id: string | null; detail: string | null }>("SELECT * FROM activity ORDER BY id")
      .toArray()
      .map((r) => ({
        id: r.id,
        type: r.type,
        at: r.at_ms,
        ...(r.session_id ? { sessionId: r.session_id } : {}),
        ...(r.detail ? { detail: JSON.parse(r.detail) } : {}),
      })),
  );
}

describe("who may export", () => {
  it("nobody without an access token: 401", async () => {
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/api/export`));
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthorized" });
  });

  it("not a session whose login is older than STEP_UP_MAX_AGE_S: 403 step_up_required, then yes after /auth/reauth", async () => {
    const device = owner.device();
    await device.login();
    await ageLogin(device, 3600);
    const stale = await device.api("GET", "/api/export");
    expect(stale.status).toBe(403);
    expect(await json(stale)).toMatchObject({ error: "step_up_required" });

    const reauth = await device.request("POST", "/auth/reauth", { bearer: true, body: { assertion: await device.assertion() } });
    expect(reauth.status).toBe(200);
    device.accessToken = (await json<{ accessToken: string }>(reauth)).accessToken;
    expect((await device.api("GET", "/api/export")).status).toBe(200);
  });
});

describe("the archive", () => {
  const blobs = ["escrow-blob-v1"];
  let messages: StoredMessage[];
  let next: Awaited<ReturnType<typeof makeOwnerKeys>>;
  let first: Awaited<ReturnType<typeof makeOwnerKeys>>;

  beforeAll(async () => {
    // A life: a password change, a key rotation, messages before and after it, one deleted.
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    for (const text of ["before the rotation", "to be deleted"]) {
      expect((await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, text), from: "acct:a@example.net" })).status).toBe(202);
    }
    blobs.push("escrow v2: é✓");
    expect((await owner.api("PUT", "/api/escrow", { expectedVersion: 1, blob: blobs[1] })).status).toBe(200);
    next = await makeOwnerKeys();
    const rotated = new OwnerClient(selfFetch, TEST_ORIGIN, next);
    blobs.push("escrow v3: rotated");
    const rotation = await owner.api("PUT", "/api/escrow", {
      expectedVersion: 2,
      blob: blobs[2],
      publicKeys: next.publicKeys,
      assertion: await rotated.assertion(),
    });
    expect(rotation.status).toBe(200);
    const retiredKeys = owner.keys;
    const newKey = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    for (const text of ["after the rotation", "newest, deleted"]) {
      expect((await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(newKey, text) })).status).toBe(202);
    }
    expect((await owner.api("DELETE", "/api/messages/2")).status).toBe(204);
    expect((await owner.api("DELETE", "/api/messages/4")).status).toBe(204);
    messages = (await json<{ messages: StoredMessage[] }>(await owner.api("GET", "/api/messages?limit=100"))).messages;
    expect(messages.map((m) => m.id)).toEqual([1, 3]);
    owner.keys = next;
    first = retiredKeys;
  });

  it("is one JSON document, sent as a download that no cache keeps", async () => {
    const { res, text } = await exportArchive();
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="indienet-archive-id\.example\.test-\d{4}-\d{2}-\d{2}\.json"$/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("says what it is, where from and when, and whose digest it carries", async () => {
    const before = Date.now();
    const { archive } = await exportArchive();
    expect(archive).toMatchObject({ format: "indienet-archive", version: 1, origin: TEST_ORIGIN });
    expect(archive.exportedAt).toBeGreaterThanOrEqual(before);
    expect(archive.settings).toEqual({
      OWNER_HANDLE: "owner",
      ACCESS_TOKEN_TTL_S: 900,
      REFRESH_REUSE_GRACE_S: 10,
      REFRESH_IDLE_TTL_S: 8_640_000,
      SESSION_MAX_TTL_S: 31_536_000,
      STEP_UP_MAX_AGE_S: 300,
    });
    expect(await archiveDigest(archive)).toBe(archive.digest);
    expect(await findArchiveInconsistency(archive)).toBeNull();
  });

  it("holds the current and the retired public keys, with their status", async () => {
    const { archive } = await exportArchive();
    expect(archive.publicKeys.map((k) => [k.jwk, k.status])).toEqual([
      [first.sig.publicJwk, "retired"],
      [first.enc.publicJwk, "retired"],
      [next.sig.publicJwk, "current"],
      [next.enc.publicJwk, "current"],
    ]);
    expect(archive.publicKeys.filter((k) => k.status === "retired").every((k) => k.retiredAt !== null)).toBe(true);
  });

  it("holds every escrow version, byte for byte, with the keys that went with it", async () => {
    const { archive } = await exportArchive();
    expect(archive.escrow.map((e) => [e.version, e.blob, e.sigKid, e.encKid])).toEqual([
      [1, blobs[0], first.sig.publicJwk.kid, first.enc.publicJwk.kid],
      [2, blobs[1], first.sig.publicJwk.kid, first.enc.publicJwk.kid],
      [3, blobs[2], next.sig.publicJwk.kid, next.enc.publicJwk.kid],
    ]);
  });

  it("holds the messages as the API shows them, and the highest id ever handed out", async () => {
    const { archive } = await exportArchive();
    expect(archive.messages).toEqual(messages);
    expect(archive.lastMessageId).toBe(4);
  });

  it("holds the whole activity log, oldest first", async () => {
    const { archive } = await exportArchive();
    expect(archive.activity).toEqual(await activityLog());
  });

  it("pages through large tables: every row once, in order, and the digest still holds", async () => {
    // Enough JWE bytes for two message pages, and enough entries for two activity pages.
    const big = "A".repeat(60_000);
    const pageRows = Math.ceil(EXPORT_PAGE_BYTES / big.length) + 10;
    await inInstance((_i, s) => {
      for (let i = 0; i < pageRows; i++) {
        s.storage.sql.exec("INSERT INTO messages (received_at_ms, sender, jwe, verified) VALUES (?, NULL, ?, 0)", Date.now(), `${big}.${i}`);
      }
      for (let i = 0; i < EXPORT_ACTIVITY_PAGE + 5; i++) {
        s.storage.sql.exec("INSERT INTO activity (type, at_ms, session_id, detail) VALUES ('login', ?, NULL, NULL)", i);
      }
    });
    const { archive } = await exportArchive();
    const stored = await objectRows<{ id: number }>("SELECT id FROM messages ORDER BY id");
    expect(archive.messages.map((m) => m.id)).toEqual(stored.map((r) => r.id));
    expect(archive.activity.map((a) => a.id)).toEqual((await activityLog()).map((a) => a.id));
    expect(await archiveDigest(archive)).toBe(archive.digest);
    // Megabytes of rows written, exported and (by the test helpers) checked against the
    // archive schema: near the default 5 s on a loaded machine.
  }, 30_000);
});

describe("what the archive never holds", { timeout: 45_000 }, () => {
  let enrolled: Enrolled;

  it("with 2FA on, export needs a login with the second factor", async () => {
    enrolled = await enrolTotp(owner);
    const withoutOtp = await owner.api("GET", "/api/export");
    expect(withoutOtp.status).toBe(403);
    expect(await json(withoutOtp)).toMatchObject({ error: "step_up_required" });
    expect((await reauthWithCode(owner, { totp: await enrolled.auth.nextCode() })).status).toBe(200);
  });

  it("no TOTP secret, backup code, refresh token or hash, session secret or instance secret", async () => {
    const { text } = await exportArchive();
    const secrets = await inInstance((_i, s) => {
      const column = (sql: string) => s.storage.sql.exec<{ v: string | null }>(sql).toArray().map((r) => r.v);
      return [
        ...column("SELECT secret_sealed AS v FROM totp"),
        ...column("SELECT hash AS v FROM backup_codes"),
        ...column("SELECT hash AS v FROM refresh_tokens"),
        ...column("SELECT current_hash AS v FROM sessions"),
        ...column("SELECT successor_wrap AS v FROM sessions"),
      ].filter((v): v is string => !!v);
    });
    expect(secrets.length).toBeGreaterThan(5);
    const signingKey = JSON.parse(env.INSTANCE_SIGNING_KEY!) as { d: string };
    for (const secret of [
      enrolled.auth.secret,
      ...enrolled.backupCodes,
      ...secrets,
      owner.refreshToken!,
      env.DATA_KEY!,
      env.SETUP_CODE!,
      TEST_SETUP_CODE,
      signingKey.d,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/"d"\s*:/);
  });
});
