/**
 * Is a value plain, finite, shallow JSON, pure. `JSON.parse` accepts what later code
 * cannot handle: `1e400` parses to Infinity, which canonical JSON (the archive digest,
 * RFC 8785) cannot write, and nesting thousands of levels deep parses fine but makes
 * every recursive walker (JSON.stringify included) overflow the stack. Values that
 * come from outside and are kept as JSON (an archive's activity `detail`) are checked
 * here first, without recursion, so that a bad one is a 400, not a 500.
 */

/** Deep enough for any detail the server writes (two levels today), shallow enough for every walker. */
export const MAX_JSON_DEPTH = 16;

export type JsonValueProblem = "not_finite" | "too_deep" | "not_json";

/**
 * Null when `value` is JSON (null, booleans, finite numbers, strings, arrays and
 * plain objects) nested at most `maxDepth` levels (a scalar is depth 0, `{}` or
 * `[]` depth 1); otherwise what is wrong with it. Iterative: never overflows.
 */
export function findJsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonValueProblem | null {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (v === null || typeof v === "string" || typeof v === "boolean") continue;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return "not_finite";
      continue;
    }
    if (typeof v !== "object") return "not_json";
    const proto = Object.getPrototypeOf(v) as unknown;
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) return "not_json";
    if (depth + 1 > maxDepth) return "too_deep";
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ value: child, depth: depth + 1 });
  }
  return null;
}
