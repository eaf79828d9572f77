/** domain/stepUp.ts: which logins count as a recent two-factor login (docs/api.md §4, §12, §13). */
import { describe, expect, it } from "vitest";
import { checkStepUp, hasSecondFactor } from "../../src/domain/stepUp";

const nowMs = 1_800_000_000_000;
const fresh = Math.floor(nowMs / 1000) - 10;

describe("step-up", () => {
  it("counts a TOTP or backup code, a passkey and a completed recovery as a second factor, a bare signature not", () => {
    expect(hasSecondFactor(["pop", "otp"])).toBe(true);
    expect(hasSecondFactor(["pop", "hwk"])).toBe(true);
    expect(hasSecondFactor(["pop", "swk"])).toBe(true);
    expect(hasSecondFactor(["pop", "rcv"])).toBe(true);
    expect(hasSecondFactor(["pop"])).toBe(false);
  });

  it("accepts a fresh recovery login while 2FA is on, and refuses a stale one", () => {
    const context = { nowMs, maxAgeS: 300, mfaEnabled: true };
    expect(checkStepUp({ authTimeS: fresh, amr: ["pop", "rcv"] }, context)).toEqual({ ok: true });
    expect(checkStepUp({ authTimeS: fresh, amr: ["pop"] }, context)).toEqual({ ok: false, reason: "otp_missing" });
    expect(checkStepUp({ authTimeS: fresh - 600, amr: ["pop", "rcv"] }, context)).toEqual({ ok: false, reason: "stale" });
  });
});
