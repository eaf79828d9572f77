#!/usr/bin/env node
// `npm run bench [-- --concurrency 8 --requests 2000 --warmup 100 --no-write --echo]`
//
// Starts its own local instance (`npm run dev` on a free loopback port, fresh state),
// claims it, and measures three operations over real HTTP:
//   login    POST /auth/login with a signed challenge. The challenge request and the
//            signing happen before each measured batch and are not counted.
//   refresh  POST /auth/refresh, each request presenting the token the previous one
//            returned; one independent session per concurrent client.
//   api      GET /api/sessions with a Bearer token (JWT check + session-revocation
//            check + the session list).
// For each: requests per second, p50/p99 latency, and CPU time of the workerd
// processes per request (utime+stime from /proc, before and after). It then prints
// a Markdown table and rewrites the results section of docs/benchmarks.md.
// Then, on the same instance, scripts/bench-messages.mjs: one message fanned out to
// 1,000 sockets, and POST /messages per second (results in docs/messages.md).
// A benchmark, not a test: nothing here judges the numbers.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT, processTree, startDevServer } from "./lib/devServer.mjs";
import { createOwner } from "./lib/ownerClient.mjs";
import { benchMessages, writeMessagesSection } from "./bench-messages.mjs";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", default: "8" },
    requests: { type: "string", default: "2000" },
    warmup: { type: "string", default: "100" },
    "no-write": { type: "boolean", default: false },
    echo: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(
    "usage: npm run bench -- [--concurrency N] [--requests N] [--warmup N] [--no-write] [--echo]\n" +
      "  --concurrency  requests in flight at once (default 8)\n" +
      "  --requests     measured requests per operation (default 2000)\n" +
      "  --warmup       unmeasured requests per operation first (default 100)\n" +
      "  --no-write     print the table only; leave docs/benchmarks.md alone\n" +
      "  --echo         show the dev server's output",
  );
  process.exit(0);
}
const positiveInt = (name, min) => {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return n;
};
const CONCURRENCY = positiveInt("concurrency", 1);
const REQUESTS = positiveInt("requests", 1);
const WARMUP = positiveInt("warmup", 0);
// Logins are measured in batches: fetch and sign a batch's challenges (unmeasured),
// then send its logins. Challenges live 120 s, so a batch must be quick to use up.
const LOGIN_BATCH = Math.max(CONCURRENCY, Math.min(200, CONCURRENCY * 25));

const CLOCK_TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const DOCS_PATH = join(REPO_ROOT, "docs", "benchmarks.md");
const START_MARKER = "<!-- bench:start -->";
const END_MARKER = "<!-- bench:end -->";

// --- measuring ------------------------------------------------------------------

/** CPU ticks (utime+stime) so far of every process of the server, by pid. */
function cpuSnapshot(server) {
  const snapshot = new Map();
  for (const p of processTree(server.pgid)) snapshot.set(p.pid, { comm: p.comm, ticks: p.cpuTicks });
  return snapshot;
}

/** Busy CPU ticks of the whole machine so far, all cores (the "cpu" line of /proc/stat). */
function machineBusyTicks() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n", 1)[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return user + nice + system + irq + softirq + steal;
}

/** This process's own CPU time so far, in ms. */
function clientCpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** CPU milliseconds used between two snapshots by processes named `comm` (or all). */
function cpuMsBetween(before, after, comm) {
  let ticks = 0;
  for (const [pid, a] of after) {
    if (comm !== undefined && a.comm !== comm) continue;
    const b = before.get(pid);
    // A process that appeared in between (wrangler restarted workerd) counts whole.
    ticks += a.ticks - (b?.ticks ?? 0);
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** A samples accumulator for one operation, possibly over several measured spans. */
class Measurement {
  constructor() {
    this.latenciesMs = [];
    this.wallMs = 0;
    this.workerdCpuMs = 0;
    this.wranglerCpuMs = 0;
    this.clientCpuMs = 0;
    // CPU used meanwhile by processes that are neither the server nor this client.
    this.elsewhereCpuMs = 0;
    this.processesChanged = false;
  }

  /** Runs `count` calls of `op(i)` at `concurrency`, timing each one and the span. */
  async span(server, count, concurrency, op) {
    const before = cpuSnapshot(server);
    const machineBefore = machineBusyTicks();
    const clientBefore = clientCpuMs();
    const started = performance.now();
    this.latenciesMs.push(...(await runConcurrently(count, concurrency, op, true)));
    this.wallMs += performance.now() - started;
    const clientMs = clientCpuMs() - clientBefore;
    const machineMs = ((machineBusyTicks() - machineBefore) * 1000) / CLOCK_TICKS_PER_S;
    const after = cpuSnapshot(server);
    this.workerdCpuMs += cpuMsBetween(before, after, "workerd");
    this.wranglerCpuMs += cpuMsBetween(before, after, "node");
    this.clientCpuMs += clientMs;
    this.elsewhereCpuMs += Math.max(0, machineMs - clientMs - cpuMsBetween(before, after));
    const pids = (s, comm) => [...s].filter(([, p]) => p.comm === comm).map(([pid]) => pid).sort().join();
    if (pids(before, "workerd") !== pids(after, "workerd")) this.processesChanged = true;
  }

  summary() {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    const n = sorted.length;
    // Nearest-rank percentile.
    const percentile = (q) => sorted[Math.max(0, Math.ceil(q * n) - 1)];
    return {
      requests: n,
      requestsPerS: (n * 1000) / this.wallMs,
      p50Ms: percentile(0.5),
      p99Ms: percentile(0.99),
      workerdCpuMsPerRequest: this.workerdCpuMs / n,
      wranglerCpuMsPerRequest: this.wranglerCpuMs / n,
      clientCpuMsPerRequest: this.clientCpuMs / n,
      // Average share of the machine's cores that other processes kept busy.
      elsewhereShare: this.elsewhereCpuMs / (this.wallMs * os.availableParallelism()),
      processesChanged: this.processesChanged,
    };
  }
}

/**
 * Calls op(i, worker) for i in [0, count) with at most `concurrency` in flight;
 * worker is the index of the loop making the call (0..concurrency-1), so each loop
 * can own a session. Returns each call's latency in ms when `timed`.
 */
async function runConcurrently(count, concurrency, op, timed = false) {
  const latencies = [];
  let next = 0;
  const loop = async (worker) => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await op(i, worker);
      if (timed) latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, w) => loop(w)));
  return latencies;
}

// --- the operations ----------------------------------------------------------------

async function benchLogins(server, owner) {
  const device = owner.device(); // keeps no state between logins that matters here
  const prepare = async (count) => {
    const assertions = new Array(count);
    await runConcurrently(count, CONCURRENCY, async (i) => {
      assertions[i] = await device.assertion(await device.challenge());
    });
    return assertions;
  };
  const login = (assertions) => (i) => owner.device().loginWith(assertions[i], "bench login");

  if (WARMUP > 0) await runConcurrently(WARMUP, CONCURRENCY, login(await prepare(WARMUP)));
  const m = new Measurement();
  for (let done = 0; done < REQUESTS; ) {
    const batch = Math.min(LOGIN_BATCH, REQUESTS - done);
    const assertions = await prepare(batch);
    await m.span(server, batch, CONCURRENCY, login(assertions));
    done += batch;
  }
  return m.summary();
}

async function benchChallenges(server, owner) {
  const device = owner.device();
  const call = () => device.challenge();
  if (WARMUP > 0) await runConcurrently(WARMUP, CONCURRENCY, call);
  const m = new Measurement();
  await m.span(server, REQUESTS, CONCURRENCY, call);
  return m.summary();
}

async function benchRefreshes(server, sessions) {
  const refresh = (_i, worker) => sessions[worker].refresh();
  if (WARMUP > 0) await runConcurrently(WARMUP, CONCURRENCY, refresh);
  const m = new Measurement();
  await m.span(server, REQUESTS, CONCURRENCY, refresh);
  return m.summary();
}

async function benchApi(server, sessions) {
  const call = (_i, worker) => sessions[worker].getSessions();
  if (WARMUP > 0) await runConcurrently(WARMUP, CONCURRENCY, call);
  const m = new Measurement();
  await m.span(server, REQUESTS, CONCURRENCY, call);
  return m.summary();
}

// --- reporting -------------------------------------------------------------------

const fmt = (x, digits) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function markdownTable(rows) {
  const lines = [
    "| Operation | Requests | Concurrency | Requests/s | p50 (ms) | p99 (ms) | workerd CPU/request (ms) | wrangler (Node) CPU/request (ms) |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const { label, result } of rows) {
    lines.push(
      `| ${label} | ${fmt(result.requests, 0)} | ${CONCURRENCY} | ${fmt(result.requestsPerS, 0)} | ` +
        `${fmt(result.p50Ms, 1)} | ${fmt(result.p99Ms, 1)} | ${fmt(result.workerdCpuMsPerRequest, 2)} | ` +
        `${fmt(result.wranglerCpuMsPerRequest, 2)} |`,
    );
  }
  return lines.join("\n");
}

/** What else used the CPU during each run: this client, and unrelated processes. */
function contextTable(rows) {
  const lines = [
    "| Operation | benchmark client CPU/request (ms) | CPU used by other processes (% of all cores) |",
    "|---|--:|--:|",
  ];
  for (const { label, result } of rows) {
    lines.push(
      `| ${label.split(":")[0]} | ${fmt(result.clientCpuMsPerRequest, 2)} | ${fmt(result.elsewhereShare * 100, 0)} % |`,
    );
  }
  return lines.join("\n");
}

function cpuModel() {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "unknown";
  }
}

/** The commit measured, and whether the working tree differed from it. */
function commitInfo() {
  try {
    const git = (...args) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "wrangler.toml", "migrations");
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " with uncommitted changes to the Worker" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

function machineInfo(workerdCount) {
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, commit ${commitInfo()}`,
    `- Node ${process.version}, wrangler ${packageVersion("wrangler")}, ` +
      `workerd ${packageVersion("workerd")} (${workerdCount} workerd processes measured)`,
    `- ${os.availableParallelism()} CPUs (nproc), ${cpuModel()}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM, ` +
      `Linux ${os.release()}`,
    `- ${fmt(REQUESTS, 0)} measured requests per operation after ${WARMUP} warm-up requests, ` +
      `${CONCURRENCY} in flight; client, wrangler and workerd share the machine`,
  ].join("\n");
}

function writeDocs(section) {
  const block = `${START_MARKER}\n${section}\n${END_MARKER}`;
  let text;
  if (existsSync(DOCS_PATH)) {
    text = readFileSync(DOCS_PATH, "utf8");
    const start = text.indexOf(START_MARKER);
    const end = text.indexOf(END_MARKER);
    text =
      start >= 0 && end > start
        ? text.slice(0, start) + block + text.slice(end + END_MARKER.length)
        : `${text.trimEnd()}\n\n${block}\n`;
  } else {
    text = `# Benchmarks\n\nWritten by \`npm run bench\` (scripts/bench.mjs).\n\n${block}\n`;
  }
  writeFileSync(DOCS_PATH, text);
}

// --- main ----------------------------------------------------------------------------

async function main() {
  console.error("[bench] starting a local instance with npm run dev ...");
  const server = await startDevServer({
    // Every request comes from one address; the default 300/min would answer 429.
    // 1,000,000 is the largest value the settings accept.
    vars: { RATE_LIMIT_PER_MIN: "1000000" },
    echo: flags.echo,
  });
  const stopOnSignal = (signal) => {
    server.stop().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);

  try {
    console.error(`[bench] ${server.url} is up; claiming it`);
    const owner = await createOwner(server.origin);
    await owner.claim(server.setupCode, "bench owner");
    // One session per concurrent client, for the refresh and API runs.
    const sessions = [];
    for (let w = 0; w < CONCURRENCY; w++) {
      const device = owner.device();
      await device.login(`bench device ${w}`);
      sessions.push(device);
    }

    // The API run goes first, while the session list is short (CONCURRENCY + 1).
    const rows = [];
    console.error(`[bench] api: GET /api/sessions x ${REQUESTS}`);
    rows.push({ label: `API: \`GET /api/sessions\` (${CONCURRENCY + 1} sessions listed)`, result: await benchApi(server, sessions) });
    console.error(`[bench] refresh: POST /auth/refresh x ${REQUESTS}`);
    rows.push({ label: `Refresh: \`POST /auth/refresh\` (rotating, ${CONCURRENCY} sessions)`, result: await benchRefreshes(server, sessions) });
    console.error(`[bench] challenge: POST /auth/challenge x ${REQUESTS}`);
    rows.push({ label: "Challenge: `POST /auth/challenge`", result: await benchChallenges(server, owner) });
    console.error(`[bench] login: POST /auth/login x ${REQUESTS}`);
    rows.push({ label: "Login: `POST /auth/login` only (challenge fetched beforehand)", result: await benchLogins(server, owner) });

    const workerdCount = server.workerdProcesses().length;
    const changed = rows.filter((r) => r.result.processesChanged).map((r) => r.label);
    const table = markdownTable(rows);
    const notes = changed.length
      ? `\n\nNote: the set of workerd processes changed during ${changed.join(", ")} (wrangler reloaded?); ` +
        "CPU for that row includes any new process's whole lifetime."
      : "";
    const section = `${table}${notes}\n\n${contextTable(rows)}\n\n${machineInfo(workerdCount)}`;
    console.log(section);
    if (!flags["no-write"]) {
      writeDocs(section);
      console.error(`[bench] wrote ${DOCS_PATH}`);
    }

    // Private messages and the live channel: scripts/bench-messages.mjs, same instance.
    const listener = owner.device();
    await listener.login("bench listener");
    const messages = await benchMessages(server, listener, { messages: REQUESTS, concurrency: CONCURRENCY, warmup: WARMUP });
    console.log(`\n${messages}`);
    if (!flags["no-write"]) writeMessagesSection(messages);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
