import { describe, expect, it } from "vitest";
import { errorCodeSchema } from "../../src/schemas/errors";
import { errorFrom } from "../http";

const errorResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("errorFrom: the server's errors, read with the protocol's schema", () => {
  it("keeps every protocol code, its message, the status and Retry-After", async () => {
    for (const code of errorCodeSchema.options) {
      const err = await errorFrom(errorResponse(429, { error: code, message: "Wait." }, { "retry-after": "30" }));
      expect(err.code).toBe(code);
      expect(err.message).toBe("Wait.");
      expect(err.status).toBe(429);
      expect(err.retryAfterS).toBe(30);
    }
  });

  it("passes validation issues on", async () => {
    const issues = [{ path: ["assertion"], message: "Required" }];
    const err = await errorFrom(errorResponse(400, { error: "invalid_request", message: "Bad.", issues }));
    expect(err.details.issues).toEqual(issues);
  });

  it("answers bad_response for a code the protocol does not have, or no error body", async () => {
    expect((await errorFrom(errorResponse(400, { error: "teapot", message: "?" }))).code).toBe("bad_response");
    expect((await errorFrom(new Response("<html>", { status: 502 }))).code).toBe("bad_response");
  });
});
