/**
 * Argon2id in a Web Worker: 64 MiB and three passes take a second or more, which
 * would freeze the page (and its progress display) on the main thread. One worker
 * per derivation, terminated afterwards so its 64 MiB of WebAssembly memory goes.
 * The worker script is web/kdf-worker.ts; it speaks the messages typed below.
 */
import type { Argon2Input, Argon2Runner } from "./kdf";

export type Argon2WorkerRequest = Argon2Input;
export type Argon2WorkerResponse = { ok: true; key: Uint8Array } | { ok: false; error: string };

/**
 * Trusted Types: under a CSP with `require-trusted-types-for 'script'` (the owner
 * app's, src/http/middleware.ts), `new Worker(url)` takes only a TrustedScriptURL,
 * made by a policy the CSP names (`trusted-types argon2id`). This one is created
 * once per page, on first use, and passes only the URLs given to
 * workerArgon2Runner, nothing else. Where the browser has no Trusted Types (or in
 * Node), the URL goes to `new Worker` as it is.
 */
export const ARGON2_WORKER_POLICY = "argon2id";
const workerUrls = new Set<string>();
let policy: { createScriptURL(url: string): unknown } | undefined;

function trustedWorkerUrl(url: string): string {
  const tt = (globalThis as { trustedTypes?: { createPolicy(name: string, rules: { createScriptURL(url: string): string }): NonNullable<typeof policy> } }).trustedTypes;
  if (!tt) return url;
  policy ??= tt.createPolicy(ARGON2_WORKER_POLICY, {
    createScriptURL(u) {
      if (!workerUrls.has(u)) throw new TypeError(`${u} is not the Argon2id worker's script`);
      return u;
    },
  });
  return policy.createScriptURL(url) as string;
}

export function workerArgon2Runner(scriptUrl: string | URL): Argon2Runner {
  const url = String(scriptUrl);
  workerUrls.add(url);
  return (input) =>
    new Promise<Uint8Array>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = new Worker(trustedWorkerUrl(url), { type: "module", name: "argon2id" });
      } catch (err) {
        reject(err);
        return;
      }
      const finish = () => worker.terminate();
      worker.onmessage = (event: MessageEvent<Argon2WorkerResponse>) => {
        finish();
        if (event.data.ok) resolve(event.data.key);
        else reject(new Error(event.data.error));
      };
      worker.onerror = (event) => {
        finish();
        reject(new Error(`the Argon2id worker failed: ${event.message || "could not start"}`));
      };
      const request: Argon2WorkerRequest = input;
      worker.postMessage(request);
    });
}
