/**
 * A visitor's side of docs/api.md §9 (sealing to the owner's published key) and a
 * client's side of §10 (reading socket frames in order). Runtime-neutral: used by
 * the workerd tests and by the end-to-end tests against `npm run dev`.
 */
import { compactDecrypt, CompactEncrypt, importJWK, type JWK } from "jose";
import type { Fetcher } from "./owner";

export type EncJwk = JWK & { kid: string };

/** What a sender does first: the JWKS entry with use "enc" that is not retired. */
export async function publishedEncryptionKey(fetcher: Fetcher, origin: string): Promise<EncJwk> {
  const res = await fetcher(new Request(`${origin}/.well-known/jwks.json`));
  if (res.status !== 200) throw new Error(`jwks: ${res.status}`);
  const { keys } = (await res.json()) as { keys: Array<EncJwk & { status?: string }> };
  const key = keys.find((k) => k.use === "enc" && k.status !== "retired");
  if (!key) throw new Error("no current encryption key in the JWKS");
  return key;
}

export async function sealMessage(
  key: EncJwk,
  text: string,
  options: { alg?: "ECDH-ES" | "ECDH-ES+A256KW"; kid?: string } = {},
): Promise<string> {
  const alg = options.alg ?? "ECDH-ES+A256KW";
  return new CompactEncrypt(new TextEncoder().encode(text))
    .setProtectedHeader({ alg, enc: "A256GCM", kid: options.kid ?? key.kid })
    .encrypt(await importJWK(key, alg));
}

export async function openMessage(jwe: string, privateKey: CryptoKey): Promise<string> {
  const { plaintext } = await compactDecrypt(jwe, privateKey);
  return new TextDecoder().decode(plaintext);
}

/** POST /messages as an anonymous sender would. */
export function postMessage(fetcher: Fetcher, origin: string, body: unknown, headers: Record<string, string> = {}) {
  return fetcher(
    new Request(`${origin}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

export interface StoredMessage {
  id: number;
  receivedAt: number;
  from: string | null;
  jwe: string;
  verified: boolean;
}

export type Frame = { type: string; [key: string]: unknown };

/**
 * Frames from one socket, in arrival order, and its close. Feed it from any
 * WebSocket implementation; `next()` waits for the next frame that has not been
 * taken yet, so tests read the channel exactly as a client would.
 */
export class FrameQueue {
  private readonly frames: Array<Frame | string> = [];
  private waiters: Array<() => void> = [];
  closeEvent: { code: number; reason: string } | null = null;

  push(data: string): void {
    let frame: Frame | string = data;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      // "pong" and anything else that is not JSON stays a string.
    }
    this.frames.push(frame);
    this.wake();
  }

  closed(code: number, reason: string): void {
    this.closeEvent = { code, reason };
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async until<T>(take: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; pending: ${JSON.stringify(this.frames)}, close: ${JSON.stringify(this.closeEvent)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next frame, JSON-parsed when it is JSON. */
  next(timeoutMs = 5_000): Promise<Frame | string> {
    return this.until(() => this.frames.shift(), "a frame", timeoutMs);
  }

  /** The next frame, which must be a JSON frame of `type`. */
  async expect(type: string, timeoutMs = 5_000): Promise<Frame> {
    const frame = await this.next(timeoutMs);
    if (typeof frame === "string" || frame.type !== type) {
      throw new Error(`expected a ${type} frame, got ${JSON.stringify(frame)}`);
    }
    return frame;
  }

  /** Resolves with the close code and reason once the socket has closed. */
  close(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closeEvent ?? undefined, "the close", timeoutMs);
  }

  /** Frames received and not yet taken. */
  pending(): Array<Frame | string> {
    return [...this.frames];
  }
}
