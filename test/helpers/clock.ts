/**
 * Test control of the server's clock (src/lib/clock.ts). In vitest-pool-workers the
 * Worker and its Durable Object run in the test's own isolate and module graph, so
 * spying on `systemClock.nowMs` moves the time every server decision reads: TOTP
 * steps, lockouts, session lifetimes, token iat/exp/auth_time, challenge and ticket
 * expiry. Tests move time forward instead of sleeping through it. Only forward: the
 * server never sees time go back.
 *
 * Real-time machinery is not moved: Durable Object alarms, KV expiry, timers.
 */
import { vi } from "vitest";
import { systemClock } from "../../src/lib/clock";

let offsetMs = 0;
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const realNow = Date.now.bind(Date);
  vi.spyOn(systemClock, "nowMs").mockImplementation(() => realNow() + offsetMs);
}

/** The server's time now (real time plus every advance so far). */
export function serverNowMs(): number {
  return Date.now() + offsetMs;
}

/** Moves the server's clock `ms` forward. */
export function advanceClock(ms: number): void {
  if (ms < 0) throw new Error("the clock only moves forward");
  install();
  offsetMs += ms;
}
