/** The Argon2id worker (see client/escrow/worker.ts for the messages). */
import { argon2Inline } from "../client/escrow/kdf";
import type { Argon2WorkerRequest, Argon2WorkerResponse } from "../client/escrow/worker";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Argon2WorkerRequest>) => void) | null;
  postMessage(message: Argon2WorkerResponse, transfer?: Transferable[]): void;
};

scope.onmessage = async (event) => {
  try {
    const key = await argon2Inline(event.data);
    scope.postMessage({ ok: true, key }, [key.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};
