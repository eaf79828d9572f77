// The browser SDK's unit tests, in Node: WebCrypto (Ed25519, X25519, AES-KW,
// PBKDF2) and hash-wasm's Argon2id both run there. The password checker gets the
// same cut word lists as the built app (scripts/password-lists.mjs).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { passwordListsVitePlugin } from "../scripts/password-lists.mjs";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  plugins: [passwordListsVitePlugin()],
  test: {
    include: ["client/test/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
  },
});
