import { describe, expect, it } from "vitest";
import { opensWithKeys } from "../../src/domain/escrowBlob";

const general = (...kids: string[]) => JSON.stringify({ recipients: kids.map((kid) => ({ header: { kid } })) });

describe("opensWithKeys (what the server reads of an escrow blob)", () => {
  it("is true when any recipient is not the password", () => {
    expect(opensWithKeys(general("password", "passkey:abc"))).toBe(true);
    expect(opensWithKeys(general("password", "recovery:xyz"))).toBe(true);
    expect(opensWithKeys(general("passkey:abc"))).toBe(true);
  });

  it("is false for the password alone, a format 1 blob, or what is not a general JWE", () => {
    expect(opensWithKeys(general("password"))).toBe(false);
    expect(opensWithKeys(JSON.stringify({ protected: "e30", encrypted_key: "", iv: "", ciphertext: "", tag: "" }))).toBe(false);
    expect(opensWithKeys("escrow-blob-v1")).toBe(false);
    expect(opensWithKeys("")).toBe(false);
  });

  it("fails closed: a recipients member it cannot read as password recipients counts as opening with keys", () => {
    expect(opensWithKeys(JSON.stringify({ recipients: "x" }))).toBe(true);
    expect(opensWithKeys(JSON.stringify({ recipients: [{ header: { kid: "password" } }, {}] }))).toBe(true);
    expect(opensWithKeys(JSON.stringify({ recipients: [{ header: { kid: "password" } }, null] }))).toBe(true);
    expect(opensWithKeys(JSON.stringify({ unprotected: { kid: "passkey:abc" }, recipients: [{ header: {} }] }))).toBe(true);
    expect(opensWithKeys(JSON.stringify({ recipients: [] }))).toBe(false);
  });
});
