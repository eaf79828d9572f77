// The contract check that the workers test helpers run on every response
// (test/helpers/contract.ts), and the OpenAPI document the Worker serves.
import { describe, expect, it } from "vitest";
import { checkResponseContract, contractChecked, ContractViolation } from "../helpers/contract";
import { claimedOwner, selfFetch, TEST_ORIGIN } from "../helpers/workers";

const jsonResponse = (status: number, body: unknown, type = "application/json") =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
const check = (method: string, path: string, response: Response) =>
  checkResponseContract(new Request(TEST_ORIGIN + path, { method }), response);

describe("the contract check on responses", () => {
  it("accepts what the route table promises", async () => {
    await check("POST", "/messages", jsonResponse(202, { id: 7 }));
    await check("DELETE", "/api/sessions/abc", new Response(null, { status: 204 }));
    await check("POST", "/auth/login", jsonResponse(401, { error: "mfa_required", message: "Send a code." }));
    await check("GET", "/api/escrow", jsonResponse(500, { error: "internal_error", message: "A bug." }));
  });

  it("refuses a body its response schema does not accept", async () => {
    await expect(check("GET", "/.well-known/indienet", jsonResponse(200, { protocol: "indienet/2" }))).rejects.toThrow(
      ContractViolation,
    );
    await expect(check("GET", "/api/outbox/abc", jsonResponse(200, { id: "abc", status: "lost", attempts: 1 }))).rejects.toThrow(
      /response schema/,
    );
  });

  it("refuses a status the route does not declare", async () => {
    await expect(check("GET", "/api/sessions", jsonResponse(201, { sessions: [] }))).rejects.toThrow(/declares only 200/);
    await expect(check("DELETE", "/api/messages/3", jsonResponse(200, {}))).rejects.toThrow(/declares only 204/);
  });

  it("refuses the wrong media type", async () => {
    await expect(check("GET", "/.well-known/webfinger", jsonResponse(200, { subject: "acct:o@h", links: [] }, "text/plain"))).rejects.toThrow(
      /content type/,
    );
  });

  it("refuses an error code that is not the protocol's, travels with another status, or is not the route's", async () => {
    await expect(check("POST", "/auth/login", jsonResponse(400, { error: "bad_thing", message: "?" }))).rejects.toThrow(
      /not an error response/,
    );
    await expect(check("POST", "/auth/login", jsonResponse(400, { error: "not_found", message: "?" }))).rejects.toThrow(
      /travels with 404/,
    );
    await expect(check("POST", "/auth/challenge", jsonResponse(409, { error: "version_conflict", message: "?" }))).rejects.toThrow(
      /does not declare "version_conflict"/,
    );
  });

  it("makes a checked fetcher throw on a response outside the contract", async () => {
    const broken = contractChecked(async () => jsonResponse(200, { sessions: [{ id: 1 }] }));
    await expect(broken(new Request(`${TEST_ORIGIN}/api/sessions`))).rejects.toThrow(ContractViolation);
    // The owners of the workers tests talk through the checked fetcher.
    const owner = await claimedOwner();
    expect(owner.fetcher).toBe(selfFetch);
    expect((await owner.api("GET", "/api/sessions")).status).toBe(200);
  });
});

describe("GET /openapi.json", () => {
  it("serves the OpenAPI 3.1 document built from the route table, as JSON", async () => {
    const res = await selfFetch(new Request(`${TEST_ORIGIN}/openapi.json`));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const document = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths["/auth/login"]!)).toEqual(["post"]);
    expect(document.paths["/api/sessions/{id}"]).toHaveProperty("delete");
  });
});
