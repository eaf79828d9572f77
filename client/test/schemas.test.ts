// The client's own response schemas are zod/mini, which loads no locale: each module
// imports src/schemas/zodLocale so its issues read as zod's English messages, the
// ones the SDK reports (IndieError.issues). This file imports nothing else, so a
// missing import shows here as "Invalid input".
import { describe, expect, it } from "vitest";
import { passkeySchema } from "../passkeySchemas";
import { recoveryStartedSchema } from "../recovery/status";

describe("client response schemas", () => {
  it("say what is wrong in English", () => {
    expect(recoveryStartedSchema.safeParse({}).error?.issues).toEqual([
      { code: "invalid_type", expected: "number", path: ["readyAt"], message: "Invalid input: expected number, received undefined" },
    ]);
    expect(passkeySchema.safeParse({ id: "a=", name: "n", createdAt: 1, lastUsedAt: null, backedUp: false, prf: false }).error?.issues).toEqual([
      {
        origin: "string",
        code: "invalid_format",
        format: "regex",
        pattern: "/^[A-Za-z0-9_-]*$/",
        path: ["id"],
        message: "Invalid string: must match pattern /^[A-Za-z0-9_-]*$/",
      },
    ]);
  });
});
