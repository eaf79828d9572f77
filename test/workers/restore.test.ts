/**
 * POST /auth/restore (docs/export-restore.md) against this file's fresh instance: an
 * archive made from scratch (test/helpers/archive.ts) by an owner whose keys the test
 * holds. Refused archives first, each leaving the instance exactly as unclaimed as it
 * was; then two restores at once, one of which wins; then what the owner finds.
 *
 * Tests run in order. Each restore attempt comes from its own client address: every
 * setup-code check counts against that address's hourly budget.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ARCHIVE_LIMITS, type Archive } from "../../src/schemas/archive";
import { buildArchive, challengeFrom, postRestore, restoreAssertion, withDigest, type BuiltArchive } from "../helpers/archive";
import { openMessage, postMessage, publishedEncryptionKey, sealMessage, type StoredMessage } from "../helpers/messages";
import { json, makeOwnerKeys, OwnerClient } from "../helpers/owner";
import { inInstance, selfFetch, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

let built: BuiltArchive;
let address = 0;
/** A client address of its own for each attempt. */
const fresh = () => ({ "cf-connecting-ip": `198.51.100.${++address}` });

beforeAll(async () => {
  built = await buildArchive({ messages: 5 });
});

function restore(archive: Archive | Record<string, unknown> | string, extra: Partial<Parameters<typeof postRestore>[2]> = {}) {
  return postRestore(selfFetch, TEST_ORIGIN, { keys: built.keys, setupCode: TEST_SETUP_CODE, archive, headers: fresh(), ...extra });
}

async function expectRefused(res: Response, status: number, error: string, message?: RegExp) {
  const body = await json<{ error: string; message: string }>(res);
  expect({ status: res.status, error: body.error }).toEqual({ status, error });
  if (message) expect(body.message).toMatch(message);
  return body;
}

async function count(table: string): Promise<number> {
  return (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
}

/** Nothing of any archive was written: D1 is empty, and the object holds only its own entries. */
async function expectUntouched() {
  const discovery = await json<{ claimed: boolean }>(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)));
  expect(discovery.claimed).toBe(false);
  for (const table of ["instance", "owner_keys", "escrow_versions", "messages"]) expect(await count(table)).toBe(0);
  const state = await inInstance((_i, s) => ({
    types: s.storage.sql.exec<{ type: string }>("SELECT type FROM activity").toArray().map((r) => r.type),
    lease: s.storage.kv.get("restore:lease") ?? null,
    lastPushed: s.storage.kv.get("live:lastPushedMessageId") ?? null,
  }));
  // Only failed assertions against this instance itself may be in its log.
  expect(state.types.filter((t) => t !== "login_failed")).toEqual([]);
  expect(state.lease).toBeNull();
  expect(state.lastPushed).toBeNull();
}

describe("POST /auth/restore refuses, and writes nothing", () => {
  it("a truncated archive file (cut JSON)", async () => {
    const text = JSON.stringify(built.archive);
    await expectRefused(await restore(text.slice(0, Math.floor(text.length / 2))), 400, "invalid_request", /truncated/);
    await expectUntouched();
  });

  it("an archive that lost its last messages and its digest line (valid JSON)", async () => {
    const { digest: _digest, ...rest } = built.archive;
    const cut = { ...rest, messages: rest.messages.slice(0, 2) };
    const body = await expectRefused(await restore(cut), 400, "invalid_request", /not valid/);
    expect(JSON.stringify(body)).toContain('"digest"');
    const kept = await restore({ ...cut, digest: built.archive.digest });
    await expectRefused(kept, 400, "invalid_request", /does not match its digest/);
    await expectUntouched();
  });

  it("a blob changed by one byte, digest not updated", async () => {
    const escrow = built.archive.escrow.map((e, i) => (i === 0 ? { ...e, blob: `E${e.blob.slice(1)}` } : e));
    await expectRefused(await restore({ ...built.archive, escrow }), 400, "invalid_request", /does not match its digest/);
    await expectUntouched();
  });

  it("a changed blob with a recomputed digest, which the owner's assertion does not approve", async () => {
    const escrow = built.archive.escrow.map((e, i) => (i === 0 ? { ...e, blob: `E${e.blob.slice(1)}` } : e));
    const tampered = await withDigest({ ...built.archive, escrow });
    const res = await restore(tampered, { approve: built.archive.digest });
    await expectRefused(res, 400, "invalid_request", /does not approve this archive/);
    await expectUntouched();
  });

  it("a message swapped for another one (digest recomputed, assertion not)", async () => {
    const forged = await sealMessage(built.keys.enc.publicJwk as never, "forged");
    const messages = built.archive.messages.map((m, i) => (i === 0 ? { ...m, jwe: forged } : m));
    const res = await restore(await withDigest({ ...built.archive, messages }), { approve: built.archive.digest });
    await expectRefused(res, 400, "invalid_request", /does not approve/);
    await expectUntouched();
  });

  it("an assertion without archive_sha256", async () => {
    const assertion = await restoreAssertion(built.keys, { origin: TEST_ORIGIN, nonce: await challengeFrom(selfFetch, TEST_ORIGIN) });
    await expectRefused(await restore(built.archive, { assertion }), 400, "invalid_request", /archive_sha256/);
    await expectUntouched();
  });

  it("an assertion signed by another key, by a retired key, or for another origin", async () => {
    const stranger = await makeOwnerKeys();
    const nonce = () => challengeFrom(selfFetch, TEST_ORIGIN);
    const digest = built.archive.digest;
    for (const assertion of [
      await restoreAssertion(built.keys, { origin: TEST_ORIGIN, nonce: await nonce(), archiveSha256: digest, key: stranger.sig.privateKey }),
      await restoreAssertion(built.keys, { origin: TEST_ORIGIN, nonce: await nonce(), archiveSha256: digest, key: built.retired.sig.privateKey }),
      await restoreAssertion(built.keys, { origin: built.archive.origin, nonce: await nonce(), archiveSha256: digest }),
      await restoreAssertion(built.keys, { origin: TEST_ORIGIN, nonce: "not-a-challenge-this-instance-issued", archiveSha256: digest }),
    ]) {
      await expectRefused(await restore(built.archive, { assertion }), 401, "invalid_assertion");
    }
    await expectUntouched();
  });

  it("another format, another version", async () => {
    const notOurs = await withDigest({ ...built.archive, format: "someone-elses-archive" as never });
    await expectRefused(await restore(notOurs), 400, "invalid_request", /not an Indienet archive/);
    const newer = await withDigest({ ...built.archive, version: 2 as never });
    await expectRefused(await restore(newer), 400, "invalid_request", /version 1; this one says version 2/);
    const { version: _v, ...unversioned } = built.archive;
    await expectRefused(await restore(unversioned), 400, "invalid_request", /version null/);
    await expectUntouched();
  });

  it("an activity detail that is not finite or nested too deep, and a nested version, with 400 (not 500)", async () => {
    const text = JSON.stringify(built.archive);
    const laptop = '"detail":{"deviceName":"laptop"}';
    expect(text).toContain(laptop);
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const cases: Array<[string, RegExp]> = [
      [text.replace(laptop, '"detail":{"n":1e400}'), /not finite/],
      [text.replace(laptop, '"detail":{"n":[-1e999]}'), /not finite/],
      [text.replace(laptop, `"detail":{"n":${deep}}`), /nested more than/],
      [text.replace(laptop, `"detail":{"n":${"[".repeat(17)}1${"]".repeat(17)}}`), /nested more than/],
    ];
    for (const [archive, issue] of cases) {
      const body = await expectRefused(await restore(archive), 400, "invalid_request", /not valid/);
      expect(JSON.stringify(body)).toMatch(issue);
    }
    const nestedVersion = text.replace('"version":1', `"version":${deep}`);
    await expectRefused(await restore(nestedVersion), 400, "invalid_request", /this one says version an array/);
    await expectUntouched();
  });

  it("an archive that is well-formed and signed but inconsistent", async () => {
    const cases: Array<[Partial<Archive>, RegExp]> = [
      [{ escrow: built.archive.escrow.filter((e) => e.version !== 2) }, /without gaps/],
      [{ escrow: built.archive.escrow.slice(0, 2) }, /latest escrow version must go with the current keys/],
      [{ messages: [...built.archive.messages].reverse() }, /increasing id order/],
      [{ lastMessageId: 1 }, /lastMessageId/],
      [{ publicKeys: built.archive.publicKeys.map((k) => ({ ...k, status: "current" as const, retiredAt: null })) }, /exactly one current/],
    ];
    for (const [change, message] of cases) {
      const archive = await withDigest({ ...built.archive, ...change });
      await expectRefused(await restore(archive), 400, "invalid_request", message);
    }
    await expectUntouched();
  });

  it("a wrong setup code with 403, and a body over 16 MiB with 413", async () => {
    await expectRefused(await restore(built.archive, { setupCode: "WRONG-CODE" }), 403, "forbidden");
    const huge = { ...built.archive, padding: "x".repeat(ARCHIVE_LIMITS.restoreBodyBytes) };
    await expectRefused(await restore(huge), 413, "payload_too_large");
    await expectUntouched();
    // A 16 MiB body: near the default 5 s on a loaded machine.
  }, 30_000);
});

describe("POST /auth/restore refuses a stranger before reading the body", () => {
  // The body is not even JSON: a server that read and parsed it first would answer 400.
  const garbage = "this is not JSON and would take a while to parse if it were 16 MiB";

  it("a missing setup code header with 403, whatever the body (the old body field is not enough)", async () => {
    await expectRefused(await restore(garbage, { setupCodeIn: "nowhere" }), 403, "forbidden", /Authorization: Setup/);
    await expectRefused(await restore(built.archive, { setupCodeIn: "body" }), 403, "forbidden", /Authorization: Setup/);
    await expectUntouched();
  });

  it("takes the code as typed (lower case, grouped by spaces), as setup does: past it, the garbage body is what is refused", async () => {
    const typed = TEST_SETUP_CODE.toLowerCase().replace(/-/g, " ");
    await expectRefused(await restore(garbage, { setupCode: typed }), 400, "invalid_request");
    await expectUntouched();
  });

  it("a wrong setup code with 403, counted before the body is read", async () => {
    const headers = fresh();
    for (let i = 0; i < 10; i++) {
      await expectRefused(await restore(garbage, { setupCode: `WRONG-${i}`, headers }), 403, "forbidden", /setup code is wrong/);
    }
    // The budget (10 an hour, shared with setup) is spent: even the right code waits now.
    const limited = await restore(built.archive, { headers });
    await expectRefused(limited, 429, "rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    await expectUntouched();
  });
});

describe("two restores at once with the same setup code", () => {
  it("exactly one wins; the other gets 409 and leaves nothing of its own", async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => restore(built.archive)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    for (const r of results.filter((r) => r.status === 409)) await expectRefused(r, 409, "already_claimed");
    // The log holds the archive once, not once per attempt.
    const types = await inInstance((_i, s) =>
      s.storage.sql.exec<{ type: string }>("SELECT type FROM activity WHERE type != 'login_failed' ORDER BY id").toArray().map((r) => r.type),
    );
    expect(types.filter((t) => t === "keys_rotated")).toHaveLength(1);
  });
});

describe("the restored instance", () => {
  let owner: OwnerClient;

  beforeAll(async () => {
    // Restored by the race above; alone, this block restores the archive itself.
    const doc = await json<{ claimed: boolean }>(await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/indienet`)));
    if (!doc.claimed) {
      const restored = await restore(built.archive);
      if (restored.status !== 201) throw new Error(`restore: ${restored.status} ${await restored.text()}`);
    }
    owner = new OwnerClient(selfFetch, TEST_ORIGIN, built.keys, fresh());
    const res = await owner.login();
    if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  });

  it("is claimed; its JWKS lists the archive's keys, the old ones retired", async () => {
    const jwks = await json<{ keys: Array<{ kid: string; status?: string }> }>(
      await selfFetch(new Request(`${TEST_ORIGIN}/.well-known/jwks.json`)),
    );
    const byKid = Object.fromEntries(jwks.keys.map((k) => [k.kid, k.status ?? "current"]));
    expect(byKid).toEqual(
      Object.fromEntries(built.archive.publicKeys.map((k) => [k.jwk.kid, k.status])),
    );
  });

  it("lets the owner in with the same keys, and only with the current ones", async () => {
    const old = new OwnerClient(selfFetch, TEST_ORIGIN, built.retired, fresh());
    expect((await old.login()).status).toBe(401);
    expect((await owner.device().login()).status).toBe(200);
  });

  it("has the same messages, with their ids, and the owner can open each one", async () => {
    const res = await owner.api("GET", "/api/messages?limit=100");
    const { messages } = await json<{ messages: StoredMessage[] }>(res);
    expect(messages).toEqual(built.archive.messages);
    for (const m of messages) {
      const key = m.id <= 3 ? built.retired.enc.privateKey : built.keys.enc.privateKey;
      expect(await openMessage(m.jwe, key)).toBe(built.plaintexts.get(m.id));
    }
  });

  it("gives new messages ids after every id the old instance handed out", async () => {
    const key = await publishedEncryptionKey(selfFetch, TEST_ORIGIN);
    expect(key.kid).toBe(built.keys.enc.publicJwk.kid);
    const res = await postMessage(selfFetch, TEST_ORIGIN, { jwe: await sealMessage(key, "after the move") });
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ id: built.archive.lastMessageId + 1 });
  });

  it("has every escrow version, byte for byte", async () => {
    expect(await json(await owner.api("GET", "/api/escrow"))).toEqual({
      version: 3,
      blob: built.archive.escrow[2]!.blob,
      publicKeys: { sig: built.keys.sig.publicJwk, enc: built.keys.enc.publicJwk },
    });
    const { results } = await env.DB.prepare("SELECT version, blob, sig_kid, enc_kid, created_at_ms FROM escrow_versions ORDER BY version").all();
    expect(results).toEqual(
      built.archive.escrow.map((e) => ({ version: e.version, blob: e.blob, sig_kid: e.sigKid, enc_kid: e.encKid, created_at_ms: e.createdAt })),
    );
  });

  it("has the activity log with its ids, then the restore, then this instance's own entries", async () => {
    const { entries } = await json<{ entries: Array<{ id: number; type: string; detail?: Record<string, unknown> }> }>(
      await owner.api("GET", "/api/activity?limit=100"),
    );
    const oldestFirst = [...entries].reverse();
    expect(oldestFirst.slice(0, built.archive.activity.length)).toEqual(built.archive.activity);
    const later = oldestFirst.slice(built.archive.activity.length);
    const restored = later.find((e) => e.type === "claimed");
    expect(restored?.detail).toEqual({
      restoredFrom: built.archive.origin,
      exportedAt: built.archive.exportedAt,
      archiveDigest: built.archive.digest,
      messages: 5,
      escrowVersions: 3,
      activityEntries: built.archive.activity.length,
    });
    expect(later.map((e) => e.type)).toContain("login");
    // Ids keep growing after the archived ones.
    expect(later.every((e) => e.id > built.archive.activity.at(-1)!.id)).toBe(true);
  });

  it("starts with two-factor authentication off", async () => {
    expect(await json(await owner.api("GET", "/api/2fa"))).toEqual({ enabled: false, totp: false, passkeys: 0, backupCodesRemaining: 0 });
    const challenge = await json<{ mfa: boolean; claimed: boolean }>(await owner.request("POST", "/auth/challenge"));
    expect(challenge).toMatchObject({ mfa: false, claimed: true });
  });

  it("does not push the restored messages to the live channel as new", async () => {
    const lastPushed = await inInstance((_i, s) => s.storage.kv.get<number>("live:lastPushedMessageId"));
    expect(lastPushed).toBeGreaterThanOrEqual(built.archive.lastMessageId);
    expect(await inInstance((_i, s) => s.storage.kv.get("restore:lease") ?? null)).toBeNull();
  });

  it("refuses a second restore and a setup with 409 already_claimed", async () => {
    await expectRefused(await restore(built.archive), 409, "already_claimed");
    // Before the setup code and before the body: a claimed instance reads neither.
    await expectRefused(await restore("not JSON at all", { setupCode: "WRONG" }), 409, "already_claimed");
    const other = await OwnerClient.create(selfFetch, TEST_ORIGIN, fresh());
    await expectRefused(await other.claim(TEST_SETUP_CODE), 409, "already_claimed");
  });
});
