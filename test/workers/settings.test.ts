// Worker variables the server cannot use are refused loudly: every request answers
// 500 with an internal_error log line, rather than the server running with them.
import { describe, expect, it } from "vitest";
import { json, OwnerClient } from "../helpers/owner";
import { claimedOwner, fetchWithVars, TEST_ORIGIN } from "../helpers/workers";
import { ACCESS_TOKEN_TTL_MIN_S } from "../../src/settings";

const discovery = (vars: Record<string, string>) =>
  fetchWithVars(vars)(new Request(`${TEST_ORIGIN}/.well-known/indienet`));

describe("ACCESS_TOKEN_TTL_S", () => {
  it.each(["0", "30", "59", "60", "119"])("refuses %s s, under the floor the clients' 60 s refresh margin needs", async (value) => {
    const res = await discovery({ ACCESS_TOKEN_TTL_S: value });
    expect(res.status).toBe(500);
    expect(await json(res)).toMatchObject({ error: "internal_error" });
  });

  it("accepts the floor itself, and tokens then live that long", async () => {
    expect(ACCESS_TOKEN_TTL_MIN_S).toBe(120);
    const res = await discovery({ ACCESS_TOKEN_TTL_S: String(ACCESS_TOKEN_TTL_MIN_S) });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const owner = await claimedOwner();
    const device = new OwnerClient(fetchWithVars({ ACCESS_TOKEN_TTL_S: "120" }), TEST_ORIGIN, owner.keys);
    const login = await device.login();
    expect(login.status).toBe(200);
    expect(await json(login)).toMatchObject({ expiresIn: 120 });
  });
});

describe("INDIEAUTH_ACCESS_TOKEN_TTL_S", () => {
  it.each(["0", "59", "31536001", "a week"])("refuses %s", async (value) => {
    const res = await discovery({ INDIEAUTH_ACCESS_TOKEN_TTL_S: value });
    expect(res.status).toBe(500);
    expect(await json(res)).toMatchObject({ error: "internal_error" });
  });

  it("accepts a minute to a year", async () => {
    for (const value of ["60", "3600", "31536000"]) {
      const res = await discovery({ INDIEAUTH_ACCESS_TOKEN_TTL_S: value });
      expect(res.status, value).toBe(200);
      await res.arrayBuffer();
    }
  });
});
