#!/usr/bin/env node
// Runs every top-level describe block of the workers tests on its own (vitest -t),
// except each file's first (which runs first anyway), and reports those that fail
// alone: they depend on state an earlier block of their file left behind. A file's
// blocks share one instance (the pool isolates storage per file), so each block sets
// up what it needs in a beforeAll, idempotently, instead of relying on the blocks
// above it (docs/architecture.md, "Time comes from one clock").
//
//   npm run test:describe-alone [-- file-substring ...]
//
// One vitest run per block (about 80): ten minutes or more on two cores, so it is not
// part of `npm test`; run it after adding or reordering describe blocks.
import { readFileSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
const dir = "test/workers";
const only = process.argv.slice(2);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const failures = [];
let runs = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".test.ts")).sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue;
  const names = [...readFileSync(`${dir}/${file}`, "utf8").matchAll(/^describe\((["'`])(.*?)\1/gm)].map((m) => m[2]);
  for (const name of names.slice(1)) {
    runs++;
    const r = spawnSync("npx", ["vitest", "run", "--config", "vitest.config.ts", `${dir}/${file}`, "-t", `^${escape(name)} `], { encoding: "utf8" });
    const out = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, "");
    const tests = out.match(/Tests\s+(.*)/)?.[1] ?? "?";
    const ok = r.status === 0 && /passed/.test(tests);
    console.log(`${ok ? "ok  " : "FAIL"} ${file} > ${name}  (${tests.trim()})`);
    if (!ok) failures.push(`${file} > ${name}`);
  }
}
console.log(`\n${runs} blocks run alone; ${failures.length} failed`);
for (const f of failures) console.log("  " + f);
process.exit(failures.length ? 1 : 0);
