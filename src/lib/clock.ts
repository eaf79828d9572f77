/**
 * Where the server reads the time. Everything that decides by time (token and
 * session lifetimes, TOTP steps, lockouts, challenge and ticket expiry, rate-limit
 * windows) reads it here, so tests can move time instead of sleeping through it
 * (test/helpers/clock.ts spies on `systemClock.nowMs`). Production has no way to
 * change it: nothing in src/ writes to it.
 */
export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
};
