// Tests of the project's Node scripts (npm run deploy, the secret generators): plain
// Node, not the workers pool. wrangler is faked behind the deploy script's
// command-runner seam, except in one dry-run test that needs no account.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/scripts/**/*.test.ts"],
    environment: "node",
    // The dry-run test bundles the Worker with the real wrangler: a few seconds.
    testTimeout: 60_000,
  },
});
