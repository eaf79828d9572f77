import { beforeAll, describe, expect, it } from "vitest";
import { json, OwnerClient } from "../helpers/owner";
import { claimedOwner } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

type Sessions = { sessions: Array<{ id: string; deviceName: string | null; createdAt: number; lastUsedAt: number; current: boolean }> };

describe("GET /api/sessions", () => {
  it("lists live sessions with device names, times, and which one is current", async () => {
    const phone = owner.device();
    await phone.login({ deviceName: "phone" });
    const { sessions } = await json<Sessions>(await owner.api("GET", "/api/sessions"));
    const mine = sessions.find((s) => s.id === owner.sessionId)!;
    const theirs = sessions.find((s) => s.id === phone.sessionId)!;
    expect(mine).toMatchObject({ deviceName: "test laptop", current: true });
    expect(theirs).toMatchObject({ deviceName: "phone", current: false });
    expect(theirs.createdAt).toBeLessThanOrEqual(Date.now());
    expect(theirs.lastUsedAt).toBeGreaterThanOrEqual(theirs.createdAt);
  });
});

describe("DELETE /api/sessions/:id", () => {
  it("revokes another session: its access token and refresh token stop working at once", async () => {
    const other = owner.device();
    await other.login({ deviceName: "old tablet" });
    const res = await owner.api("DELETE", `/api/sessions/${other.sessionId}`);
    expect(res.status).toBe(204);
    const api = await other.api("GET", "/api/sessions");
    expect(api.status).toBe(401);
    expect(await json(api)).toMatchObject({ error: "session_revoked" });
    expect((await other.refresh()).status).toBe(401);
    const { sessions } = await json<Sessions>(await owner.api("GET", "/api/sessions"));
    expect(sessions.map((s) => s.id)).not.toContain(other.sessionId);
  });

  it("answers 404 not_found for an unknown or already revoked session", async () => {
    const res = await owner.api("DELETE", "/api/sessions/nope");
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: "not_found" });
  });
});

describe("DELETE /api/sessions", () => {
  it("revokes every session but the current one", async () => {
    const devices = await Promise.all([1, 2, 3].map(async () => {
      const d = owner.device();
      await d.login();
      return d;
    }));
    expect((await owner.api("DELETE", "/api/sessions")).status).toBe(204);
    for (const d of devices) expect((await d.api("GET", "/api/sessions")).status).toBe(401);
    const { sessions } = await json<Sessions>(await owner.api("GET", "/api/sessions"));
    expect(sessions).toEqual([expect.objectContaining({ id: owner.sessionId, current: true })]);
  });
});

describe("GET /api/activity", () => {
  beforeAll(async () => {
    // Entries of its own, whether or not the blocks above ran: logins, and a revoked session.
    for (const deviceName of ["activity phone", "activity tablet", "activity desktop"]) {
      const device = owner.device();
      expect((await device.login({ deviceName })).status).toBe(200);
    }
    const revoked = owner.device();
    expect((await revoked.login({ deviceName: "activity old phone" })).status).toBe(200);
    expect((await owner.api("DELETE", `/api/sessions/${revoked.sessionId}`)).status).toBe(204);
  });

  it("returns entries newest first and pages with before/limit", async () => {
    const all = await json<{ entries: Array<{ id: number; type: string; at: number }> }>(await owner.api("GET", "/api/activity?limit=100"));
    expect(all.entries.length).toBeGreaterThan(5);
    const ids = all.entries.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(all.entries.map((e) => e.type)).toEqual(expect.arrayContaining(["claimed", "login", "session_revoked"]));

    const first = await json<{ entries: Array<{ id: number }> }>(await owner.api("GET", "/api/activity?limit=2"));
    expect(first.entries.map((e) => e.id)).toEqual(ids.slice(0, 2));
    const second = await json<{ entries: Array<{ id: number }> }>(
      await owner.api("GET", `/api/activity?limit=2&before=${first.entries[1]!.id}`),
    );
    expect(second.entries.map((e) => e.id)).toEqual(ids.slice(2, 4));
  });

  it("refuses a bad limit or cursor with 400 invalid_request", async () => {
    for (const q of ["limit=0", "limit=101", "limit=abc", "before=-1", "before=x"]) {
      const res = await owner.api("GET", `/api/activity?${q}`);
      expect(res.status, q).toBe(400);
      expect(await json(res)).toMatchObject({ error: "invalid_request", issues: expect.any(Array) });
    }
  });
});
