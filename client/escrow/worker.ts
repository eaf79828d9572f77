/**
 * Argon2id in a Web Worker: 64 MiB and three passes take a second or more, which
 * would freeze the page (and its progress display) on the main thread. One worker
 * per derivation, terminated afterwards so its 64 MiB of WebAssembly memory goes.
 * The worker script is web/kdf-worker.ts; it speaks the messages typed below.
 */
import type { Argon2Input, Argon2Runner } from "./kdf";

export type Argon2WorkerRequest = Argon2Input;
export type Argon2WorkerResponse = { ok: true; key: Uint8Array } | { ok: false; error: string };

export function workerArgon2Runner(scriptUrl: string | URL): Argon2Runner {
  return (input) =>
    new Promise<Uint8Array>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = new Worker(scriptUrl, { type: "module", name: "argon2id" });
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
