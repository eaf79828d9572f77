#!/usr/bin/env node
// Builds the owner web app (web/) and the browser SDK it uses (client/) into
// dist/web, which the Worker serves as static assets (wrangler.toml [assets]).
// `npm run dev`, `npm test` and `npm run check:deploy` run this first.
//
// Prints the size of every JavaScript file it emits, gzipped, and fails when their
// total goes over the budget (100 KiB gzipped): every entry point and every lazy
// chunk counts, the Argon2id worker and the password estimator included. How the
// app fits, step by step: docs/benchmarks.md, "Web app size"; `--metafile` also
// writes esbuild's metafile to dist/web-metafile.json (bytes per input and file).
// Plain esbuild: the app and the SDK import zod as `zod/mini`, like the server's
// schemas they share, which esbuild tree-shakes as it is. Its one plugin,
// `zodMiniOnly`, refuses classic zod (`import { z } from "zod"` kept every locale and
// its JSON Schema generator in an esbuild bundle).
// Then, unless --quiet, it checks the Worker's own bundle: scripts/worker-size.mjs.
//
// It also writes the API's OpenAPI 3.1 document, openapi.json, generated from the
// route table and its zod schemas (scripts/build-openapi.mjs); the Worker serves
// it as a static asset at /openapi.json.
//
// The password checker's word lists are not JavaScript: scripts/password-lists.mjs
// makes them a JSON data file, written here as password-lists.<content hash>.json
// and fetched by the app only where a password is chosen (web/passwordChecker.ts,
// which gets its URL and its Subresource Integrity hash, sha384, through esbuild's
// `define`: a file whose bytes differ is refused). Its size is printed, not budgeted.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { buildOpenApi } from "./build-openapi.mjs";
import { passwordListsAsset } from "./password-lists.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const finalDir = join(root, "dist", "web");
const reportPath = join(root, "dist", "web-build.json");
const STATIC_FILES = ["index.html", "contact.html", "style.css"];
const BUDGET_BYTES = 100 * 1024;
const quiet = process.argv.includes("--quiet");
const force = process.argv.includes("--force");
// --metafile: also write dist/web-metafile.json (and build even if up to date).
const writeMetafile = process.argv.includes("--metafile");

/**
 * Skips the build when dist/web is newer than every file the last build read (its
 * metafile's inputs, the static files, this script and the lockfile). wrangler dev
 * runs this on every start, and several dev servers may start at once.
 */
function upToDate() {
  if (force || !existsSync(finalDir) || !existsSync(reportPath)) return false;
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, "utf8"));
  } catch {
    return false;
  }
  if (!Array.isArray(report.inputs) || typeof report.builtAtMs !== "number" || typeof report.totalJsGzipBytes !== "number") return false;
  if (typeof report.passwordLists?.file !== "string" || !existsSync(join(finalDir, report.passwordLists.file))) return false;
  if (!Array.isArray(report.openapiInputs) || !existsSync(join(finalDir, "openapi.json"))) return false;
  const inputs = [
    ...report.inputs,
    ...report.openapiInputs,
    ...STATIC_FILES.map((f) => join("web", f)),
    "scripts/build-web.mjs",
    "scripts/build-openapi.mjs",
    "scripts/password-lists.mjs",
    "package-lock.json",
  ];
  try {
    return inputs.every((file) => statSync(join(root, file)).mtimeMs < report.builtAtMs);
  } catch {
    return false; // an input was removed
  }
}

/**
 * `npm run build` also checks the Worker's own size (scripts/worker-size.mjs). Not
 * under --quiet: that is wrangler's [build] hook, and the check runs wrangler.
 */
function checkWorkerSize() {
  if (quiet) return;
  const run = spawnSync(process.execPath, [join(root, "scripts", "worker-size.mjs")], { stdio: "inherit" });
  if (run.status !== 0) process.exit(run.status ?? 1);
}

if (!writeMetafile && upToDate()) {
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  if (!quiet) {
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`[build-web] dist/web is up to date (all JavaScript ${kib(report.totalJsGzipBytes)} gzipped; password lists data ${kib(report.passwordLists.gzip)} gzipped)`);
  }
  checkWorkerSize();
  process.exit(0);
}

// Build into a directory of our own, then swap it in, so that two builds at once
// (two dev servers starting) never see each other's half-written files.
const builtAtMs = Date.now();
const outdir = join(root, "dist", `.web-${process.pid}`);

/**
 * The browser code uses zod/mini only (client/, web/, and the src/schemas it shares).
 * zod classic loads every schema method and its JSON Schema generator with each
 * constructor, which esbuild cannot drop: it cost 13 KiB gzipped of the 100 KiB
 * budget while three client modules still used it. This plugin refuses it, so a
 * stray `import * as z from "zod"` fails the build instead of the budget, later.
 */
const zodMiniOnly = {
  name: "zod-mini-only",
  setup(b) {
    b.onResolve({ filter: /^zod(\/v4)?(\/classic)?$/ }, (args) => ({
      errors: [{ text: `${relative(root, args.importer)} imports "${args.path}": the web app uses "zod/mini" only (scripts/build-web.mjs)` }],
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

// The password lists' data file, first: its name goes into the app's code.
const passwordLists = passwordListsAsset();
writeFileSync(join(outdir, passwordLists.fileName), passwordLists.contents);

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: "web/app.ts", contact: "web/contact.ts", "kdf-worker": "web/kdf-worker.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: ["chrome111", "firefox115", "safari16.4"],
  minify: true,
  sourcemap: false,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  define: {
    __PASSWORD_LISTS_URL__: JSON.stringify(`/${passwordLists.fileName}`),
    __PASSWORD_LISTS_INTEGRITY__: JSON.stringify(passwordLists.integrity),
  },
  plugins: [zodMiniOnly],
});

for (const file of STATIC_FILES) cpSync(join(root, "web", file), join(outdir, file));

const openapi = await buildOpenApi();
writeFileSync(join(outdir, "openapi.json"), openapi.json);

// Sizes: every .js file esbuild wrote, entry points and lazy chunks alike. The
// metafile says which chunk holds the password estimator, for the report only.
const rows = [];
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith(".js")) continue;
  const bytes = readFileSync(join(root, file));
  rows.push({
    file: relative(outdir, join(root, file)),
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    estimator: Object.keys(output.inputs).some((input) => input.includes("@zxcvbn-ts/core")),
  });
}
rows.sort((a, b) => b.gzip - a.gzip);
const totalGzip = rows.reduce((s, r) => s + r.gzip, 0);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

if (!quiet) {
  for (const r of rows) console.log(`[build-web] ${r.file.padEnd(40)} ${kib(r.raw).padStart(10)} ${kib(r.gzip).padStart(10)} gz${r.estimator ? "  (password estimator)" : ""}`);
}
console.log(`[build-web] all JavaScript: ${kib(totalGzip)} gzipped in ${rows.length} files (budget ${kib(BUDGET_BYTES)})`);
const listsBytes = Buffer.from(passwordLists.contents);
const listsReport = { file: passwordLists.fileName, raw: listsBytes.length, gzip: gzipSync(listsBytes, { level: 9 }).length };
if (!quiet) console.log(`[build-web] openapi.json (OpenAPI 3.1, from src/schemas/routes.ts): ${kib(Buffer.byteLength(openapi.json))}`);
console.log(
  `[build-web] password lists (data, not in the JavaScript budget; fetched on the claim and change-password screens): ` +
    `${listsReport.file}, ${kib(listsReport.raw)}, ${kib(listsReport.gzip)} gzipped`,
);
if (totalGzip > BUDGET_BYTES) {
  rmSync(outdir, { recursive: true, force: true });
  console.error(`[build-web] over budget by ${kib(totalGzip - BUDGET_BYTES)}`);
  process.exit(1);
}

// Swap the new build in. A concurrent build may swap its own in between our two
// renames (then the second fails with ENOTEMPTY): move that one aside too and retry.
for (let attempt = 0; ; attempt++) {
  const stale = join(root, "dist", `.web-old-${process.pid}-${attempt}`);
  try {
    renameSync(finalDir, stale);
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  try {
    renameSync(outdir, finalDir);
    rmSync(stale, { recursive: true, force: true });
    break;
  } catch (err) {
    rmSync(stale, { recursive: true, force: true });
    if (attempt >= 5 || (err.code !== "ENOTEMPTY" && err.code !== "EEXIST")) throw err;
  }
}

// Files only. The password lists' inputs are scripts/password-lists.mjs and the
// zxcvbn-ts packages (package-lock.json), which upToDate() checks by name.
const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith("<") && existsSync(join(root, input)));
const report = {
  builtAtMs,
  budgetBytes: BUDGET_BYTES,
  totalJsGzipBytes: totalGzip,
  files: rows,
  passwordLists: listsReport,
  inputs,
  openapiInputs: openapi.inputs,
};
writeFileSync(reportPath, JSON.stringify(report, null, 2) + "\n");
if (writeMetafile) writeFileSync(join(root, "dist", "web-metafile.json"), JSON.stringify(result.metafile));
checkWorkerSize();
