import { describe, expect, it } from "vitest";
import {
  applyRotation,
  classifyPresented,
  decideRotation,
  rotate,
  type PresentedToken,
  type RotationPolicy,
  type SessionTokenState,
} from "../../src/domain/rotation";

const policy: RotationPolicy = { graceMs: 10_000, idleTtlMs: 100 * 86_400_000, maxTtlMs: 365 * 86_400_000 };
const T0 = 1_700_000_000_000;

function fresh(overrides: Partial<SessionTokenState> = {}): SessionTokenState {
  return {
    currentHash: "h1",
    previousHash: null,
    rotatedAtMs: null,
    createdAtMs: T0,
    lastRefreshAtMs: T0,
    revoked: false,
    ...overrides,
  };
}

/** h1 presented at T0+1s: h2 is current, h1 previous. */
const afterOneRotation = () => rotate(fresh(), "h1", "h2", T0 + 1000, policy).next;

describe("classifyPresented", () => {
  it("tells current, previous and superseded tokens apart", () => {
    const s = afterOneRotation();
    expect(classifyPresented(s, "h2")).toBe("current");
    expect(classifyPresented(s, "h1")).toBe("previous");
    expect(classifyPresented(s, "h0")).toBe("superseded");
  });
});

describe("rule 1: presenting the current token rotates", () => {
  it("issues a successor and makes the presented token the previous one", () => {
    const { outcome, next } = rotate(fresh(), "h1", "h2", T0 + 1000, policy);
    expect(outcome).toEqual({ kind: "rotate", rule: 1 });
    expect(next).toMatchObject({ currentHash: "h2", previousHash: "h1", rotatedAtMs: T0 + 1000, lastRefreshAtMs: T0 + 1000 });
  });

  it("forgets the token before the previous one", () => {
    const s = rotate(afterOneRotation(), "h2", "h3", T0 + 2000, policy).next;
    expect(s.previousHash).toBe("h2");
    expect(classifyPresented(s, "h1")).toBe("superseded");
  });
});

describe("rule 2: the previous token within the grace period returns the same successor", () => {
  it.each([0, 1, 5_000, 10_000])("replays %i ms after rotation, minting nothing", (delta) => {
    const s = afterOneRotation();
    const { outcome, next } = rotate(s, "h1", "unused", T0 + 1000 + delta, policy);
    expect(outcome).toEqual({ kind: "replay" });
    expect(next.currentHash).toBe("h2");
    expect(next.previousHash).toBe("h1");
  });
});

describe("rule 3: the previous token after the grace period, successor unused, is a lost response", () => {
  it("rotates again; the unused successor dies and the previous stays previous", () => {
    const s = afterOneRotation();
    const { outcome, next } = rotate(s, "h1", "h3", T0 + 1000 + 10_001, policy);
    expect(outcome).toEqual({ kind: "rotate", rule: 3 });
    expect(next).toMatchObject({ currentHash: "h3", previousHash: "h1", rotatedAtMs: T0 + 11_001 });
    expect(classifyPresented(next, "h2")).toBe("superseded");
  });

  it("restarts the grace period at the new rotation", () => {
    const s = rotate(afterOneRotation(), "h1", "h3", T0 + 20_000, policy).next;
    expect(rotate(s, "h1", "x", T0 + 25_000, policy).outcome).toEqual({ kind: "replay" });
  });
});

describe("rule 4: any other superseded token is theft", () => {
  it("treats the previous token after its successor was used as theft", () => {
    const s = rotate(afterOneRotation(), "h2", "h3", T0 + 2000, policy).next;
    const { outcome, next } = rotate(s, "h1", "x", T0 + 2001, policy);
    expect(outcome).toEqual({ kind: "theft" });
    expect(next.revoked).toBe(true);
  });

  it("treats a successor that died under rule 3 as theft", () => {
    const s = rotate(afterOneRotation(), "h1", "h3", T0 + 20_000, policy).next;
    expect(rotate(s, "h2", "x", T0 + 20_001, policy).outcome).toEqual({ kind: "theft" });
  });

  it("does not forgive theft inside the grace period", () => {
    const s = rotate(afterOneRotation(), "h2", "h3", T0 + 1001, policy).next;
    expect(rotate(s, "h1", "x", T0 + 1002, policy).outcome).toEqual({ kind: "theft" });
  });
});

describe("revoked sessions", () => {
  it.each<PresentedToken>(["current", "previous", "superseded"])("refuse a %s token", (presented) => {
    const s = { ...afterOneRotation(), revoked: true };
    expect(decideRotation(s, presented, T0 + 2000, policy)).toEqual({ kind: "revoked" });
  });
});

describe("rule 5: lifetimes", () => {
  it("expires a session idle for REFRESH_IDLE_TTL_S", () => {
    const s = fresh();
    expect(decideRotation(s, "current", T0 + policy.idleTtlMs - 1, policy).kind).toBe("rotate");
    expect(decideRotation(s, "current", T0 + policy.idleTtlMs, policy)).toEqual({ kind: "expired", reason: "idle" });
  });

  it("expires a session after SESSION_MAX_TTL_S even when it is used every day", () => {
    let s = fresh();
    let now = T0;
    let n = 1;
    while (now + 86_400_000 < T0 + policy.maxTtlMs) {
      now += 86_400_000;
      s = rotate(s, s.currentHash, `h${++n}`, now, policy).next;
    }
    expect(decideRotation(s, "current", T0 + policy.maxTtlMs, policy)).toEqual({ kind: "expired", reason: "absolute" });
  });

  it("reports expiry rather than theft for an old token of an expired session", () => {
    const s = rotate(afterOneRotation(), "h2", "h3", T0 + 2000, policy).next;
    expect(decideRotation(s, "superseded", T0 + 2000 + policy.idleTtlMs, policy).kind).toBe("expired");
  });

  it("leaves state unchanged for outcomes that do not rotate", () => {
    const s = fresh({ revoked: true });
    expect(applyRotation(s, { kind: "revoked" }, "x", T0)).toBe(s);
    expect(applyRotation(s, { kind: "expired", reason: "idle" }, "x", T0)).toBe(s);
  });
});

describe("exhaustive: every (state, presented token, time) combination", () => {
  // From a grid of reachable states, every input leads to exactly one outcome, and
  // the invariants hold: at most one successor is current, previous is never current,
  // and nothing but rule 1 or 3 changes the current hash.
  const states: SessionTokenState[] = [fresh(), afterOneRotation(), rotate(afterOneRotation(), "h1", "h3", T0 + 20_000, policy).next];
  const times = [T0 + 1000, T0 + 1500, T0 + 11_000, T0 + 11_001, T0 + 30_000];
  const presented = ["h1", "h2", "h3", "h0"];
  for (const state of states) {
    for (const now of times) {
      // Only times at or after the state's last rotation are reachable.
      if (now < (state.rotatedAtMs ?? state.createdAtMs)) continue;
      for (const hash of presented) {
        it(`state ${state.currentHash}/${state.previousHash} @${now - T0} presenting ${hash}`, () => {
          const { outcome, next } = rotate(state, hash, "new", now, policy);
          expect(next.previousHash).not.toBe(next.currentHash);
          if (outcome.kind === "rotate") {
            expect(next.currentHash).toBe("new");
          } else {
            expect(next.currentHash).toBe(state.currentHash);
          }
          if (hash === state.currentHash) expect(outcome).toEqual({ kind: "rotate", rule: 1 });
          else if (hash === state.previousHash) expect(["replay", "rotate"]).toContain(outcome.kind);
          else expect(outcome.kind).toBe("theft");
        });
      }
    }
  }
});
