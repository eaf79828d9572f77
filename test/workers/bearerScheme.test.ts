// `Authorization: Bearer` on /api: the scheme name is case-insensitive (RFC 7235
// §2.1). The live channel takes its token in a subprotocol instead (test/workers/live.test.ts).
import { beforeAll, describe, expect, it } from "vitest";
import type { OwnerClient } from "../helpers/owner";
import { claimedOwner } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

describe("Authorization: Bearer", () => {
  it("takes the scheme name in any case (RFC 7235), and more than one space after it", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      const res = await owner.request("GET", "/api/sessions", { headers: { authorization: `${scheme} ${owner.accessToken}` } });
      expect(res.status, scheme).toBe(200);
    }
    const spaced = await owner.request("GET", "/api/sessions", { headers: { authorization: `Bearer   ${owner.accessToken}` } });
    expect(spaced.status).toBe(200);
  });

  it("still refuses other schemes and a missing token", async () => {
    for (const header of [`Basic ${owner.accessToken}`, `Bearer${owner.accessToken}`, "Bearer", "Bearer ", `Token ${owner.accessToken}`]) {
      const res = await owner.request("GET", "/api/sessions", { headers: { authorization: header } });
      expect(res.status, header).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
    }
  });
});
