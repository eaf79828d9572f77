/**
 * `npm run deploy` (scripts/deploy.mjs) against a fake Cloudflare account plugged into
 * its one command-runner seam (./fakeCloudflare.ts). Everything else is real: the
 * script's files, secret generation, and the HTTP request that asks the deployed
 * instance whether it is claimed (served here by a local server standing in for it).
 */
import { createPrivateKey } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  DEPLOY_CONFIG_FILE,
  DeployError,
  deploy,
  findWorkersDevUrl,
  main,
  normalizeOrigin,
  OWNER_SETTINGS_FILE,
  parseArgs,
  readBaseConfig,
  renderDeployConfig,
  REPO_ROOT,
} from "../../scripts/deploy.mjs";
import { run } from "../../scripts/lib/runner.mjs";
import { FakeCloudflare } from "./fakeCloudflare";

const SECRET_NAMES = ["SETUP_CODE", "INSTANCE_SIGNING_KEY", "DATA_KEY", "FEDERATION_KEY", "INDIEAUTH_INTROSPECTION_SECRET"];
const SETUP_CODE_FORMAT = /^([A-Z2-9]{4}-){7}[A-Z2-9]{4}$/;

// The deployed instance's discovery document, answering for whichever fake is current.
let account: FakeCloudflare;
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== "/.well-known/indienet") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ protocol: "indienet/1", origin, claimed: account.claimed }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

// Each test gets a project directory of its own holding the real wrangler.toml.
let rootDir: string;
let lines: string[];
const log = (line: string) => lines.push(line);
const output = () => lines.join("\n");

beforeEach(() => {
  account = new FakeCloudflare();
  rootDir = mkdtempSync(join(tmpdir(), "indienet-deploy-"));
  copyFileSync(join(REPO_ROOT, "wrangler.toml"), join(rootDir, "wrangler.toml"));
  lines = [];
});

afterEach(() => {
  rmSync(rootDir, { recursive: true, force: true });
});

function deployNow(options: { origin?: string; accountId?: string; newSetupCode?: boolean } = {}) {
  return deploy({ runner: account.run, log, rootDir, ...options });
}

function secretsSnapshot(): Record<string, string> {
  return Object.fromEntries(account.worker!.secrets);
}

describe("first deploy", () => {
  it("creates D1 and KV, applies the migrations, sets all five secrets, deploys with ORIGIN and prints the setup code", async () => {
    const result = await deployNow({ origin });

    expect(account.commands()).toEqual([
      "whoami",
      "d1 list",
      "d1 create",
      "d1 list",
      "kv namespace list",
      "kv namespace create",
      "kv namespace list",
      "d1 migrations apply",
      "secret list",
      "secret bulk",
      "deploy",
    ]);
    // Resources: the names from wrangler.toml, ids written only to the generated config.
    expect(account.databases.map((d) => d.name)).toEqual(["indienet"]);
    expect(account.namespaces.map((n) => n.title)).toEqual(["indienet-identity-cache"]);
    const generated = readFileSync(join(rootDir, DEPLOY_CONFIG_FILE), "utf8");
    expect(generated).toContain(`database_id = "${account.databases[0]!.uuid}"`);
    expect(generated).toContain(`id = "${account.namespaces[0]!.id}"`);
    expect(readFileSync(join(rootDir, "wrangler.toml"), "utf8")).toBe(readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8"));
    // Schema, code, settings.
    expect(account.applied).toEqual(account.migrations);
    expect(account.worker!.deployments).toBe(1);
    expect(account.worker!.vars.ORIGIN).toBe(origin);
    expect(JSON.parse(readFileSync(join(rootDir, OWNER_SETTINGS_FILE), "utf8"))).toEqual({ origin });
    // Secrets, each well formed.
    const secrets = secretsSnapshot();
    expect(Object.keys(secrets).sort()).toEqual([...SECRET_NAMES].sort());
    expect(secrets.SETUP_CODE).toMatch(SETUP_CODE_FORMAT);
    expect(JSON.parse(secrets.INSTANCE_SIGNING_KEY!)).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect(Buffer.from(secrets.DATA_KEY!, "base64url")).toHaveLength(32);
    const federationKey = createPrivateKey(secrets.FEDERATION_KEY!);
    expect(federationKey.asymmetricKeyType).toBe("rsa");
    expect(federationKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(Buffer.from(secrets.INDIEAUTH_INTROSPECTION_SECRET!, "base64url")).toHaveLength(32);
    // The introspection secret is meant for the owner's resource servers: shown once, when set.
    expect(output().split(secrets.INDIEAUTH_INTROSPECTION_SECRET!)).toHaveLength(2);
    expect(output()).toContain(`IndieAuth introspection secret: ${secrets.INDIEAUTH_INTROSPECTION_SECRET}`);
    // The setup code is shown; the other secrets never are, and never sit in arguments.
    expect(result).toMatchObject({ url: origin, claimed: false, setupCode: secrets.SETUP_CODE });
    expect(output()).toContain(`[deploy] setup code:   ${secrets.SETUP_CODE}`);
    for (const name of ["INSTANCE_SIGNING_KEY", "DATA_KEY", "FEDERATION_KEY"]) {
      const value = secrets[name]!;
      const telltale = name === "INSTANCE_SIGNING_KEY" ? JSON.parse(value).d : value.split("\n")[1]!;
      expect(output()).not.toContain(telltale);
      expect(account.calls.flatMap((c) => c.args).join(" ")).not.toContain(telltale);
    }
    expect(account.calls.find((c) => c.command === "secret bulk")!.input).toBe(JSON.stringify(secrets));
  });

  it("announces each step before running it", async () => {
    await deployNow({ origin });
    const announced = lines.filter((l) => /^\[deploy\] \d\/6 /.test(l));
    expect(announced).toEqual([
      "[deploy] 1/6 check that wrangler is logged in",
      "[deploy] 2/6 create or reuse the D1 database and the KV namespace",
      "[deploy] 3/6 apply pending D1 migrations to the remote database",
      "[deploy] 4/6 generate and set the secrets that are missing (existing ones are kept)",
      "[deploy] 5/6 deploy the Worker",
      "[deploy] 6/6 find the instance and whether it is claimed",
    ]);
    // The command line is printed before the command runs.
    const deployLine = lines.findIndex((l) => l.includes("$ wrangler deploy --config wrangler.deploy.toml"));
    expect(deployLine).toBeGreaterThan(lines.indexOf("[deploy] 5/6 deploy the Worker"));
  });

  it("without --origin, deploys with an empty ORIGIN and reports the workers.dev URL", async () => {
    // No Worker answers at this made-up host (a DNS error offline, an error page
    // online), so the claimed check fails softly, as after a real first deploy
    // whose workers.dev name has not propagated yet.
    account.workersDevUrl = "https://indienet-identity.owner.invalid.workers.dev";
    const result = await deployNow();
    expect(account.worker!.vars.ORIGIN).toBe("");
    expect(account.calls.find((c) => c.command === "deploy")!.args).not.toContain("--var");
    expect(result.url).toBe(account.workersDevUrl);
    expect(result.claimed).toBeUndefined();
    expect(output()).toContain("could not ask the instance");
    expect(output()).toContain(`[deploy] setup code:   ${result.setupCode}`);
    expect(existsSync(join(rootDir, OWNER_SETTINGS_FILE))).toBe(false);
  });

  it("reuses a database and namespace that already exist under the expected names", async () => {
    account.databases.push({ uuid: "6f0c0a3e-5a8f-4b8e-9a43-1c2d3e4f5a6b", name: "indienet" });
    account.namespaces.push({ id: "00112233445566778899aabbccddeeff", title: "indienet-identity-cache" });
    await deployNow({ origin });
    expect(account.commands()).not.toContain("d1 create");
    expect(account.commands()).not.toContain("kv namespace create");
    expect(account.databases).toHaveLength(1);
    expect(account.namespaces).toHaveLength(1);
    expect(output()).toContain('reusing D1 database "indienet" (6f0c0a3e-5a8f-4b8e-9a43-1c2d3e4f5a6b)');
  });
});

describe("re-deploy", () => {
  it("reuses D1 and KV, rotates no secret, applies the new migration and deploys the new code", async () => {
    await deployNow({ origin });
    account.claimed = true;
    const before = secretsSnapshot();
    const resources = { databases: [...account.databases], namespaces: [...account.namespaces] };
    account.migrations.push("0003_next.sql");
    account.calls = [];
    lines = [];

    const result = await deployNow(); // the origin is remembered

    expect(account.commands()).toEqual([
      "whoami",
      "d1 list",
      "kv namespace list",
      "d1 migrations apply",
      "secret list",
      "deploy",
    ]);
    expect(account.commands()).not.toContain("secret bulk");
    expect(secretsSnapshot()).toEqual(before);
    expect({ databases: account.databases, namespaces: account.namespaces }).toEqual(resources);
    expect(account.applied).toEqual(["0001_init.sql", "0002_messages.sql", "0003_next.sql"]);
    expect(account.worker!.deployments).toBe(2);
    expect(account.worker!.vars.ORIGIN).toBe(origin);
    expect(result).toMatchObject({ claimed: true, secretsSet: [], setupCode: undefined });
    expect(output()).toContain("every secret is already set: nothing to do");
    expect(output()).toContain("the instance is claimed: its setup code no longer does anything.");
    expect(output()).not.toContain(before.SETUP_CODE);
  });

  it("on a still-unclaimed instance, says the setup code cannot be read back and how to replace it", async () => {
    const first = await deployNow({ origin });
    lines = [];
    const second = await deployNow();
    expect(second.claimed).toBe(false);
    expect(second.setupCode).toBeUndefined();
    expect(output()).toContain("the instance is not claimed yet.");
    expect(output()).toContain("Cloudflare never shows a secret again");
    expect(output()).toContain("npm run deploy -- --new-setup-code");
    expect(output()).not.toContain(first.setupCode!);
    expect(account.worker!.secrets.get("SETUP_CODE")).toBe(first.setupCode);
  });

  it("generates only a secret that a newer version added", async () => {
    // An instance deployed before FEDERATION_KEY existed.
    await deployNow({ origin });
    account.worker!.secrets.delete("FEDERATION_KEY");
    const before = secretsSnapshot();
    account.calls = [];
    const result = await deployNow();
    const bulk = account.calls.filter((c) => c.command === "secret bulk");
    expect(bulk).toHaveLength(1);
    expect(Object.keys(JSON.parse(bulk[0]!.input!))).toEqual(["FEDERATION_KEY"]);
    expect(result.secretsSet).toEqual(["FEDERATION_KEY"]);
    expect(secretsSnapshot()).toMatchObject(before);
  });

  it("on an instance from before IndieAuth, generates the introspection secret alone and shows it once", async () => {
    await deployNow({ origin });
    account.worker!.secrets.delete("INDIEAUTH_INTROSPECTION_SECRET");
    const before = secretsSnapshot();
    lines = [];
    const result = await deployNow();
    expect(result.secretsSet).toEqual(["INDIEAUTH_INTROSPECTION_SECRET"]);
    const secret = account.worker!.secrets.get("INDIEAUTH_INTROSPECTION_SECRET")!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(output()).toContain(`IndieAuth introspection secret: ${secret}`);
    expect(secretsSnapshot()).toMatchObject(before);
    // A later deploy keeps it and does not show it again.
    lines = [];
    await deployNow();
    expect(account.worker!.secrets.get("INDIEAUTH_INTROSPECTION_SECRET")).toBe(secret);
    expect(output()).not.toContain(secret);
  });

  it("--new-setup-code replaces SETUP_CODE and nothing else", async () => {
    const first = await deployNow({ origin });
    const before = secretsSnapshot();
    lines = [];
    const second = await deployNow({ newSetupCode: true });
    expect(second.secretsSet).toEqual(["SETUP_CODE"]);
    expect(second.setupCode).toMatch(SETUP_CODE_FORMAT);
    expect(second.setupCode).not.toBe(first.setupCode);
    expect(secretsSnapshot()).toEqual({ ...before, SETUP_CODE: second.setupCode });
    expect(output()).toContain(`[deploy] setup code:   ${second.setupCode}`);
  });
});

describe("a failed step", () => {
  it("stops at a failing migration with a message naming the step, exit code 1, and no later step run", async () => {
    account.failing.set("d1 migrations apply", "Migration 0002_messages.sql failed with the following errors: SQLITE_ERROR");
    const errors: string[] = [];
    const code = await main(["--origin", origin], { runner: account.run, log, error: (l) => errors.push(l), rootDir, env: {} });

    expect(code).toBe(1);
    const message = errors.join("\n");
    expect(message).toContain("[deploy] step 3/6 (apply pending D1 migrations to the remote database) failed:");
    expect(message).toContain("`wrangler d1 migrations apply DB --remote --config wrangler.deploy.toml` exited with code 1");
    expect(message).toContain("SQLITE_ERROR");
    expect(message).not.toContain("\u001b["); // wrangler's colours are stripped
    expect(message).toContain("later steps were not run");
    expect(account.commands().at(-1)).toBe("d1 migrations apply");
    expect(account.commands()).not.toContain("secret list");
    expect(account.commands()).not.toContain("deploy");
    expect(account.worker).toBeNull();
    expect(lines).not.toContain("[deploy] 4/6 generate and set the secrets that are missing (existing ones are kept)");
  });

  it("rejects with a DeployError that names the step", async () => {
    account.failing.set("deploy", "A request to the Cloudflare API failed.");
    const failure = await deployNow({ origin }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect(failure).toMatchObject({ stepNumber: 5, stepTitle: "deploy the Worker" });
  });

  it("shows the setup code as soon as it is set, and a re-run finishes the job without rotating it", async () => {
    account.failing.set("deploy", "A request to the Cloudflare API failed.");
    await expect(deployNow({ origin })).rejects.toThrow(/step 5\/6/);
    const code = account.worker!.secrets.get("SETUP_CODE")!;
    expect(output()).toContain(`setup code: ${code}`);

    account.failing.clear();
    const before = secretsSnapshot();
    const result = await deployNow();
    expect(account.databases).toHaveLength(1);
    expect(account.namespaces).toHaveLength(1);
    expect(secretsSnapshot()).toEqual(before);
    expect(result.secretsSet).toEqual([]);
    expect(account.worker!.deployments).toBe(1);
  });

  it("stops at step 1 when wrangler is not logged in, and says how to log in", async () => {
    account.loggedIn = false;
    const errors: string[] = [];
    const code = await main([], { runner: account.run, log, error: (l) => errors.push(l), rootDir, env: {} });
    expect(code).toBe(1);
    expect(errors.join("\n")).toContain("step 1/6 (check that wrangler is logged in) failed: wrangler is not logged in to Cloudflare. Run `npx wrangler login`");
    expect(account.commands()).toEqual(["whoami"]);
  });

  it("asks which account to use when the login has several, then sends every command to it", async () => {
    account.accounts.push({ id: "ffeeddccbbaa99887766554433221100", name: "Work" });
    await expect(deployNow({ origin })).rejects.toThrow(/--account-id <id>[\s\S]*Work \(ffeeddccbbaa99887766554433221100\)/);
    expect(account.commands()).toEqual(["whoami"]);

    account.calls = [];
    await deployNow({ origin, accountId: "ffeeddccbbaa99887766554433221100" });
    expect(account.calls.slice(1).every((c) => c.env.CLOUDFLARE_ACCOUNT_ID === "ffeeddccbbaa99887766554433221100")).toBe(true);
    // Remembered for the next deploy.
    account.calls = [];
    await deployNow();
    expect(account.calls.at(-1)!.env.CLOUDFLARE_ACCOUNT_ID).toBe("ffeeddccbbaa99887766554433221100");
  });

  it("refuses bad arguments with exit code 2 before calling wrangler", async () => {
    const errors: string[] = [];
    const code = await main(["--origin", "http://id.example.org"], { runner: account.run, log, error: (l) => errors.push(l), rootDir, env: {} });
    expect(code).toBe(2);
    expect(errors.join("\n")).toContain("must start with https://");
    expect(account.calls).toEqual([]);
  });
});

describe("helpers", () => {
  const wranglerToml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");

  it("reads the Worker, D1 and KV bindings from the real wrangler.toml", () => {
    expect(readBaseConfig(wranglerToml)).toEqual({
      workerName: "indienet-identity",
      d1: [{ binding: "DB", databaseName: "indienet", hasMigrations: true }],
      kv: [{ binding: "CACHE", title: "indienet-identity-cache" }],
    });
  });

  it("adds the ids to the right tables and changes nothing else", () => {
    const rendered = renderDeployConfig(wranglerToml, {
      d1: { DB: "6f0c0a3e-5a8f-4b8e-9a43-1c2d3e4f5a6b" },
      kv: { CACHE: "00112233445566778899aabbccddeeff" },
    });
    expect(rendered).toMatch(/\[\[d1_databases\]\]\nbinding = "DB"\ndatabase_id = "6f0c0a3e-5a8f-4b8e-9a43-1c2d3e4f5a6b"\n/);
    expect(rendered).toMatch(/\[\[kv_namespaces\]\]\nbinding = "CACHE"\nid = "00112233445566778899aabbccddeeff"\n/);
    const withoutAdded = rendered
      .split("\n")
      .filter((l) => !l.startsWith("database_id = ") && !l.startsWith("id = "))
      .join("\n");
    expect(withoutAdded.endsWith(wranglerToml)).toBe(true);
  });

  it("refuses a wrangler.toml that pins ids itself, so two sources of ids never disagree", () => {
    const pinned = wranglerToml.replace('database_name = "indienet"', 'database_name = "indienet"\ndatabase_id = "x"');
    expect(() => readBaseConfig(pinned)).toThrow(/sets database_id for DB/);
  });

  it("accepts only an https origin (http on loopback), without a path", () => {
    expect(normalizeOrigin("https://id.example.org/")).toBe("https://id.example.org");
    expect(normalizeOrigin("http://127.0.0.1:8787")).toBe("http://127.0.0.1:8787");
    expect(() => normalizeOrigin("http://id.example.org")).toThrow(/https/);
    expect(() => normalizeOrigin("https://id.example.org/app")).toThrow(/without a path/);
    expect(() => normalizeOrigin("id.example.org")).toThrow(/not a URL/);
    expect(parseArgs(["--origin=https://ID.example.org", "--account-id", "abc", "--new-setup-code"])).toEqual({
      origin: "https://id.example.org",
      accountId: "abc",
      newSetupCode: true,
      help: false,
    });
    expect(() => parseArgs(["--force"])).toThrow(/unknown argument/);
  });

  it("finds the Worker's workers.dev URL in wrangler's output", () => {
    const out = "Uploaded indienet-identity\nDeployed indienet-identity triggers (0.52 sec)\n  https://indienet-identity.owner.workers.dev\n";
    expect(findWorkersDevUrl(out, "indienet-identity")).toBe("https://indienet-identity.owner.workers.dev");
    expect(findWorkersDevUrl("Deployed indienet-identity triggers\n  id.example.org (custom domain)\n", "indienet-identity")).toBeUndefined();
  });
});

describe("the generated config with the real wrangler", () => {
  it("is accepted by `wrangler deploy --dry-run` and binds the ids (no account needed)", async () => {
    // Written next to wrangler.toml, as the deploy does, so main and migrations_dir resolve.
    const file = `wrangler.deploy.test-${process.pid}.toml`;
    const outdir = mkdtempSync(join(tmpdir(), "indienet-dry-run-"));
    const kvId = "00112233445566778899aabbccddeeff";
    writeFileSync(
      join(REPO_ROOT, file),
      renderDeployConfig(readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8"), { d1: { DB: "6f0c0a3e-5a8f-4b8e-9a43-1c2d3e4f5a6b" }, kv: { CACHE: kvId } }),
    );
    try {
      const result = await run(
        join(REPO_ROOT, "node_modules", ".bin", "wrangler"),
        ["deploy", "--dry-run", "--outdir", outdir, "--config", file, "--var", "ORIGIN:https://id.example.org"],
        { cwd: REPO_ROOT, env: { WRANGLER_SEND_METRICS: "false" } },
      );
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`env.CACHE (${kvId})`);
      expect(result.stdout).toContain("env.DB (indienet)");
      expect(result.stdout).toContain("--dry-run: exiting now.");
    } finally {
      rmSync(join(REPO_ROOT, file), { force: true });
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
