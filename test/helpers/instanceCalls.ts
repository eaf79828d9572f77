/**
 * Counting the Worker's Durable Object calls (docs/benchmarks.md, "Durable Object
 * calls"). The Worker is called with its env, except that the INSTANCE namespace
 * hands out stubs that note every method called on them (RPC calls and fetch)
 * before passing it on. A test asserts the list, so a change that adds a round
 * trip to a hot path fails. The D1 binding notes every statement prepared through it
 * (the Worker's own; the object's D1 calls use the object's env). A test may also
 * hold a call before it reaches the object (`before`), to order requests that race.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { contractChecked } from "./contract";
import type { Fetcher } from "./owner";

export interface CountingFetcher {
  fetcher: Fetcher;
  /** Method names, in call order, since the last `take()`. */
  take(): string[];
  /** The SQL of the D1 statements the Worker prepared, in order, since the last `takeD1()`. */
  takeD1(): string[];
}

/** `target` with one property replaced; everything else passes through (methods bound to `target`). */
function overriding<T extends object>(target: T, prop: string, replacement: unknown): T {
  return new Proxy(target, {
    get(t, p) {
      if (p === prop) return replacement;
      const value: unknown = Reflect.get(t, p);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

export function countingFetcher(options: { before?: (method: string) => Promise<void> | undefined } = {}): CountingFetcher {
  let calls: string[] = [];
  let statements: string[] = [];
  const db = overriding(env.DB, "prepare", (query: string) => {
    statements.push(query);
    return env.DB.prepare(query);
  });
  const countingStub = (stub: DurableObjectStub): DurableObjectStub =>
    new Proxy(stub, {
      get(target, prop) {
        const value: unknown = (target as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof prop !== "string" || typeof value !== "function") return value;
        const call = (...args: unknown[]) => (target as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args);
        return (...args: unknown[]) => {
          calls.push(prop);
          const held = options.before?.(prop);
          return held ? held.then(() => call(...args)) : call(...args);
        };
      },
    });
  const namespace = env.INSTANCE as unknown as DurableObjectNamespace;
  const counting = overriding(namespace, "get", (...args: Parameters<DurableObjectNamespace["get"]>) => countingStub(namespace.get(...args)));
  const fetcher = contractChecked(async (request) => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, INSTANCE: counting, DB: db } as unknown as typeof env, ctx);
    // Calls made after the answer (waitUntil) count too.
    await waitOnExecutionContext(ctx);
    return response;
  });
  return {
    fetcher,
    take() {
      const taken = calls;
      calls = [];
      return taken;
    },
    takeD1() {
      const taken = statements;
      statements = [];
      return taken;
    },
  };
}
