/**
 * A fake Cloudflare account behind the deploy script's command-runner seam: it
 * answers the wrangler commands scripts/deploy.mjs uses, the way wrangler 4.86 does
 * (read from its source: output formats, exit codes, error texts), and keeps the state
 * they change. It is the only fake in the deploy tests, because no real account is
 * reachable from a test.
 *
 * Like wrangler, the remote commands that name `--config` need the D1 and KV ids in
 * that file: `d1 migrations apply --remote` refuses a database without `database_id`.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunOptions, RunResult } from "../../scripts/lib/runner.mjs";

export interface Call {
  /** The wrangler command, e.g. "d1 migrations apply". */
  command: string;
  args: string[];
  input?: string;
  env: Record<string, string>;
}

interface Worker {
  secrets: Map<string, string>;
  deployments: number;
  vars: Record<string, string>;
  /** Created by `secret bulk` before any deploy, as wrangler does ("draft" Worker). */
  draft: boolean;
}

const COMMANDS = [
  "whoami",
  "d1 list",
  "d1 create",
  "d1 migrations apply",
  "kv namespace list",
  "kv namespace create",
  "secret list",
  "secret bulk",
  "deploy",
];

const ok = (stdout: string): RunResult => ({ code: 0, stdout, stderr: "" });
/** wrangler's error format: a coloured "✘ [ERROR]" line on stderr, exit code 1. */
const fail = (message: string, stdout = ""): RunResult => ({
  code: 1,
  stdout,
  stderr: `\n\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1m${message}\u001b[0m\n\n`,
});

export class FakeCloudflare {
  loggedIn = true;
  email = "owner@example.org";
  accounts = [{ id: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", name: "Owner's account" }];
  databases: { uuid: string; name: string }[] = [];
  namespaces: { id: string; title: string }[] = [];
  worker: Worker | null = null;
  workerName = "indienet-identity";
  workersDevUrl = "https://indienet-identity.owner.workers.dev";
  /** The migration files in the project, in order, and those applied remotely. */
  migrations = ["0001_init.sql", "0002_messages.sql"];
  applied: string[] = [];
  /** What GET /.well-known/indienet answers (served by the test's HTTP server). */
  claimed = false;
  calls: Call[] = [];
  /** command → error message: that command fails (every time) with it. */
  failing = new Map<string, string>();

  commands(): string[] {
    return this.calls.map((c) => c.command);
  }

  run = async (_cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> => {
    const words = args.filter((a) => !a.startsWith("-")).join(" ");
    const command = COMMANDS.filter((c) => words === c || words.startsWith(`${c} `)).sort((a, b) => b.length - a.length)[0];
    if (!command) throw new Error(`the fake does not know \`wrangler ${args.join(" ")}\``);
    const env = options.env ?? {};
    this.calls.push({ command, args, input: options.input, env });

    if (command === "whoami") {
      if (!this.loggedIn) return { code: 1, stdout: '{"loggedIn":false}\n', stderr: "" };
      return ok(JSON.stringify({ loggedIn: true, authType: "OAuth Token", email: this.email, accounts: this.accounts }, null, 2));
    }
    if (!this.loggedIn) {
      return fail("In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work.");
    }
    if (this.accounts.length > 1 && !env.CLOUDFLARE_ACCOUNT_ID) {
      return fail("More than one account available but unable to select one in non-interactive mode.");
    }
    const failure = this.failing.get(command);
    if (failure) return fail(failure);

    const positional = (i: number) => args.filter((a) => !a.startsWith("-"))[i];
    switch (command) {
      case "d1 list":
        return ok(JSON.stringify(this.databases.map((d) => ({ ...d, created_at: "2026-11-22T00:00:00Z", version: "production" })), null, 2));
      case "d1 create": {
        const name = positional(2)!;
        if (this.databases.some((d) => d.name === name)) return fail(`A database with that name already exists [code: 7502]`);
        this.databases.push({ uuid: randomUUID(), name });
        return ok(`✅ Successfully created DB '${name}'\n`);
      }
      case "kv namespace list":
        return ok(JSON.stringify(this.namespaces.map((n) => ({ ...n, supports_url_encoding: true })), null, "  "));
      case "kv namespace create": {
        const title = positional(3)!;
        if (this.namespaces.some((n) => n.title === title)) return fail(`A KV namespace with the title "${title}" already exists.`);
        this.namespaces.push({ id: randomBytes(16).toString("hex"), title });
        return ok(`🌀 Creating namespace with title "${title}"\n✨ Success!\n`);
      }
      case "d1 migrations apply": {
        const config = this.readConfig(args, options);
        const databaseId = config.match(/^database_id = "([^"]+)"/m)?.[1];
        if (!databaseId) {
          return fail(`Found a database with name or binding ${positional(3)} but it is missing a database_id, which is needed for operations on remote resources.`);
        }
        if (!this.databases.some((d) => d.uuid === databaseId)) return fail(`Couldn't find DB with name '${databaseId}'`);
        const pending = this.migrations.filter((m) => !this.applied.includes(m));
        if (pending.length === 0) return ok("✅ No migrations to apply!\n");
        this.applied.push(...pending);
        return ok(`Migrations to be applied:\n${pending.map((m) => `│ ${m} │`).join("\n")}\n${pending.map((m) => `│ ${m} │ ✅ │`).join("\n")}\n`);
      }
      case "secret list":
        this.readConfig(args, options);
        if (!this.worker) {
          return fail(
            `Worker "${this.workerName}" not found.\n\nIf this is a new Worker, run \`wrangler deploy\` first to create it.\nOtherwise, check that the Worker name is correct and you're logged into the right account.`,
          );
        }
        return ok(JSON.stringify([...this.worker.secrets.keys()].map((name) => ({ name, type: "secret_text" })), null, "  "));
      case "secret bulk": {
        this.readConfig(args, options);
        if (options.input === undefined) return fail("🚨 No content found in file, or piped input.");
        const secrets = JSON.parse(options.input) as Record<string, string>;
        let stdout = `🌀 Creating the secrets for the Worker "${this.workerName}"\n`;
        if (!this.worker) {
          this.worker = { secrets: new Map(), deployments: 0, vars: {}, draft: true };
          stdout += `🌀 Creating new Worker "${this.workerName}"...\n`;
        }
        for (const [name, value] of Object.entries(secrets)) this.worker.secrets.set(name, value);
        return ok(`${stdout}✨ ${Object.keys(secrets).length} secrets successfully uploaded\n`);
      }
      case "deploy": {
        const config = this.readConfig(args, options);
        const databaseId = config.match(/^database_id = "([^"]+)"/m)?.[1];
        const kvId = config.match(/^id = "([^"]+)"/m)?.[1];
        if (!this.databases.some((d) => d.uuid === databaseId) || !this.namespaces.some((n) => n.id === kvId)) {
          return fail("the deploy config does not name this account's D1 database and KV namespace");
        }
        const vars: Record<string, string> = { ORIGIN: "" };
        args.forEach((a, i) => {
          if (a === "--var") {
            const [name, ...value] = args[i + 1]!.split(":");
            vars[name!] = value.join(":");
          }
        });
        this.worker ??= { secrets: new Map(), deployments: 0, vars: {}, draft: false };
        this.worker.deployments++;
        this.worker.vars = vars;
        this.worker.draft = false;
        return ok(
          `Total Upload: 1087.78 KiB / gzip: 201.11 KiB\nUploaded ${this.workerName} (3.10 sec)\n` +
            `Deployed ${this.workerName} triggers (0.52 sec)\n  ${this.workersDevUrl}\nCurrent Version ID: ${randomUUID()}\n`,
        );
      }
    }
    throw new Error(`unhandled ${command}`);
  };

  /** The --config file, as wrangler would read it (relative to the working directory). */
  private readConfig(args: string[], options: RunOptions): string {
    const at = args.indexOf("--config");
    if (at < 0) throw new Error(`\`wrangler ${args.join(" ")}\` without --config would use wrangler.toml, which has no ids`);
    return readFileSync(join(options.cwd ?? ".", args[at + 1]!), "utf8");
  }
}
