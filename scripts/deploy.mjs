#!/usr/bin/env node
// `npm run deploy [-- --origin https://id.example.org] [--account-id ID] [--new-setup-code]`:
// deploy this owner's instance to their Cloudflare account, or upgrade it. docs/deploy.md
// explains each step; in short:
//  1. checks that wrangler is logged in (and which account to use);
//  2. finds the D1 database and KV namespace by name, creating only the missing ones,
//     and writes their ids into wrangler.deploy.toml (git-ignored: wrangler.toml plus
//     this account's ids, so wrangler.toml itself stays id-free for everyone);
//  3. applies pending D1 migrations to the remote database;
//  4. generates only the secrets that are not set yet and sets them with
//     `wrangler secret bulk` (an existing secret is never rotated); a new IndieAuth
//     introspection secret is printed once, for the owner's resource servers;
//  5. `wrangler deploy` with ORIGIN set from --origin (remembered in deploy.local.json);
//  6. prints the URL and, if the instance is not claimed yet, the setup code.
// Every step prints what it is about to do first; the first failure stops the run.
// Re-running it upgrades the code and the schema and touches nothing else.
//
// Every wrangler call goes through `runner` (scripts/lib/runner.mjs): the tests put a
// fake Cloudflare account there, since no real one is reachable from a test.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { run } from "./lib/runner.mjs";
import { SECRET_GENERATORS } from "./lib/secrets.mjs";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Generated on every deploy: wrangler.toml plus this account's resource ids. */
export const DEPLOY_CONFIG_FILE = "wrangler.deploy.toml";
/** The owner's remembered choices (--origin, --account-id), so a re-deploy keeps them. */
export const OWNER_SETTINGS_FILE = "deploy.local.json";

export const USAGE = `Usage: npm run deploy [-- options]

Deploys this instance to the Cloudflare account wrangler is logged into, or upgrades
it: creates or reuses D1 and KV, applies pending migrations, sets only the missing
secrets, deploys, and prints the URL (and the setup code while unclaimed).
Re-running never rotates a secret and never touches data. See docs/deploy.md.

Options (remembered in ${OWNER_SETTINGS_FILE} for later deploys):
  --origin https://id.example.org   the instance's public origin (sets ORIGIN); needed
                                    with a custom domain
  --account-id ID                   the Cloudflare account, if your login has several
                                    (or set CLOUDFLARE_ACCOUNT_ID)
Once only:
  --new-setup-code                  replace SETUP_CODE (only useful while the instance
                                    is unclaimed and its code was lost)
  --help                            this text`;

const STEPS = [
  ["login", "check that wrangler is logged in"],
  ["resources", "create or reuse the D1 database and the KV namespace"],
  ["migrations", "apply pending D1 migrations to the remote database"],
  ["secrets", "generate and set the secrets that are missing (existing ones are kept)"],
  ["deploy", "deploy the Worker"],
  ["check", "find the instance and whether it is claimed"],
];

/** A step failed: `step` and `stepTitle` name it, the message says why. */
export class DeployError extends Error {
  constructor(stepNumber, stepTitle, reason) {
    super(`step ${stepNumber}/${STEPS.length} (${stepTitle}) failed: ${reason}`);
    this.name = "DeployError";
    this.stepNumber = stepNumber;
    this.stepTitle = stepTitle;
    this.reason = reason;
  }
}

/** Thrown inside a step; deploy() turns it into a DeployError naming the step. */
class StepFailure extends Error {}

// ---------------------------------------------------------------------------------
// Arguments and remembered settings.

export function parseArgs(argv) {
  const options = { origin: undefined, accountId: undefined, newSetupCode: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--origin") options.origin = normalizeOrigin(value());
    else if (flag === "--account-id") options.accountId = value();
    else if (flag === "--new-setup-code" && inline === undefined) options.newSetupCode = true;
    else if ((flag === "--help" || flag === "-h") && inline === undefined) options.help = true;
    else throw new Error(`unknown argument: ${arg}`);
  }
  return options;
}

/**
 * The instance's public origin: https, scheme and host only. Plain http is accepted
 * for loopback hosts alone (tests, local experiments), as browsers do for secure
 * contexts: the refresh cookie is `Secure`, so a real instance needs https.
 */
export function normalizeOrigin(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--origin: "${value}" is not a URL; expected something like https://id.example.org`);
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new Error(`--origin: "${value}" must start with https://`);
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
    throw new Error(`--origin: "${value}" must be an origin only (scheme and host), without a path`);
  }
  return url.origin;
}

function readOwnerSettings(rootDir) {
  const path = join(rootDir, OWNER_SETTINGS_FILE);
  if (!existsSync(path)) return {};
  try {
    const settings = JSON.parse(readFileSync(path, "utf8"));
    return {
      origin: typeof settings.origin === "string" && settings.origin ? normalizeOrigin(settings.origin) : undefined,
      accountId: typeof settings.accountId === "string" && settings.accountId ? settings.accountId : undefined,
    };
  } catch (error) {
    throw new Error(`${OWNER_SETTINGS_FILE} is not valid (${error.message}); fix or delete it`);
  }
}

// ---------------------------------------------------------------------------------
// wrangler.toml and the generated per-owner config.

/** Splits TOML text into the top-level part and one block per [table] / [[table]]. */
function tomlBlocks(text) {
  const blocks = [{ table: null, lines: [] }];
  for (const line of text.split("\n")) {
    const header = line.match(/^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(?:#.*)?$/);
    if (header) blocks.push({ table: header[1], lines: [line] });
    else blocks.at(-1).lines.push(line);
  }
  return blocks;
}

function tomlStringValue(lines, key) {
  const pattern = new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"\\s*(?:#.*)?$`);
  for (const line of lines) {
    const m = line.match(pattern);
    if (m) return m[1];
  }
  return undefined;
}

function hasTomlKey(lines, key) {
  return lines.some((line) => new RegExp(`^\\s*${key}\\s*=`).test(line));
}

/**
 * What the deploy needs from wrangler.toml: the Worker's name, its D1 databases
 * (binding, name, whether it has migrations) and its KV namespaces (binding). The
 * reader understands the plain `key = "string"` lines wrangler.toml uses, and says
 * so loudly when something it needs is missing.
 */
export function readBaseConfig(text) {
  const blocks = tomlBlocks(text);
  const workerName = tomlStringValue(blocks[0].lines, "name");
  if (!workerName) throw new Error('wrangler.toml has no top-level name = "..."');
  const d1 = [];
  const kv = [];
  for (const block of blocks) {
    if (block.table === "d1_databases") {
      const binding = tomlStringValue(block.lines, "binding");
      const databaseName = tomlStringValue(block.lines, "database_name");
      if (!binding || !databaseName) throw new Error("every [[d1_databases]] in wrangler.toml needs binding and database_name");
      if (hasTomlKey(block.lines, "database_id")) {
        throw new Error(`wrangler.toml sets database_id for ${binding}; npm run deploy finds the id by database_name itself, so remove that line`);
      }
      d1.push({ binding, databaseName, hasMigrations: hasTomlKey(block.lines, "migrations_dir") });
    } else if (block.table === "kv_namespaces") {
      const binding = tomlStringValue(block.lines, "binding");
      if (!binding) throw new Error("every [[kv_namespaces]] in wrangler.toml needs a binding");
      if (hasTomlKey(block.lines, "id")) {
        throw new Error(`wrangler.toml sets id for the KV binding ${binding}; npm run deploy finds the id by title itself, so remove that line`);
      }
      kv.push({ binding, title: kvNamespaceTitle(workerName, binding) });
    }
  }
  return { workerName, d1, kv };
}

/** The same title `wrangler deploy` would give the namespace if it provisioned it. */
export function kvNamespaceTitle(workerName, binding) {
  return `${workerName}-${binding.toLowerCase().replaceAll("_", "-")}`;
}

/**
 * wrangler.toml with `database_id` / `id` added to each D1 and KV binding:
 * `ids.d1[binding]`, `ids.kv[binding]`. Written next to wrangler.toml, so the
 * relative paths in it (main, migrations_dir) still hold.
 */
export function renderDeployConfig(text, ids) {
  const out = [
    `# Generated by \`npm run deploy\` from wrangler.toml, on every deploy: do not edit`,
    `# (edit wrangler.toml). It adds this Cloudflare account's D1 and KV ids, which`,
    `# wrangler needs for remote commands; use it as \`wrangler ... --config ${DEPLOY_CONFIG_FILE}\`.`,
    "",
  ];
  for (const block of tomlBlocks(text)) {
    const field = block.table === "d1_databases" ? ["database_id", ids.d1] : block.table === "kv_namespaces" ? ["id", ids.kv] : null;
    if (!field) {
      out.push(...block.lines);
      continue;
    }
    const [key, byBinding] = field;
    const binding = tomlStringValue(block.lines, "binding");
    const id = byBinding[binding];
    if (!id || !/^[A-Za-z0-9-]+$/.test(id)) throw new Error(`no valid ${key} for the ${block.table} binding ${binding}`);
    const at = block.lines.findIndex((line) => /^\s*binding\s*=/.test(line));
    out.push(...block.lines.slice(0, at + 1), `${key} = "${id}"`, ...block.lines.slice(at + 1));
  }
  return out.join("\n");
}

/** The workers.dev URL `wrangler deploy` printed, preferring the Worker's own. */
export function findWorkersDevUrl(output, workerName) {
  const urls = output.match(/https:\/\/[A-Za-z0-9.-]+\.workers\.dev\b/g) ?? [];
  return urls.find((url) => url.startsWith(`https://${workerName}.`)) ?? urls[0];
}

// ---------------------------------------------------------------------------------
// Reading wrangler's output.

/** stdout and stderr without terminal colours (wrangler colours its errors even in a pipe). */
function plainOutput(result) {
  return `${result.stdout}\n${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, "");
}

function outputTail(result, lines = 20) {
  const text = plainOutput(result).split("\n").filter((l) => l.trim());
  return text.slice(-lines).map((l) => `    | ${l}`).join("\n");
}

function parseJsonOutput(result, what) {
  const text = result.stdout.trim();
  const candidates = [text];
  const start = text.search(/^[[{]/m); // wrangler may print a warning line first
  if (start > 0) candidates.push(text.slice(start));
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate);
    } catch {
      // try the next one
    }
  }
  throw new StepFailure(`could not read the output of \`${what}\` as JSON:\n${outputTail(result)}`);
}

// ---------------------------------------------------------------------------------
// The deploy.

/**
 * Deploys or upgrades the instance. Resolves to a summary; rejects with a DeployError
 * naming the failed step (later steps are not run).
 *
 * @param {object} o
 * @param {(cmd: string, args: string[], opts?: object) => Promise<{code: number, stdout: string, stderr: string}>} o.runner
 * @param {(line: string) => void} [o.log]
 * @param {string} [o.rootDir] the project directory (wrangler.toml, generated files)
 * @param {string} [o.wranglerBin]
 * @param {string} [o.origin] overrides the remembered origin
 * @param {string} [o.accountId] overrides the remembered account
 * @param {boolean} [o.newSetupCode]
 */
export async function deploy({
  runner,
  log = console.log,
  rootDir = REPO_ROOT,
  wranglerBin = join(rootDir, "node_modules", ".bin", "wrangler"),
  origin: originOption,
  accountId: accountOption,
  newSetupCode = false,
}) {
  const say = (line) => log(`[deploy] ${line}`);
  const wranglerEnv = {};
  const configArgs = ["--config", DEPLOY_CONFIG_FILE];

  async function wrangler(args, { input, echo = false } = {}) {
    say(`  $ wrangler ${args.join(" ")}`); // never holds a secret: those go through stdin
    return runner(wranglerBin, args, { cwd: rootDir, env: wranglerEnv, input, echo });
  }

  async function wranglerOk(args, options) {
    const result = await wrangler(args, options);
    if (result.code !== 0) {
      throw new StepFailure(`\`wrangler ${args.join(" ")}\` exited with code ${result.code}:\n${outputTail(result)}`);
    }
    return result;
  }

  async function step(key, body) {
    const index = STEPS.findIndex(([k]) => k === key);
    const stepNumber = index + 1;
    const title = STEPS[index][1];
    log("");
    say(`${stepNumber}/${STEPS.length} ${title}`);
    try {
      return await body();
    } catch (error) {
      if (error instanceof StepFailure) throw new DeployError(stepNumber, title, error.message);
      if (error instanceof DeployError) throw error;
      throw new DeployError(stepNumber, title, error instanceof Error ? error.message : String(error));
    }
  }

  say("this will: check the wrangler login; create or reuse D1 and KV; apply pending migrations;");
  say("set only missing secrets (never rotating one); deploy the code; print the URL.");
  say("It deletes nothing and changes no data except by applying migrations.");

  let origin;
  let accountId;

  // 1. Login, account, and the owner's remembered choices.
  await step("login", async () => {
    const remembered = readOwnerSettings(rootDir);
    origin = originOption ? normalizeOrigin(originOption) : remembered.origin;
    accountId = accountOption ?? remembered.accountId;
    const who = await wrangler(["whoami", "--json"]);
    if (who.code !== 0) {
      let loggedOut = false;
      try {
        loggedOut = JSON.parse(who.stdout.trim()).loggedIn === false;
      } catch {
        // not JSON: some other failure
      }
      if (loggedOut || /not authenticated/i.test(plainOutput(who))) {
        throw new StepFailure("wrangler is not logged in to Cloudflare. Run `npx wrangler login` (or set CLOUDFLARE_API_TOKEN), then `npm run deploy` again.");
      }
      throw new StepFailure(`\`wrangler whoami\` exited with code ${who.code}:\n${outputTail(who)}`);
    }
    const user = parseJsonOutput(who, "wrangler whoami --json");
    const accounts = Array.isArray(user.accounts) ? user.accounts : [];
    say(`  logged in${user.email ? ` as ${user.email}` : ""} (${user.authType ?? "unknown login type"})`);
    const describe = (a) => `${a.name} (${a.id})`;
    if (accountId) {
      const account = accounts.find((a) => a.id === accountId);
      if (accounts.length > 0 && !account) {
        throw new StepFailure(`account ${accountId} is not one this login can use; it can use:\n${accounts.map((a) => `    ${describe(a)}`).join("\n")}`);
      }
      say(`  using account ${account ? describe(account) : accountId}`);
    } else if (accounts.length === 1) {
      accountId = accounts[0].id;
      say(`  using account ${describe(accounts[0])}`);
    } else if (accounts.length > 1) {
      throw new StepFailure(
        `this login can use ${accounts.length} Cloudflare accounts; choose one with \`npm run deploy -- --account-id <id>\`:\n` +
          accounts.map((a) => `    ${describe(a)}`).join("\n"),
      );
    }
    if (accountId) wranglerEnv.CLOUDFLARE_ACCOUNT_ID = accountId;

    const next = { origin, accountId: accountOption ?? remembered.accountId };
    if (next.origin !== remembered.origin || next.accountId !== remembered.accountId) {
      say(`  remembering ${[next.origin && `origin ${next.origin}`, next.accountId && `account ${next.accountId}`].filter(Boolean).join(" and ")} in ${OWNER_SETTINGS_FILE}`);
      writeFileSync(join(rootDir, OWNER_SETTINGS_FILE), JSON.stringify(next, null, 2) + "\n");
    }
  });

  // 2. D1 and KV.
  const base = await step("resources", async () => {
    const wranglerToml = readFileSync(join(rootDir, "wrangler.toml"), "utf8");
    const config = readBaseConfig(wranglerToml);
    const ids = { d1: {}, kv: {} };

    if (config.d1.length > 0) {
      const listDatabases = async () => parseJsonOutput(await wranglerOk(["d1", "list", "--json"]), "wrangler d1 list --json");
      let databases = await listDatabases();
      for (const { binding, databaseName } of config.d1) {
        let database = databases.find((d) => d.name === databaseName);
        if (database) {
          say(`  reusing D1 database "${databaseName}" (${database.uuid}) for ${binding}`);
        } else {
          say(`  creating D1 database "${databaseName}" for ${binding}`);
          await wranglerOk(["d1", "create", databaseName]);
          databases = await listDatabases();
          database = databases.find((d) => d.name === databaseName);
          if (!database) throw new StepFailure(`created D1 database "${databaseName}", but \`wrangler d1 list\` does not show it`);
          say(`  created D1 database "${databaseName}" (${database.uuid})`);
        }
        ids.d1[binding] = database.uuid;
      }
    }

    if (config.kv.length > 0) {
      const listNamespaces = async () => parseJsonOutput(await wranglerOk(["kv", "namespace", "list"]), "wrangler kv namespace list");
      let namespaces = await listNamespaces();
      for (const { binding, title } of config.kv) {
        let namespace = namespaces.find((n) => n.title === title);
        if (namespace) {
          say(`  reusing KV namespace "${title}" (${namespace.id}) for ${binding}`);
        } else {
          say(`  creating KV namespace "${title}" for ${binding}`);
          await wranglerOk(["kv", "namespace", "create", title]);
          namespaces = await listNamespaces();
          namespace = namespaces.find((n) => n.title === title);
          if (!namespace) throw new StepFailure(`created KV namespace "${title}", but \`wrangler kv namespace list\` does not show it`);
          say(`  created KV namespace "${title}" (${namespace.id})`);
        }
        ids.kv[binding] = namespace.id;
      }
    }

    say(`  writing ${DEPLOY_CONFIG_FILE} (wrangler.toml plus these ids)`);
    writeFileSync(join(rootDir, DEPLOY_CONFIG_FILE), renderDeployConfig(wranglerToml, ids));
    return config;
  });

  // 3. Migrations, before the new code goes live: new code may need the new schema,
  // and migrations only ever add (docs/storage-schema.md), so the old code keeps
  // working on the new schema for the seconds in between.
  await step("migrations", async () => {
    const withMigrations = base.d1.filter((d) => d.hasMigrations);
    if (withMigrations.length === 0) say("  no D1 database has migrations");
    for (const { binding } of withMigrations) {
      await wranglerOk(["d1", "migrations", "apply", binding, "--remote", ...configArgs], { echo: true });
    }
  });

  // 4. Secrets.
  const generated = await step("secrets", async () => {
    const listed = await wrangler(["secret", "list", ...configArgs]);
    let existing;
    if (listed.code === 0) {
      existing = new Set(parseJsonOutput(listed, "wrangler secret list").map((s) => s.name));
    } else if (/Worker "[^"]*"(?: \(env: [^)]*\))? not found/.test(plainOutput(listed))) {
      say(`  the Worker "${base.workerName}" does not exist yet: this is its first deploy`);
      existing = new Set();
    } else {
      throw new StepFailure(`\`wrangler secret list\` exited with code ${listed.code}:\n${outputTail(listed)}`);
    }
    const names = Object.keys(SECRET_GENERATORS);
    const missing = names.filter((name) => !existing.has(name) || (name === "SETUP_CODE" && newSetupCode));
    const kept = names.filter((name) => !missing.includes(name));
    if (kept.length > 0) say(`  already set, kept as they are: ${kept.join(", ")}`);
    if (missing.length === 0) {
      say("  every secret is already set: nothing to do");
      return {};
    }
    say(`  generating ${missing.join(", ")}${newSetupCode && existing.has("SETUP_CODE") ? " (SETUP_CODE replaced, as --new-setup-code asked)" : ""}`);
    const values = {};
    for (const name of missing) values[name] = await SECRET_GENERATORS[name]();
    await wranglerOk(["secret", "bulk", ...configArgs], { input: JSON.stringify(values) });
    say(`  set ${missing.join(", ")}`);
    if (values.SETUP_CODE) {
      // Printed now as well as at the end, in case a later step fails: Cloudflare
      // never shows a secret again, and a re-run keeps this one.
      say(`  setup code: ${values.SETUP_CODE}   (keep it until you have claimed the instance)`);
    }
    if (values.INDIEAUTH_INTROSPECTION_SECRET) {
      // The one secret meant for someone else: resource servers (a Micropub server)
      // present it to POST /indieauth/introspect (docs/api.md §14). Shown once, now.
      say(`  IndieAuth introspection secret: ${values.INDIEAUTH_INTROSPECTION_SECRET}`);
      say("    (give it to the servers that check your IndieAuth tokens; Cloudflare will not show it again)");
    }
    return values;
  });

  // 5. Deploy.
  const url = await step("deploy", async () => {
    const args = ["deploy", ...configArgs];
    if (origin) args.push("--var", `ORIGIN:${origin}`);
    else say("  no --origin: ORIGIN stays empty and the instance uses each request's own origin");
    const result = await wranglerOk(args, { echo: true });
    return origin ?? findWorkersDevUrl(result.stdout, base.workerName);
  });

  // 6. URL, claimed or not, setup code.
  const claimed = await step("check", async () => {
    if (!url) {
      say("  wrangler printed no workers.dev URL, so the instance's address is unknown here.");
      say("  Pass it with `npm run deploy -- --origin https://your.domain` (see docs/deploy.md).");
      return undefined;
    }
    say(`  GET ${url}/.well-known/indienet`);
    try {
      const response = await fetch(`${url}/.well-known/indienet`, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (typeof body.claimed !== "boolean") throw new Error("no `claimed` in the answer");
      return body.claimed;
    } catch (error) {
      say(`  could not ask the instance (${error instanceof Error ? error.message : error}).`);
      say("  A new workers.dev subdomain or custom domain can take a few minutes to resolve.");
      return undefined;
    }
  });

  log("");
  say(`instance URL: ${url ?? "(unknown)"}`);
  if (claimed === true) {
    say("the instance is claimed: its setup code no longer does anything.");
  } else if (generated.SETUP_CODE) {
    say(`setup code:   ${generated.SETUP_CODE}`);
    say(`open ${url ?? "the instance"} and claim it with this code. It works once; after that it is useless.`);
  } else {
    say(claimed === false ? "the instance is not claimed yet." : "if the instance is not claimed yet:");
    say("its SETUP_CODE was set by an earlier deploy, and Cloudflare never shows a secret again,");
    say("so it cannot be printed here: use the code that deploy printed. If it is lost,");
    say("`npm run deploy -- --new-setup-code` replaces it (a setup code only works until the claim).");
  }
  return { url, claimed, accountId, secretsSet: Object.keys(generated), setupCode: generated.SETUP_CODE };
}

/** The command line: returns the exit code (0 done, 1 a step failed, 2 bad arguments). */
export async function main(argv, { runner = run, log = console.log, error = console.error, rootDir = REPO_ROOT, env = process.env } = {}) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (e) {
    error(`[deploy] ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    log(USAGE);
    return 0;
  }
  try {
    await deploy({
      runner,
      log,
      rootDir,
      origin: options.origin,
      accountId: options.accountId ?? (env.CLOUDFLARE_ACCOUNT_ID || undefined),
      newSetupCode: options.newSetupCode,
    });
    return 0;
  } catch (e) {
    if (!(e instanceof DeployError)) throw e;
    error("");
    error(`[deploy] ${e.message}`);
    error("[deploy] stopped here; later steps were not run. Fix the cause and run `npm run deploy` again:");
    error("[deploy] the steps that already succeeded are safe to repeat.");
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
