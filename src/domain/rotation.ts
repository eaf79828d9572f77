/**
 * Refresh-token rotation with theft detection (docs/api.md §5), as a pure state
 * machine. The Durable Object loads a session's state, asks `rotate()` what a
 * presented token means, and persists `next` in the same storage transaction.
 *
 * Why the previous token stays usable for a while (rules 2 and 3): a refresh
 * response can be lost (the tab closed, the network dropped) or two tabs can
 * present the same token at once. Treating either as theft would log the owner out
 * for a flaky network. So the previous token is honoured:
 *  - within the grace period it returns the *same* successor (two tabs, retries);
 *  - after it, as long as the successor has never been presented, the response was
 *    evidently lost: rotate again and let the unused successor die.
 * Once a successor has been presented, the token before it is history, and
 * presenting history is theft (rule 4): someone else holds a copy.
 */

/** Everything rotation needs to know about one session; times in ms since epoch. */
export interface SessionTokenState {
  /** Hash of the newest refresh token (never presented yet, by construction). */
  currentHash: string;
  /** Hash of the token that `currentHash` succeeded, while it is still honoured. */
  previousHash: string | null;
  /** When `previousHash` was last rotated (rule 2's grace period starts here). */
  rotatedAtMs: number | null;
  createdAtMs: number;
  /** Last time any token of this session was accepted (rule 5's idle clock). */
  lastRefreshAtMs: number;
  revoked: boolean;
}

export interface RotationPolicy {
  graceMs: number;
  idleTtlMs: number;
  maxTtlMs: number;
}

/** What a presented token is, relative to its session. */
/** The two lifetimes every session check needs (rotation also needs the grace period). */
export type SessionLifetimes = Pick<RotationPolicy, "idleTtlMs" | "maxTtlMs">;

export type PresentedToken = "current" | "previous" | "superseded";

export type RotationOutcome =
  /** Rule 1 (current presented) or rule 3 (previous after grace, successor unused). */
  | { kind: "rotate"; rule: 1 | 3 }
  /** Rule 2: hand out the existing successor again; mint nothing. */
  | { kind: "replay" }
  /** Rule 4: a superseded token came back. Revoke the session. */
  | { kind: "theft" }
  | { kind: "expired"; reason: "idle" | "absolute" }
  | { kind: "revoked" };

/**
 * Rule 5: a session ends after `idleTtlMs` without a refresh and after `maxTtlMs`
 * in any case. The one place that rule is written; the Durable Object's per-request
 * session check uses it too.
 */
export function sessionExpiry(
  session: Pick<SessionTokenState, "createdAtMs" | "lastRefreshAtMs">,
  nowMs: number,
  policy: Pick<RotationPolicy, "idleTtlMs" | "maxTtlMs">,
): "idle" | "absolute" | null {
  if (nowMs - session.createdAtMs >= policy.maxTtlMs) return "absolute";
  if (nowMs - session.lastRefreshAtMs >= policy.idleTtlMs) return "idle";
  return null;
}

export function classifyPresented(state: SessionTokenState, presentedHash: string): PresentedToken {
  if (presentedHash === state.currentHash) return "current";
  if (presentedHash === state.previousHash) return "previous";
  return "superseded";
}

export function decideRotation(
  state: SessionTokenState,
  presented: PresentedToken,
  nowMs: number,
  policy: RotationPolicy,
): RotationOutcome {
  if (state.revoked) return { kind: "revoked" };
  // Rule 5: lifetimes bound everything, theft detection included; an expired
  // session has nothing left to steal.
  const expiry = sessionExpiry(state, nowMs, policy);
  if (expiry) return { kind: "expired", reason: expiry };

  switch (presented) {
    case "current":
      return { kind: "rotate", rule: 1 };
    case "previous": {
      // The previous token is only remembered while its successor is unused: using
      // the successor moves the successor into `previousHash` (rule 1).
      const rotatedAtMs = state.rotatedAtMs ?? state.createdAtMs;
      return nowMs - rotatedAtMs <= policy.graceMs ? { kind: "replay" } : { kind: "rotate", rule: 3 };
    }
    case "superseded":
      return { kind: "theft" };
  }
}

/**
 * The state after an outcome. `newHash` is the freshly minted successor, used only
 * when the outcome rotates.
 */
export function applyRotation(
  state: SessionTokenState,
  outcome: RotationOutcome,
  newHash: string,
  nowMs: number,
): SessionTokenState {
  switch (outcome.kind) {
    case "rotate":
      return outcome.rule === 1
        ? { ...state, previousHash: state.currentHash, currentHash: newHash, rotatedAtMs: nowMs, lastRefreshAtMs: nowMs }
        : // Rule 3: the previous token stays previous; the unused successor dies.
          { ...state, currentHash: newHash, rotatedAtMs: nowMs, lastRefreshAtMs: nowMs };
    case "replay":
      return { ...state, lastRefreshAtMs: nowMs };
    case "theft":
      return { ...state, revoked: true };
    case "expired":
    case "revoked":
      return state;
  }
}

/** Convenience for callers and tests: classify, decide and apply in one call. */
export function rotate(
  state: SessionTokenState,
  presentedHash: string,
  newHash: string,
  nowMs: number,
  policy: RotationPolicy,
): { outcome: RotationOutcome; next: SessionTokenState } {
  const outcome = decideRotation(state, classifyPresented(state, presentedHash), nowMs, policy);
  return { outcome, next: applyRotation(state, outcome, newHash, nowMs) };
}
