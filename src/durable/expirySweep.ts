/**
 * Sweeps of expired rows on the hot paths (challenges, sessions), at most once per
 * `SWEEP_INTERVAL_MS` of the object's clock rather than with every insert: each
 * sweep is a statement, and there statements are most of the object's cost (docs/benchmarks.md, "Where a
 * request's CPU goes"). The time of the last sweep is kept in memory: a new object
 * sweeps on its first chance, and a sweep undone with its transaction only waits
 * for the next. Expiry itself is always checked on read; a sweep only bounds storage.
 */
export const SWEEP_INTERVAL_MS = 60_000;

/** True when a sweep is due at `nowMs` (and counts it as done). */
export function sweeper(): (nowMs: number) => boolean {
  let sweptAtMs = -Infinity;
  return (nowMs) => nowMs - sweptAtMs >= SWEEP_INTERVAL_MS && ((sweptAtMs = nowMs), true);
}
