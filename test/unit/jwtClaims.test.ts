import { describe, expect, it } from "vitest";
import { checkClaims, type ClaimRules } from "../../src/domain/jwtClaims";

const NOW = 1_800_000_000;
const ORIGIN = "https://id.example.test";
const rules: ClaimRules = { nowS: NOW, toleranceS: 0, audience: ORIGIN, issuer: ORIGIN, subject: "owner", required: ["sid"] };
const good = { iss: ORIGIN, aud: ORIGIN, sub: "owner", sid: "s", iat: NOW - 10, exp: NOW + 10 };
const bytes = (value: unknown) =>
  value instanceof Uint8Array ? value : new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

describe("checkClaims (the claims of a verified JWS)", () => {
  it("returns the payload when every rule holds", () => {
    expect(checkClaims(bytes(good), rules)).toEqual(good);
  });

  it.each([
    ["not JSON", "{", "payload is not JSON"],
    ["not UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), "payload is not JSON"],
    ["a JSON array", [good], "payload is not a JSON object"],
    ["JSON null", null, "payload is not a JSON object"],
    ["no iat", { ...good, iat: undefined }, "missing claim iat"],
    ["no exp", { ...good, exp: undefined }, "missing claim exp"],
    ["no required claim", { ...good, sid: undefined }, "missing claim sid"],
    ["iat as a string", { ...good, iat: String(NOW) }, "claim iat is not a number"],
    ["exp as a string", { ...good, exp: String(NOW + 10) }, "claim exp is not a number"],
    ["nbf as a string", { ...good, nbf: "0" }, "claim nbf is not a number"],
    ["exp now", { ...good, exp: NOW }, "expired"],
    ["exp past", { ...good, exp: NOW - 1 }, "expired"],
    ["nbf in the future", { ...good, nbf: NOW + 1 }, "not yet valid (nbf)"],
    ["another aud", { ...good, aud: "https://other.example" }, "aud must be exactly ORIGIN"],
    ["an aud array holding ORIGIN", { ...good, aud: [ORIGIN] }, "aud must be exactly ORIGIN"],
    ["no aud", { ...good, aud: undefined }, "aud must be exactly ORIGIN"],
    ["another iss", { ...good, iss: "https://other.example" }, "iss must be ORIGIN"],
    ["another sub", { ...good, sub: "someone" }, "unexpected sub"],
  ])("refuses %s", (_name, payload, reason) => {
    expect(checkClaims(bytes(payload), rules)).toBe(reason);
  });

  it("allows the tolerance on exp and nbf, and no more", () => {
    const tolerant = { ...rules, toleranceS: 60 };
    expect(checkClaims(bytes({ ...good, exp: NOW - 59, nbf: NOW + 60 }), tolerant)).toMatchObject({ sid: "s" });
    expect(checkClaims(bytes({ ...good, exp: NOW - 60 }), tolerant)).toBe("expired");
    expect(checkClaims(bytes({ ...good, nbf: NOW + 61 }), tolerant)).toBe("not yet valid (nbf)");
  });

  it("checks iss and sub only when the rules name them", () => {
    const loose = { nowS: NOW, toleranceS: 0, audience: ORIGIN, required: [] };
    expect(checkClaims(bytes({ ...good, iss: undefined, sub: "x" }), loose)).toMatchObject({ sub: "x" });
  });
});
