// Browser tests: Node drives Debian's Chromium (playwright-core, no downloaded
// browser) against a real `npm run dev`. Screenshots of failing tests go to
// test-results/ (git-ignored).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/browser/**/*.browser.test.ts"],
    environment: "node",
    hookTimeout: 120_000,
    testTimeout: 180_000,
    // expect.poll gives up after 1 s by default: too short for a real browser and a
    // dev server sharing two loaded cores (CI once saw the live socket take longer
    // after an Argon2id unlock). Playwright's own waits allow 30 s.
    expect: { poll: { timeout: 15_000 } },
    // One server and one browser at a time: the machine has two cores.
    fileParallelism: false,
  },
});
