/**
 * Password-based key derivation for the escrow. Argon2id runs in WebAssembly
 * (hash-wasm): inline by default, or in a Web Worker (client/escrow/worker.ts) so
 * the page stays responsive for the second or two it takes at 64 MiB.
 */

export interface Argon2Input {
  password: Uint8Array;
  salt: Uint8Array;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  hashBytes: number;
}

/** Computes Argon2id; the SDK never cares where. */
export type Argon2Runner = (input: Argon2Input) => Promise<Uint8Array>;

/** Argon2id on this thread. hash-wasm is loaded on first use. */
export const argon2Inline: Argon2Runner = async (input) => {
  const { argon2id } = await import("./argon2");
  return argon2id({
    password: input.password,
    salt: input.salt,
    memorySize: input.memoryKiB,
    iterations: input.iterations,
    parallelism: input.parallelism,
    hashLength: input.hashBytes,
    outputType: "binary",
  });
};

/**
 * Whether WebAssembly can be compiled here. A CSP without 'wasm-unsafe-eval', or a
 * browser with WebAssembly switched off, makes this false: new escrows then use the
 * PBES2 fallback.
 */
export async function webAssemblyAvailable(): Promise<boolean> {
  if (typeof WebAssembly !== "object") return false;
  try {
    // The smallest valid module: the magic number and version 1.
    await WebAssembly.instantiate(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    return true;
  } catch {
    return false;
  }
}

/**
 * Passwords are compared as UTF-8 bytes of their NFC form, so the same password
 * typed on two systems that compose accents differently opens the same escrow.
 */
export function passwordBytes(password: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(password.normalize("NFC")) as Uint8Array<ArrayBuffer>;
}
