import { describe, expect, it } from "vitest";
import { json } from "../helpers/owner";
import { claimedOwner } from "../helpers/workers";

describe("smoke", () => {
  it("claims, logs in, refreshes and lists sessions", async () => {
    const owner = await claimedOwner();
    const sessions = await owner.api("GET", "/api/sessions");
    expect(sessions.status).toBe(200);
    const login = await owner.device().login();
    expect(login.status).toBe(200);
    const r = await owner.refresh();
    expect(r.status).toBe(200);
    expect(await json(await owner.api("GET", "/api/sessions"))).toMatchObject({ sessions: expect.any(Array) });
  });
});
