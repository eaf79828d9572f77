// The browser SDK's unit tests, in Node: WebCrypto (Ed25519, X25519, AES-KW,
// PBKDF2) and hash-wasm's Argon2id both run there. The password checker's tests
// read the same word lists the build ships (scripts/password-lists.mjs).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["client/test/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
  },
});
