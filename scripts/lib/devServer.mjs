// Starting and stopping a throwaway local instance with `npm run dev`, exactly as a
// person would. Shared by the end-to-end tests (test/e2e/devServer.ts) and
// `npm run bench` (scripts/bench.mjs). Node built-ins only.
//
// The server runs in its own process group (npm -> scripts/dev.mjs -> wrangler ->
// workerd, esbuild), so stopping it signals the whole group: killing only npm would
// leave wrangler and its workerd processes running.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const LOOPBACK = "127.0.0.1";
const SETUP_CODE_LINE = /\[dev\] setup code:\s+(\S+)/;
const OUTPUT_LIMIT_CHARS = 200_000;

/** True if `port` can be bound on the loopback address right now. */
function canBind(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/** Binds port 0 and returns the port the kernel chose, after closing it again. */
function ephemeralPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A loopback port that is free now. By default the kernel picks one (port 0). When
 * INDIENET_PORT_RANGE=FROM-TO is set (a machine shared with other servers), the
 * first free port of that range is used instead.
 */
export async function findFreePort() {
  const range = process.env.INDIENET_PORT_RANGE?.match(/^(\d+)-(\d+)$/);
  if (!range) return ephemeralPort();
  const from = Number(range[1]);
  const to = Number(range[2]);
  // Start at a random offset so two harnesses sharing a range rarely race for one port.
  const span = to - from + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = from + ((offset + i) % span);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in INDIENET_PORT_RANGE ${from}-${to}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether any process of group `pgid` is still running. Zombies don't count: an
 * orphan reparented to a PID 1 that never reaps (common in containers) stays a
 * zombie in the group forever, but it holds no port and uses no CPU.
 */
function groupAlive(pgid) {
  return processesInGroup(pgid).some((p) => p.state !== "Z");
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

/** pid, ppid, pgid, state, comm and utime+stime (ticks) of every process in /proc (Linux). */
function readProcessTable() {
  const rows = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // comm is in parentheses and may itself contain spaces or ')'; fields after the
    // last ')' are: state(3) ppid(4) ... utime(14) stime(15), numbered as in proc(5).
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    rows.push({
      pid: Number(name),
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      state: fields[0],
      comm,
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return rows;
}

/** Every process descending from `rootPid` (inclusive), from /proc. */
export function processTree(rootPid) {
  const rows = readProcessTable();
  const children = new Map();
  for (const row of rows) {
    if (!children.has(row.ppid)) children.set(row.ppid, []);
    children.get(row.ppid).push(row);
  }
  const root = rows.find((r) => r.pid === rootPid);
  const tree = root ? [root] : [];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i].pid) ?? []));
  return tree;
}

/** Processes still in process group `pgid` (after stop(): none, or something leaked). */
export function processesInGroup(pgid) {
  return readProcessTable().filter((p) => p.pgid === pgid);
}

/**
 * Starts `npm run dev` on a free loopback port with a fresh (or given) --persist-to
 * directory, waits until it answers GET /.well-known/indienet, and returns a handle.
 *
 * options:
 *   persistTo   state directory; default: a new temporary directory, removed on stop()
 *   port        default: findFreePort()
 *   vars        extra `--var NAME:value` settings (ORIGIN is always set to the URL)
 *   args        extra arguments for wrangler dev
 *   readyTimeoutMs  default 90 s (wrangler's first start can take 10-20 s)
 *   echo        copy the server's output to this process's stderr
 */
export async function startDevServer(options = {}) {
  const port = options.port ?? (await findFreePort());
  const ownsPersistDir = options.persistTo === undefined;
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), "indienet-dev-"));
  const url = `http://${LOOPBACK}:${port}`;
  const vars = { ORIGIN: url, ...options.vars };
  const args = ["run", "dev", "--", "--ip", LOOPBACK, "--port", String(port), "--persist-to", persistTo];
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  args.push(...(options.args ?? []));

  let setupCode;
  const server = await launch({
    command: "npm",
    args,
    url,
    echo: options.echo,
    readyTimeoutMs: options.readyTimeoutMs,
    onOutput: (output) => {
      setupCode ??= output.match(SETUP_CODE_LINE)?.[1];
    },
    ready: async () => {
      if (!setupCode) return false;
      const res = await fetch(`${url}/.well-known/indienet`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (!res) return false;
      await res.arrayBuffer();
      return res.ok;
    },
    cleanup: () => {
      if (ownsPersistDir) rmSync(persistTo, { recursive: true, force: true });
    },
  });
  return { ...server, port, persistTo, setupCode };
}

/**
 * Starts `wrangler dev -c <config>` directly (no secrets, no migrations: for the
 * benchmark's own little Workers, scripts/bench/), on a free loopback port with a
 * fresh --persist-to directory, and waits until GET `readyPath` answers 2xx.
 *
 * options: config (path), readyPath (default "/"), port, persistTo (default: a new
 * temporary directory, removed on stop()), vars, args, readyTimeoutMs, pollMs, echo
 */
export async function startWranglerDev(options) {
  const port = options.port ?? (await findFreePort());
  const ownsPersistDir = options.persistTo === undefined;
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), "indienet-wrangler-"));
  const url = `http://${LOOPBACK}:${port}`;
  const wrangler = join(REPO_ROOT, "node_modules", ".bin", "wrangler");
  // Its own inspector port too: wrangler's default (9229) makes two servers started
  // at once race for it, and the loser fails to start.
  const inspectorPort = await findFreePort();
  const args = ["dev", "-c", options.config, "--ip", LOOPBACK, "--port", String(port), "--persist-to", persistTo];
  args.push("--inspector-port", String(inspectorPort));
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);
  args.push(...(options.args ?? []));
  const server = await launch({
    command: wrangler,
    args,
    url,
    echo: options.echo,
    readyTimeoutMs: options.readyTimeoutMs,
    pollMs: options.pollMs,
    ready: async () => {
      const res = await fetch(`${url}${options.readyPath ?? "/"}`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (!res) return false;
      await res.arrayBuffer();
      return res.ok;
    },
    cleanup: () => {
      if (ownsPersistDir) rmSync(persistTo, { recursive: true, force: true });
    },
  });
  return { ...server, port, persistTo };
}

/**
 * Spawns `command` in its own process group and polls `ready()` every `pollMs`
 * (default 200 ms) until it says true. Returns the handle both starters share.
 */
async function launch({ command, args, url, echo, readyTimeoutMs, pollMs, onOutput, ready, cleanup }) {
  const spawnedAtMs = performance.now();
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    // Its own process group, so stop() can signal npm, wrangler and workerd at once.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      // No telemetry or interactive hotkeys; this machine may have no network.
      WRANGLER_SEND_METRICS: "false",
      CI: "true",
      FORCE_COLOR: "0",
      NO_COLOR: "1",
    },
  });
  const pgid = child.pid;

  let output = "";
  let exited = null;
  const onData = (chunk) => {
    const text = chunk.toString("utf8");
    if (echo) process.stderr.write(text);
    output = (output + text).slice(-OUTPUT_LIMIT_CHARS);
    onOutput?.(output);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  // If this process dies without calling stop(), don't leave the server running.
  const killOnExit = () => signalGroup(pgid, "SIGKILL");
  process.once("exit", killOnExit);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", killOnExit);
    signalGroup(pgid, "SIGTERM");
    // wrangler shuts workerd down on SIGTERM; give it a moment, then insist.
    const deadline = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
    if (groupAlive(pgid)) {
      signalGroup(pgid, "SIGKILL");
      const killDeadline = Date.now() + 5_000;
      while (groupAlive(pgid) && Date.now() < killDeadline) await sleep(20);
    }
    await Promise.race([exitPromise, sleep(1_000)]);
    cleanup?.();
  }

  const describe = () => `${basename(command)} ${args.slice(0, 2).join(" ")} on ${url}\n--- output ---\n${output.slice(-4_000)}`;
  const readyDeadline = Date.now() + (readyTimeoutMs ?? 90_000);
  try {
    for (;;) {
      if (exited) throw new Error(`dev server exited early (${JSON.stringify(exited)}): ${describe()}`);
      if (Date.now() > readyDeadline) throw new Error(`dev server not ready in time: ${describe()}`);
      if (await ready()) break;
      await sleep(pollMs ?? 200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const readyAtMs = performance.now();

  return {
    url,
    origin: url,
    /** performance.now() when the process was spawned, and when it first answered. */
    spawnedAtMs,
    readyAtMs,
    /** Process-group id (= pid of the spawned process). */
    pgid,
    output: () => output,
    /** The workerd processes serving this instance, with their CPU ticks so far. */
    workerdProcesses: () => processTree(pgid).filter((p) => p.comm === "workerd"),
    stop,
    /** Resolves when the server process has exited, for whatever reason. */
    exited: exitPromise,
  };
}
