import { describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM helper shared with the dev and deploy scripts
import { generateSetupCode } from "../../scripts/lib/secrets.mjs";
import { comparableSetupCodes, estimateSetupCodeBits, isSetupCodeStrongEnough, SETUP_CODE_MIN_BITS } from "../../src/domain/setupCode";
import { TEST_SETUP_CODE } from "../helpers/constants";

describe("estimateSetupCodeBits", () => {
  it("is characters x log2(pool of the classes used), ignoring dashes and whitespace", () => {
    expect(estimateSetupCodeBits("")).toBe(0);
    expect(estimateSetupCodeBits("- \t\n-")).toBe(0);
    expect(estimateSetupCodeBits("0123456789")).toBeCloseTo(10 * Math.log2(10));
    expect(estimateSetupCodeBits("abcd")).toBeCloseTo(4 * Math.log2(26));
    expect(estimateSetupCodeBits("ABCD-abcd")).toBeCloseTo(8 * Math.log2(52));
    expect(estimateSetupCodeBits("AB12 ab")).toBeCloseTo(6 * Math.log2(62));
    expect(estimateSetupCodeBits("a!")).toBeCloseTo(2 * Math.log2(58));
    expect(estimateSetupCodeBits("aA1_")).toBeCloseTo(4 * Math.log2(94));
    // Any character outside the three classes counts as the 32-symbol "other" pool.
    expect(estimateSetupCodeBits("éé")).toBeCloseTo(2 * Math.log2(32));
    expect(estimateSetupCodeBits("😀")).toBeCloseTo(Math.log2(32));
  });

  it("passes every code the generator makes (32 characters of A-Z and 2-9)", () => {
    for (let i = 0; i < 200; i++) {
      const code: string = generateSetupCode();
      expect(isSetupCodeStrongEnough(code), code).toBe(true);
      expect(estimateSetupCodeBits(code)).toBeGreaterThanOrEqual(32 * Math.log2(26));
    }
  });

  it("passes the tests' setup code", () => {
    expect(isSetupCodeStrongEnough(TEST_SETUP_CODE)).toBe(true);
  });

  it(`refuses codes under ${SETUP_CODE_MIN_BITS} bits`, () => {
    for (const weak of [
      "x",
      "hunter2",
      "correct-horse-battery-staple", // 25 lowercase: 117.5 bits
      "1".repeat(38), // 38 digits: 126.2 bits
      "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ-AB", // 26 uppercase: 122.2 bits
      "Tr0ub4dor&3", // 11 of 94: 72.1 bits
    ]) {
      expect(isSetupCodeStrongEnough(weak), weak).toBe(false);
    }
    // Just under and just over the line, one character apart.
    expect(isSetupCodeStrongEnough("a".repeat(27))).toBe(false); // 126.9 bits
    expect(isSetupCodeStrongEnough("a".repeat(28))).toBe(true); // 131.6 bits
    expect(isSetupCodeStrongEnough("1".repeat(39))).toBe(true); // 129.6 bits
  });
});

describe("comparableSetupCodes", () => {
  it("drops the grouping and upper-cases what was typed when the configured code has no lower-case letter", () => {
    const configured = "ABCD-EFGH-2345";
    for (const typed of ["abcd-efgh-2345", "ABCDEFGH2345", " abcd efgh\t2345\n", "aBcD-eFgH-2345"]) {
      expect(comparableSetupCodes(typed, configured)).toEqual({ presented: "ABCDEFGH2345", configured: "ABCDEFGH2345" });
    }
    expect(comparableSetupCodes("ABCD-EFGH-2346", configured).presented).not.toBe("ABCDEFGH2345");
  });

  it("keeps the case of both when the configured code has lower-case letters", () => {
    expect(comparableSetupCodes("abcd-EFGH", "aBcD-EfGh")).toEqual({ presented: "abcdEFGH", configured: "aBcDEfGh" });
    expect(comparableSetupCodes("aBcD EfGh", "aBcD-EfGh")).toEqual({ presented: "aBcDEfGh", configured: "aBcDEfGh" });
  });

  it("drops exactly the characters the strength estimate ignores, Unicode whitespace included", () => {
    const padded = "ABCD\u00a0EFGH\u3000-2345\u2003";
    expect(comparableSetupCodes(padded, "ABCD-EFGH-2345")).toEqual({ presented: "ABCDEFGH2345", configured: "ABCDEFGH2345" });
    expect(estimateSetupCodeBits(padded)).toBe(estimateSetupCodeBits("ABCDEFGH2345"));
  });

  it("upper-cases ASCII letters only", () => {
    expect(comparableSetupCodes("straße", "STRASSE").presented).toBe("STRAßE");
  });
});
