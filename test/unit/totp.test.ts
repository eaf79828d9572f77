import { describe, expect, it } from "vitest";
import { TOTP } from "otpauth";
import {
  BACKUP_CODE_ALPHABET,
  BACKUP_CODE_BITS,
  backupCodeFromBytes,
  normalizeBackupCode,
} from "../../src/domain/backupCodes";
import {
  acceptTotpStep,
  checkLockout,
  findTotpSteps,
  lockoutSeconds,
  pickAcceptableStep,
  registerFailure,
  totpCodeAt,
  totpCodeForStep,
  totpKeyUri,
  totpSecretToBase32,
  totpStepAt,
  UNLOCKED,
  type LockoutState,
} from "../../src/domain/totp";

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
const RFC_SEED = new TextEncoder().encode("12345678901234567890");
const RFC_SHA1_VECTORS: Array<[timeS: number, code: string]> = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("TOTP codes (RFC 6238)", () => {
  it.each(RFC_SHA1_VECTORS)("matches Appendix B for SHA-1 at T=%i", (timeS, code) => {
    expect(totpCodeAt(RFC_SEED, timeS * 1000, { digits: 8 })).toBe(code);
    expect(findTotpSteps(RFC_SEED, code, timeS * 1000, { digits: 8 })).toEqual([Math.floor(timeS / 30)]);
  });

  it("uses 30 s steps counted from the epoch", () => {
    expect(totpStepAt(0)).toBe(0);
    expect(totpStepAt(29_999)).toBe(0);
    expect(totpStepAt(30_000)).toBe(1);
    expect(totpStepAt(59_000)).toBe(1);
  });

  it("computes the same 6-digit codes as otpauth's own validator", () => {
    const nowMs = 1_700_000_012_345;
    const code = totpCodeAt(RFC_SEED, nowMs);
    expect(code).toMatch(/^\d{6}$/);
    const totp = new TOTP({ secret: totpSecretToBase32(RFC_SEED), algorithm: "SHA1", digits: 6, period: 30 });
    expect(totp.generate({ timestamp: nowMs })).toBe(code);
    expect(totp.validate({ token: code, timestamp: nowMs, window: 1 })).toBe(0);
  });
});

describe("the accepted window", () => {
  const nowMs = 1_700_000_000_000;
  const now = totpStepAt(nowMs);
  const codeAt = (delta: number) => totpCodeForStep(RFC_SEED, now + delta);

  it.each([-1, 0, 1])("accepts the code of step %i relative to now", (delta) => {
    expect(findTotpSteps(RFC_SEED, codeAt(delta), nowMs)).toContain(now + delta);
  });

  it.each([-2, 2])("refuses the code of step %i relative to now", (delta) => {
    expect(findTotpSteps(RFC_SEED, codeAt(delta), nowMs)).not.toContain(now + delta);
  });

  it("accepts at the very first and last millisecond of a step", () => {
    const stepStartMs = now * 30_000;
    expect(findTotpSteps(RFC_SEED, codeAt(0), stepStartMs)).toContain(now);
    expect(findTotpSteps(RFC_SEED, codeAt(0), stepStartMs + 29_999)).toContain(now);
    // One step later the same code is at -1: still in; two steps later it is out.
    expect(findTotpSteps(RFC_SEED, codeAt(0), stepStartMs + 30_000)).toContain(now);
    expect(findTotpSteps(RFC_SEED, codeAt(0), stepStartMs + 60_000)).not.toContain(now);
  });

  it("refuses anything that is not 6 digits", () => {
    for (const code of ["", "12345", "1234567", "12345a", " 123456", codeAt(0) + " "]) {
      expect(findTotpSteps(RFC_SEED, code, nowMs)).toEqual([]);
    }
  });
});

describe("replay protection", () => {
  it("accepts the first step ever", () => {
    expect(acceptTotpStep(null, 0)).toBe(true);
    expect(acceptTotpStep(null, 56_666_666)).toBe(true);
  });

  it("accepts a step only if it is later than the last accepted one", () => {
    expect(acceptTotpStep(100, 101)).toBe(true);
    expect(acceptTotpStep(100, 100)).toBe(false);
    expect(acceptTotpStep(100, 99)).toBe(false);
  });

  it("picks the first matching step that is still acceptable", () => {
    expect(pickAcceptableStep(null, [5, 6])).toBe(5);
    expect(pickAcceptableStep(5, [5, 6])).toBe(6);
    expect(pickAcceptableStep(6, [5, 6])).toBeNull();
    expect(pickAcceptableStep(null, [])).toBeNull();
  });
});

describe("lockout", () => {
  const t0 = 1_700_000_000_000;

  function fail(state: LockoutState, times: number, nowMs: number) {
    let next = state;
    const lockedFor: Array<number | null> = [];
    for (let i = 0; i < times; i++) {
      const r = registerFailure(next, nowMs);
      next = r.next;
      lockedFor.push(r.lockedForS);
    }
    return { next, lockedFor };
  }

  it("locks for 30 s at the fifth consecutive failure, not before", () => {
    const { next, lockedFor } = fail(UNLOCKED, 5, t0);
    expect(lockedFor).toEqual([null, null, null, null, 30]);
    expect(checkLockout(next, t0)).toEqual({ locked: true, retryAfterS: 30 });
    expect(checkLockout(next, t0 + 29_001)).toEqual({ locked: true, retryAfterS: 1 });
    expect(checkLockout(next, t0 + 30_000)).toEqual({ locked: false });
  });

  it("doubles the lockout with each further failure, up to 3600 s", () => {
    let state = fail(UNLOCKED, 5, t0).next;
    const lengths: number[] = [];
    let nowMs = t0;
    for (let i = 0; i < 10; i++) {
      nowMs = state.lockedUntilMs; // the previous lockout has just passed
      const r = registerFailure(state, nowMs);
      state = r.next;
      lengths.push(r.lockedForS!);
    }
    expect(lengths).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]);
    expect(checkLockout(state, nowMs)).toEqual({ locked: true, retryAfterS: 3600 });
  });

  it("caps huge lockout counts without overflowing", () => {
    expect(lockoutSeconds(1)).toBe(30);
    expect(lockoutSeconds(2)).toBe(60);
    expect(lockoutSeconds(1_000_000)).toBe(3600);
  });

  it("starts from scratch after a success (the caller stores UNLOCKED)", () => {
    expect(fail(UNLOCKED, 4, t0).lockedFor.every((x) => x === null)).toBe(true);
    expect(checkLockout(UNLOCKED, t0)).toEqual({ locked: false });
  });
});

describe("key URI", () => {
  it("carries the issuer in the label and as a parameter", () => {
    const uri = totpKeyUri({ secretBase32: "JBSWY3DPEHPK3PXP", issuer: "id.example.org", account: "owner" });
    expect(uri).toBe(
      "otpauth://totp/id.example.org:owner?issuer=id.example.org&secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30",
    );
  });

  it("refuses a colon inside the issuer or the account", () => {
    expect(() => totpKeyUri({ secretBase32: "JBSWY3DPEHPK3PXP", issuer: "localhost:8787", account: "owner" })).toThrow();
  });
});

describe("backup codes", () => {
  it("uses 32 symbols without I, L, O or U: 10 characters are 50 bits", () => {
    expect(new Set(BACKUP_CODE_ALPHABET).size).toBe(32);
    expect(BACKUP_CODE_ALPHABET).not.toMatch(/[ILOU]/);
    expect(Math.log2(BACKUP_CODE_ALPHABET.length) * 10).toBe(BACKUP_CODE_BITS);
  });

  it("maps every byte value to a symbol without bias", () => {
    const counts = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      const code = backupCodeFromBytes(new Uint8Array(10).fill(b));
      counts.set(code[0]!, (counts.get(code[0]!) ?? 0) + 1);
    }
    expect([...counts.values()].every((n) => n === 8)).toBe(true);
  });

  it("normalizes case, spaces, dashes and look-alike letters", () => {
    const code = "7KQ2M-XW0A1";
    expect(normalizeBackupCode(code)).toBe("7KQ2MXW0A1");
    expect(normalizeBackupCode("7kq2m xw0a1")).toBe("7KQ2MXW0A1");
    expect(normalizeBackupCode(" 7kq2-mxwoa-l ".replace(/-/g, " "))).toBe("7KQ2MXW0A1");
    expect(normalizeBackupCode("7KQ2MXWOAI")).toBe("7KQ2MXW0A1");
  });

  it("refuses what cannot be a backup code", () => {
    expect(normalizeBackupCode("")).toBeNull();
    expect(normalizeBackupCode("7KQ2MXW0A")).toBeNull();
    expect(normalizeBackupCode("7KQ2MXW0A11")).toBeNull();
    expect(normalizeBackupCode("7KQ2MXW0AU")).toBeNull();
    expect(normalizeBackupCode("7KQ2MXW0A!")).toBeNull();
  });
});
