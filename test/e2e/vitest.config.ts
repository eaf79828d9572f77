// End-to-end tests: plain Node (not the workers pool). Each file starts a real local
// instance with `npm run dev` and talks to it over HTTP, as a user would.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    environment: "node",
    // wrangler takes about 10-20 s to start on a cold machine, and tests that
    // restart the server wait for it again.
    hookTimeout: 60_000,
    testTimeout: 60_000,
    // Each file starts its own server; two at once would fight for the 2 cores.
    fileParallelism: false,
  },
});
