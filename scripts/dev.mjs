#!/usr/bin/env node
// `npm run dev [-- wrangler dev args]`: a ready local instance in one command.
//  1. creates missing local secrets in .dev.vars (git-ignored): SETUP_CODE,
//     INSTANCE_SIGNING_KEY, DATA_KEY, FEDERATION_KEY, INDIEAUTH_INTROSPECTION_SECRET
//     (scripts/lib/secrets.mjs); existing ones are never changed;
//  2. applies D1 migrations to the local database (idempotent), into the same
//     --persist-to directory that wrangler dev will use;
//  3. prints the URL and the setup code, and runs `wrangler dev` with every extra
//     argument passed through (--port, --var NAME:value, --persist-to DIR, ...),
//     and ALLOW_INSECURE_FEDERATION=1 unless a --var sets it.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatDotenvLine, parseDotenv, SECRET_GENERATORS } from "./lib/secrets.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const args = process.argv.slice(2);

function optionValue(name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

function varOverride(name) {
  for (let i = 0; i < args.length; i++) {
    const value = args[i] === "--var" ? args[i + 1] : args[i].startsWith("--var=") ? args[i].slice(6) : undefined;
    if (value?.startsWith(`${name}:`)) return value.slice(name.length + 1);
  }
  return undefined;
}

// 1. Secrets.
const devVarsPath = join(root, ".dev.vars");
const existing = existsSync(devVarsPath) ? readFileSync(devVarsPath, "utf8") : "";
const vars = parseDotenv(existing);
const added = [];
for (const [name, generate] of Object.entries(SECRET_GENERATORS)) {
  if (!vars.has(name)) {
    vars.set(name, await generate());
    added.push(name);
  }
}
if (added.length > 0) {
  const lines = existing.trimEnd() ? [existing.trimEnd()] : ["# Local secrets for `wrangler dev`, made by `npm run dev`. Never commit."];
  for (const name of added) lines.push(formatDotenvLine(name, vars.get(name)));
  writeFileSync(devVarsPath, lines.join("\n") + "\n", { mode: 0o600 });
  console.log(`[dev] wrote ${added.join(", ")} to .dev.vars`);
}

// 2. Schema.
const persistTo = optionValue("--persist-to");
const migrate = spawnSync(
  wrangler,
  ["d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])],
  { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" }, encoding: "utf8" },
);
if (migrate.status !== 0) {
  process.stderr.write(migrate.stdout + migrate.stderr);
  console.error("[dev] applying migrations to the local D1 database failed");
  process.exit(migrate.status ?? 1);
}
console.log("[dev] local D1 schema is up to date");

// 3. Serve.
const port = optionValue("--port") ?? "8787";
const ip = optionValue("--ip") ?? "localhost";
const host = ip === "0.0.0.0" || ip === "*" ? "localhost" : ip;
const setupCode = varOverride("SETUP_CODE") ?? vars.get("SETUP_CODE");
console.log(`[dev] instance URL: http://${host}:${port}`);
console.log(`[dev] setup code:   ${setupCode}   (claims the instance once; useless afterwards)`);

// A local instance is development: plain http on localhost may use passkeys and
// IndieAuth, and loopback federation peers are allowed (ALLOW_INSECURE_FEDERATION,
// README "Settings"), unless the command line sets the variable itself.
const devVars = varOverride("ALLOW_INSECURE_FEDERATION") === undefined ? ["--var", "ALLOW_INSECURE_FEDERATION:1"] : [];
const child = spawn(wrangler, ["dev", ...devVars, ...args], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
