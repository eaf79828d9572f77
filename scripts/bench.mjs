#!/usr/bin/env node
// `npm run bench [-- --requests 1000 --concurrency 1,64 --no-write --echo]`
// `npm run bench -- --cold-start [--runs 5]`
//
// Measures what the server costs per request against floors measured in the same
// run. It starts four local Workers under the same `wrangler dev` harness:
//   the instance       `npm run dev` on a free loopback port, fresh state, claimed
//   the floor          scripts/bench/floor-worker.js, a Worker that does nothing
//                      (floor.wrangler.toml): issue #10's floor
//   the deployed floor the same Worker deployed like the instance: behind `[assets]`
//                      with run_worker_first (floor-assets.wrangler.toml), so each
//                      request also passes wrangler's asset router, as ours do
//   TOTP               scripts/bench/totp-worker.ts, the server's TOTP code in a loop
// and measures, at each concurrency (requests in flight), both floors and then:
//   login      POST /auth/challenge + sign + POST /auth/login, as one operation
//   refresh    POST /auth/refresh, rotating; one session per client in flight
//   api        GET /api/2fa with a Bearer token
//   challenge  POST /auth/challenge
//   messages   POST /messages (public), each with its own JWE sealed beforehand
// then two platform probes on the floor Worker (GET /do-call: one Durable Object
// RPC; GET /do-write: one RPC running one SQLite write transaction), then both
// floors again (the machine may be shared: the two runs show the drift), one
// message fanned out to 1,000 sockets (scripts/bench-messages.mjs), and TOTP secret
// generation and verification per second (CPU time of workerd, per operation). It
// prints a table beside the floors' figures, checks the targets of
// docs/benchmarks.md against the bare floor (the definition) and again
// against the deployed floor (the fair one for our own code); it reports them and
// does not fail on them; and it rewrites the results section of docs/benchmarks.md.
// --cold-start measures instead the time from a new `wrangler dev` to the first
// answer (scripts/bench/cold-start.mjs).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findFreePort, REPO_ROOT, processTree, startDevServer, startWranglerDev } from "./lib/devServer.mjs";
import { createOwner } from "./lib/ownerClient.mjs";
import { benchFanOut, encryptionKey, postMessage, seal } from "./bench-messages.mjs";
import { coldStartSection, runColdStart } from "./bench/cold-start.mjs";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", default: "1,64" },
    requests: { type: "string", default: "1000" },
    warmup: { type: "string", default: "100" },
    sockets: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
    "totp-seconds": { type: "string", default: "2" },
    ops: { type: "string", default: "login,refresh,api,challenge,messages" },
    "cold-start": { type: "boolean", default: false },
    runs: { type: "string", default: "5" },
    config: { type: "string", default: "wrangler.toml" },
    "no-write": { type: "boolean", default: false },
    echo: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(
    "usage: npm run bench -- [--requests N] [--concurrency 1,64] [--warmup N] [--sockets N] [--rounds N]\n" +
      "                        [--totp-seconds S] [--ops login,...] [--no-write] [--echo]\n" +
      "       npm run bench -- --cold-start [--runs N] [--config wrangler.toml] [--no-write] [--echo]\n" +
      "  Measures the operations against two floors (the bare do-nothing Worker, and the same Worker\n" +
      "  deployed like the instance, behind [assets] with run_worker_first) and two Durable Object\n" +
      "  probes (one RPC; one RPC with one SQLite write transaction), all at each concurrency.\n" +
      "  --concurrency   requests in flight, a comma-separated list (default 1,64)\n" +
      "  --requests      measured requests per operation and concurrency (default 1000)\n" +
      "  --warmup        unmeasured requests first, per operation and concurrency (default 100)\n" +
      "  --sockets       sockets for the fan-out (default 1000); --rounds: messages fanned out (default 5)\n" +
      "  --totp-seconds  wall time per TOTP micro-benchmark (default 2)\n" +
      "  --ops           which HTTP operations (default login,refresh,api,challenge,messages)\n" +
      "  --cold-start    measure a new wrangler dev's first answer instead, --runs times (default 5)\n" +
      "  --config        with --cold-start: the instance's wrangler config (default wrangler.toml)\n" +
      "  --no-write      print the results only; leave docs/benchmarks.md alone\n" +
      "  --echo          show the dev servers' output",
  );
  process.exit(0);
}
const positiveInt = (name, min, value = flags[name]) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return n;
};
const CONCURRENCIES = flags.concurrency.split(",").map((c) => positiveInt("concurrency", 1, c.trim()));
const REQUESTS = positiveInt("requests", 1);
const WARMUP = positiveInt("warmup", 0);
const TOTP_SECONDS = Number(flags["totp-seconds"]);
const MAX_CONCURRENCY = Math.max(...CONCURRENCIES);

const CLOCK_TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const DOCS_PATH = join(REPO_ROOT, "docs", "benchmarks.md");
const START_MARKER = "<!-- bench:start -->";
const END_MARKER = "<!-- bench:end -->";
const FLOOR_CONFIG = "scripts/bench/floor.wrangler.toml";
const DEPLOYED_FLOOR_CONFIG = "scripts/bench/floor-assets.wrangler.toml";
const TOTP_CONFIG = "scripts/bench/totp.wrangler.toml";

/**
 * The targets (docs/benchmarks.md, "Targets"). The hot paths' CPU may exceed the
 * floor's by this much; a whole login (two requests) twice the floor's plus this.
 */
const HOT_PATH_CPU_OVER_FLOOR_MS = 1.0;
/** Requests/s at the highest concurrency, as a share of the floor's. */
const MIN_RATE_SHARE_OF_FLOOR = 0.6;
const FAN_OUT_WORST_ROUND_MS = 250;

// --- measuring ------------------------------------------------------------------

/**
 * What a process of a `wrangler dev` does. Each has two workerd processes: wrangler's
 * proxy (the public port; it relays every request, and the DevTools messages of the
 * inspector, and does not exist on Cloudflare) and the Worker's own (the Worker, its
 * Durable Objects, the local D1 and KV; the one with an inspector address). Then
 * wrangler itself, in Node.
 */
const processRoles = new Map(); // pid -> role
function roleOf(p) {
  if (p.comm !== "workerd") return "other";
  let role = processRoles.get(p.pid);
  if (!role) {
    let args = "";
    try {
      args = readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
    } catch {
      // exited while we looked: it counts no more ticks, so its label hardly matters
    }
    role = args.includes("--inspector-addr") ? "runtime" : "proxy";
    processRoles.set(p.pid, role);
  }
  return role;
}

/** CPU ticks (utime+stime) so far of every process of a server, by pid. */
function cpuSnapshot(server) {
  const snapshot = new Map();
  for (const p of processTree(server.pgid)) snapshot.set(p.pid, { comm: p.comm, role: roleOf(p), ticks: p.cpuTicks });
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

/** CPU milliseconds used between two snapshots by processes named `comm` (or all), of `role` (or any). */
function cpuMsBetween(before, after, comm, role) {
  let ticks = 0;
  for (const [pid, a] of after) {
    if (comm !== undefined && a.comm !== comm) continue;
    if (role !== undefined && a.role !== role) continue;
    const b = before.get(pid);
    // A process that appeared in between (wrangler restarted workerd) counts whole.
    ticks += a.ticks - (b?.ticks ?? 0);
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** workerd CPU ms so far, of one server. */
function workerdCpuMs(server) {
  const ticks = processTree(server.pgid)
    .filter((p) => p.comm === "workerd")
    .reduce((sum, p) => sum + p.cpuTicks, 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** Samples of one operation at one concurrency. */
class Measurement {
  constructor() {
    this.latenciesMs = [];
    this.wallMs = 0;
    this.workerdCpuMs = 0;
    // The same, split: wrangler's proxy workerd and the Worker's own (see roleOf).
    this.proxyCpuMs = 0;
    this.runtimeCpuMs = 0;
    this.clientCpuMs = 0;
    // CPU used meanwhile by processes that are neither the server nor this client.
    this.elsewhereCpuMs = 0;
    this.processesChanged = false;
    // Operations that failed: counted and reported, not fatal, so one bad row
    // does not lose the rest of the run.
    this.errors = new Map(); // message -> count
  }

  /**
   * Runs `count` calls of `op(i, worker)` at `concurrency`, timing each one and the
   * span. `others` are the other servers of the run: their CPU is not "elsewhere".
   */
  async span(server, others, count, concurrency, op) {
    const before = cpuSnapshot(server);
    const othersBefore = others.map(cpuSnapshot);
    const machineBefore = machineBusyTicks();
    const clientBefore = clientCpuMs();
    const started = performance.now();
    this.latenciesMs.push(...(await runConcurrently(count, concurrency, op, true, this.errors)));
    this.wallMs += performance.now() - started;
    const clientMs = clientCpuMs() - clientBefore;
    const machineMs = ((machineBusyTicks() - machineBefore) * 1000) / CLOCK_TICKS_PER_S;
    const after = cpuSnapshot(server);
    const othersMs = others.reduce((sum, o, i) => sum + cpuMsBetween(othersBefore[i], cpuSnapshot(o)), 0);
    this.workerdCpuMs += cpuMsBetween(before, after, "workerd");
    this.proxyCpuMs += cpuMsBetween(before, after, "workerd", "proxy");
    this.runtimeCpuMs += cpuMsBetween(before, after, "workerd", "runtime");
    this.clientCpuMs += clientMs;
    this.elsewhereCpuMs += Math.max(0, machineMs - clientMs - cpuMsBetween(before, after) - othersMs);
    const pids = (s, comm) => [...s].filter(([, p]) => p.comm === comm).map(([pid]) => pid).sort().join();
    if (pids(before, "workerd") !== pids(after, "workerd")) this.processesChanged = true;
  }

  summary() {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    const n = sorted.length;
    // Nearest-rank percentile.
    const percentile = (q) => sorted[Math.max(0, Math.ceil(q * n) - 1)];
    const failed = [...this.errors.values()].reduce((a, b) => a + b, 0);
    return {
      requests: n,
      failed,
      errors: [...this.errors].map(([message, count]) => `${count} × ${message}`),
      requestsPerS: (n * 1000) / this.wallMs,
      p50Ms: percentile(0.5),
      p99Ms: percentile(0.99),
      workerdCpuMsPerRequest: this.workerdCpuMs / n,
      proxyCpuMsPerRequest: this.proxyCpuMs / n,
      runtimeCpuMsPerRequest: this.runtimeCpuMs / n,
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
 * can own a session. Returns each successful call's latency in ms when `timed`.
 * With an `errors` map, a failed call is counted there by message instead of
 * ending the run.
 */
async function runConcurrently(count, concurrency, op, timed = false, errors = undefined) {
  const latencies = [];
  let next = 0;
  const loop = async (worker) => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      try {
        await op(i, worker);
      } catch (err) {
        if (!errors) throw err;
        const message = String(err?.message ?? err).slice(0, 160);
        errors.set(message, (errors.get(message) ?? 0) + 1);
        continue;
      }
      if (timed) latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, w) => loop(w)));
  return latencies;
}

/** Warm-up, then one measured span of `op`, at one concurrency. */
async function measure(server, others, concurrency, op) {
  if (WARMUP > 0) await runConcurrently(WARMUP, concurrency, (i, w) => op(i, w, "warmup"), false, new Map());
  const m = new Measurement();
  await m.span(server, others, REQUESTS, concurrency, (i, w) => op(i, w, "measured"));
  return m.summary();
}

// --- the operations ----------------------------------------------------------------

async function floorRequest(floor, path = "/") {
  const res = await fetch(`${floor.url}${path}`);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`floor ${path}: HTTP ${res.status}`);
}

/**
 * The platform probes (scripts/bench/floor-worker.js), on the bare floor Worker:
 * what the Durable Object costs before any of our code runs in it.
 */
const PROBES = [
  {
    path: "/do-call",
    label: "Probe: floor Worker `GET /do-call`, one Durable Object RPC returning a constant",
  },
  {
    path: "/do-write",
    label: "Probe: floor Worker `GET /do-write`, one RPC running one `transactionSync` upsert",
  },
  {
    path: "/d1-write",
    label: "Probe: floor Worker `GET /d1-write`, one D1 insert of a 1 KB row (as a message is stored)",
  },
  {
    path: "/d1-read",
    label: "Probe: floor Worker `GET /d1-read`, one D1 query reading one row (as a login reads the owner's keys)",
  },
];

/**
 * The operations, each `{ key, label, requestsPerOp, hotPath, prepare(concurrency) -> op }`.
 * requestsPerOp is how many floor requests the operation is compared with.
 */
function operations(owner, sessions, sealer) {
  return [
    {
      key: "login",
      label: "Login: `POST /auth/challenge` + sign + `POST /auth/login`, one operation",
      requestsPerOp: 2,
      prepare: () => () => owner.device().login("bench login"),
    },
    {
      key: "refresh",
      label: "Refresh: `POST /auth/refresh` (rotating, one session per client)",
      requestsPerOp: 1,
      hotPath: true,
      prepare: () => (_i, worker) => sessions[worker].refresh(),
    },
    {
      key: "api",
      label: "API: `GET /api/2fa` (Bearer)",
      requestsPerOp: 1,
      hotPath: true,
      prepare: () => (_i, worker) => sessions[worker].getTwoFactor(),
    },
    {
      key: "challenge",
      label: "Challenge: `POST /auth/challenge`",
      requestsPerOp: 1,
      hotPath: true,
      prepare: () => {
        const device = owner.device();
        return () => device.challenge();
      },
    },
    {
      key: "messages",
      label: "Messages: public `POST /messages` (sealed beforehand)",
      requestsPerOp: 1,
      hotPath: true,
      prepare: async () => {
        const jwes = { warmup: [], measured: [] };
        for (const phase of ["warmup", "measured"]) {
          const count = phase === "warmup" ? WARMUP : REQUESTS;
          jwes[phase] = await Promise.all(Array.from({ length: count }, (_, i) => seal(sealer, `bench ${phase} ${i}`)));
        }
        return (i, _worker, phase) => postMessage(owner.origin, jwes[phase][i]);
      },
    },
  ];
}

// --- TOTP micro-benchmark ------------------------------------------------------------

const TOTP_OPERATIONS = [
  { op: "generate", label: "TOTP secret generation (random, seal, base32, otpauth URI)" },
  { op: "verify", label: "TOTP verification (unseal, three HOTP codes in the ±1 window)" },
  { op: "qr", label: "QR code of the otpauth URI as SVG (uqr, rest of POST /api/2fa/totp)" },
];

/** Runs `op` `n` times in one request to the TOTP Worker. */
async function totpBatch(totp, op, n) {
  const res = await fetch(`${totp.url}/?op=${op}&n=${n}`, { method: "POST" });
  const body = await res.text();
  if (!res.ok) throw new Error(`TOTP worker ${op}: HTTP ${res.status} ${body.slice(0, 300)}`);
}

/**
 * Batches of `op` until TOTP_SECONDS of wall time have passed; a first batch sizes
 * the rest at about 100 ms each, so the per-request overhead (the floor's, under a
 * millisecond) is negligible. CPU is workerd's, from /proc, per operation.
 */
async function benchTotp(totp, op) {
  let n = 50;
  const t0 = performance.now();
  await totpBatch(totp, op, n);
  n = Math.max(1, Math.round((n * 100) / Math.max(1, performance.now() - t0)));
  const cpuBefore = workerdCpuMs(totp);
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < TOTP_SECONDS * 1000) {
    await totpBatch(totp, op, n);
    done += n;
  }
  const wallMs = performance.now() - started;
  const cpuMs = workerdCpuMs(totp) - cpuBefore;
  return { operations: done, perS: (done * 1000) / wallMs, cpuUsPerOp: (cpuMs * 1000) / done, perCpuS: (done * 1000) / cpuMs };
}

// --- reporting -------------------------------------------------------------------

const fmt = (x, digits) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (x) => `${fmt(x * 100, 0)} %`;

/** The floor's figures for an operation of `requestsPerOp` requests. */
function floorFor(floor, requestsPerOp) {
  return {
    opsPerS: floor.requestsPerS / requestsPerOp,
    cpuMsPerOp: floor.workerdCpuMsPerRequest * requestsPerOp,
  };
}

/** The floor of one concurrency: the mean of the runs before and after the operations. */
function meanFloor(a, b) {
  return {
    requestsPerS: (a.requestsPerS + b.requestsPerS) / 2,
    workerdCpuMsPerRequest: (a.workerdCpuMsPerRequest + b.workerdCpuMsPerRequest) / 2,
    p50Ms: (a.p50Ms + b.p50Ms) / 2,
    p99Ms: (a.p99Ms + b.p99Ms) / 2,
  };
}

/**
 * One row per operation and concurrency, beside the bare floor ("Floor" columns);
 * the last column is the CPU over the floor deployed like the instance (empty for
 * the floors and the probes, which run on the bare floor's Worker).
 */
function mainTable(rows, floors, deployedFloors, probes) {
  const lines = [
    "| Operation | In flight | Ops/s | Floor ops/s | % of floor | p50 / p99 (ms) | workerd CPU/op (ms) | Floor CPU/op (ms) | × floor | Over floor (ms) | Over deployed floor (ms) |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const c of CONCURRENCIES) {
    const f = floors.get(c);
    lines.push(
      `| Floor: do-nothing Worker, one request | ${c} | ${fmt(f.requestsPerS, 0)} | | | ${fmt(f.p50Ms, 1)} / ${fmt(f.p99Ms, 1)} | ` +
        `${fmt(f.workerdCpuMsPerRequest, 2)} | | | | |`,
    );
  }
  const row = (label, c, r, requestsPerOp, overDeployed) => {
    const f = floorFor(floors.get(c), requestsPerOp);
    return (
      `| ${label} | ${c} | ${fmt(r.requestsPerS, 0)} | ${fmt(f.opsPerS, 0)} | ${pct(r.requestsPerS / f.opsPerS)} | ` +
      `${fmt(r.p50Ms, 1)} / ${fmt(r.p99Ms, 1)} | ${fmt(r.workerdCpuMsPerRequest, 2)} | ${fmt(f.cpuMsPerOp, 2)} | ` +
      `${fmt(r.workerdCpuMsPerRequest / f.cpuMsPerOp, 1)} | ${fmt(r.workerdCpuMsPerRequest - f.cpuMsPerOp, 2)} | ` +
      `${overDeployed === undefined ? "" : fmt(overDeployed, 2)} |`
    );
  };
  for (const c of CONCURRENCIES) {
    const label = "Floor deployed like the instance: the same Worker behind `[assets]`, `run_worker_first`";
    lines.push(row(label, c, deployedFloors.get(c), 1));
  }
  for (const { probe, byConcurrency } of probes) {
    for (const c of CONCURRENCIES) lines.push(row(probe.label, c, byConcurrency.get(c), 1));
  }
  for (const { op, byConcurrency } of rows) {
    for (const c of CONCURRENCIES) {
      const r = byConcurrency.get(c);
      const deployed = floorFor(deployedFloors.get(c), op.requestsPerOp);
      lines.push(row(op.label, c, r, op.requestsPerOp, r.workerdCpuMsPerRequest - deployed.cpuMsPerOp));
    }
  }
  return lines.join("\n");
}

/** `floorRuns` and `probes`: [label, Map(concurrency → summary)]. */
function contextTable(rows, floorRuns, probes) {
  const lines = [
    "| Measured | In flight | workerd CPU/op (ms): wrangler's proxy | the Worker's own | benchmark client CPU/op (ms) | CPU used by other processes (% of all cores) |",
    "|---|--:|--:|--:|--:|--:|",
  ];
  const line = (label, c, r) =>
    `| ${label} | ${c} | ${fmt(r.proxyCpuMsPerRequest, 2)} | ${fmt(r.runtimeCpuMsPerRequest, 2)} | ` +
    `${fmt(r.clientCpuMsPerRequest, 2)} | ${pct(r.elsewhereShare)} |`;
  for (const [label, runs] of [...floorRuns, ...probes]) {
    for (const c of CONCURRENCIES) lines.push(line(label, c, runs.get(c)));
  }
  for (const { op, byConcurrency } of rows) {
    for (const c of CONCURRENCIES) lines.push(line(op.label.split(":")[0], c, byConcurrency.get(c)));
  }
  return lines.join("\n");
}

function fanOutTable(fanOut, sockets) {
  const all = fanOut.rounds.map((r) => r.allReceivedMs).sort((a, b) => a - b);
  const cpu = fanOut.rounds.map((r) => r.cpuMs).sort((a, b) => a - b);
  const median = (xs) => xs[Math.max(0, Math.ceil(xs.length / 2) - 1)];
  return {
    worstMs: all.at(-1),
    text: [
      `| Fan-out: one message to ${fmt(sockets, 0)} open sockets | ${fanOut.rounds.length} rounds |`,
      "|---|--:|",
      `| From sending the POST until every socket has it: median / worst | ${fmt(median(all), 1)} ms / ${fmt(all.at(-1), 1)} ms |`,
      `| Each round, in order (ms) | ${fanOut.rounds.map((r) => fmt(r.allReceivedMs, 0)).join(", ")} |`,
      `| The warm-up round before them (the first message after the sockets opened), not counted | ${fmt(fanOut.warmupMs, 1)} ms |`,
      `| workerd CPU per fanned-out message: median | ${fmt(median(cpu), 1)} ms |`,
      `| Opening the sockets (50 at a time) | ${fmt(fanOut.openMs / 1000, 1)} s |`,
    ].join("\n"),
  };
}

function totpTable(results) {
  const lines = [
    "| In workerd, the server's own code in a loop | Operations | Per second (wall) | workerd CPU/op (µs) | Per CPU-second |",
    "|---|--:|--:|--:|--:|",
  ];
  for (const { label, result } of results) {
    lines.push(
      `| ${label} | ${fmt(result.operations, 0)} | ${fmt(result.perS, 0)} | ${fmt(result.cpuUsPerOp, 1)} | ${fmt(result.perCpuS, 0)} |`,
    );
  }
  return lines.join("\n");
}

/**
 * Every target of docs/benchmarks.md, PASS or FAIL, with the figures compared,
 * against `floors`, which the lines call `name` ("floor": the bare one).
 */
function targetLines(rows, floors, fanOutWorstMs, name = "floor") {
  const lines = [];
  const mark = (ok) => (ok ? "PASS" : "FAIL");
  const top = MAX_CONCURRENCY;
  for (const { op, byConcurrency } of rows) {
    for (const c of CONCURRENCIES) {
      const r = byConcurrency.get(c);
      const floorCpu = floors.get(c).workerdCpuMsPerRequest;
      if (op.hotPath) {
        const limit = floorCpu + HOT_PATH_CPU_OVER_FLOOR_MS;
        lines.push(
          `- ${mark(r.workerdCpuMsPerRequest <= limit)} ${op.key}, ${c} in flight: CPU ${fmt(r.workerdCpuMsPerRequest, 2)} ms/request ` +
            `≤ ${name} + ${fmt(HOT_PATH_CPU_OVER_FLOOR_MS, 1)} = ${fmt(limit, 2)} ms`,
        );
      } else {
        const limit = op.requestsPerOp * floorCpu + HOT_PATH_CPU_OVER_FLOOR_MS;
        lines.push(
          `- ${mark(r.workerdCpuMsPerRequest <= limit)} ${op.key} (whole), ${c} in flight: CPU ${fmt(r.workerdCpuMsPerRequest, 2)} ms ` +
            `≤ ${op.requestsPerOp} × ${name} + ${fmt(HOT_PATH_CPU_OVER_FLOOR_MS, 1)} = ${fmt(limit, 2)} ms`,
        );
      }
    }
    const r = byConcurrency.get(top);
    const floorRate = floorFor(floors.get(top), op.requestsPerOp).opsPerS;
    lines.push(
      `- ${mark(r.requestsPerS >= MIN_RATE_SHARE_OF_FLOOR * floorRate)} ${op.key}, ${top} in flight: ${fmt(r.requestsPerS, 0)} ops/s ` +
        `≥ ${pct(MIN_RATE_SHARE_OF_FLOOR)} of the ${name}'s ${fmt(floorRate, 0)}` +
        (op.requestsPerOp > 1 ? ` (${name} requests/s ÷ ${op.requestsPerOp})` : "") +
        ` = ${fmt(MIN_RATE_SHARE_OF_FLOOR * floorRate, 0)}`,
    );
  }
  if (fanOutWorstMs !== undefined) {
    lines.push(`- ${mark(fanOutWorstMs <= FAN_OUT_WORST_ROUND_MS)} fan-out, worst round: ${fmt(fanOutWorstMs, 1)} ms ≤ ${FAN_OUT_WORST_ROUND_MS} ms`);
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
export function commitInfo() {
  try {
    const git = (...args) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "wrangler.toml", "migrations");
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " with uncommitted changes to the Worker" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

/**
 * The file system the Workers' state directories are made on (`os.tmpdir()`, so
 * `TMPDIR` chooses it): the mount with the longest prefix of that path in
 * /proc/mounts. It matters: every commit of the object's SQLite and of the local D1
 * is written and `fsync`ed there, in the Worker's workerd ("Where a request's CPU
 * goes", in the benchmarks page).
 */
function stateFilesystem() {
  const dir = os.tmpdir();
  try {
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" "))
      .filter(([, at]) => at && (dir === at || dir.startsWith(at.endsWith("/") ? at : `${at}/`)))
      .sort((a, b) => b[1].length - a[1].length);
    return `${dir} (${mounts[0] ? mounts[0][2] : "unknown file system"})`;
  } catch {
    return dir;
  }
}

export function machineInfo() {
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, commit ${commitInfo()}`,
    `- Node ${process.version}, wrangler ${packageVersion("wrangler")}, workerd ${packageVersion("workerd")}`,
    `- ${os.availableParallelism()} CPUs (nproc), ${cpuModel()}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM, ` +
      `Linux ${os.release()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(" / ")} (1/5/15 min) at the end`,
    `- The Workers' state (\`--persist-to\`) in ${stateFilesystem()}`,
  ].join("\n");
}

export function writeDocs(section, start = START_MARKER, end = END_MARKER) {
  const block = `${start}\n${section}\n${end}`;
  let text = existsSync(DOCS_PATH) ? readFileSync(DOCS_PATH, "utf8") : "# Benchmarks\n";
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text =
    from >= 0 && to > from ? text.slice(0, from) + block + text.slice(to + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(DOCS_PATH, text);
}

// --- main ----------------------------------------------------------------------------

async function benchRoutes() {
  console.error("[bench] starting the instance (npm run dev), the two floors and the TOTP Worker ...");
  const servers = [];
  const stopAll = () => Promise.all(servers.map((s) => s.stop()));
  const stopOnSignal = (signal) => {
    stopAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  const started = await Promise.allSettled([
    startDevServer({
      // Every request comes from one address; the default 300/min would answer 429.
      // 1,000,000 is the largest value the settings accept.
      vars: { RATE_LIMIT_PER_MIN: "1000000" },
      // Its own inspector port: four wrangler devs start at once here.
      args: ["--inspector-port", String(await findFreePort())],
      echo: flags.echo,
    }),
    startWranglerDev({ config: FLOOR_CONFIG, echo: flags.echo }),
    startWranglerDev({ config: DEPLOYED_FLOOR_CONFIG, echo: flags.echo }),
    startWranglerDev({ config: TOTP_CONFIG, echo: flags.echo }),
  ]);
  for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const [server, floor, deployedFloor, totp] = servers;
  /** The servers of the run other than `s`: their CPU is not "elsewhere". */
  const othersThan = (s) => servers.filter((o) => o !== s);

  try {
    console.error(
      `[bench] instance ${server.url}, floor ${floor.url}, deployed floor ${deployedFloor.url}, TOTP ${totp.url}; ` +
        "claiming the instance",
    );
    const owner = await createOwner(server.origin);
    await owner.claim(server.setupCode, "bench owner");
    // One session per client in flight, for the refresh and API runs.
    const sessions = [];
    await runConcurrently(MAX_CONCURRENCY, 8, async (i) => {
      const device = owner.device();
      await device.login(`bench device ${i}`);
      sessions[i] = device;
    });
    const sealer = await encryptionKey(server.origin);

    // Both floors, one after the other at each concurrency, so they see the same machine.
    const measureFloors = async (when) => {
      const bare = new Map();
      const deployed = new Map();
      for (const c of CONCURRENCIES) {
        console.error(`[bench] floor (${when}), ${c} in flight`);
        bare.set(c, await measure(floor, othersThan(floor), c, () => floorRequest(floor)));
        console.error(`[bench] floor deployed like the instance (${when}), ${c} in flight`);
        deployed.set(c, await measure(deployedFloor, othersThan(deployedFloor), c, () => floorRequest(deployedFloor)));
      }
      return { bare, deployed };
    };

    const floorsBefore = await measureFloors("before");
    const rows = [];
    const selected = new Set(flags.ops.split(",").map((s) => s.trim()));
    for (const op of operations(owner, sessions, sealer).filter((o) => selected.has(o.key))) {
      const byConcurrency = new Map();
      for (const c of CONCURRENCIES) {
        console.error(`[bench] ${op.key}, ${c} in flight: ${WARMUP} warm-up + ${REQUESTS} measured`);
        byConcurrency.set(c, await measure(server, othersThan(server), c, await op.prepare(c)));
      }
      rows.push({ op, byConcurrency });
    }
    const probes = [];
    for (const probe of PROBES) {
      const byConcurrency = new Map();
      for (const c of CONCURRENCIES) {
        console.error(`[bench] probe ${probe.path}, ${c} in flight: ${WARMUP} warm-up + ${REQUESTS} measured`);
        byConcurrency.set(c, await measure(floor, othersThan(floor), c, () => floorRequest(floor, probe.path)));
      }
      probes.push({ probe, byConcurrency });
    }
    const floorsAfter = await measureFloors("after");
    const meanFloors = (which) =>
      new Map(CONCURRENCIES.map((c) => [c, meanFloor(floorsBefore[which].get(c), floorsAfter[which].get(c))]));
    const floors = meanFloors("bare");
    const deployedFloors = meanFloors("deployed");

    const sockets = positiveInt("sockets", 1);
    console.error(`[bench] fan-out: one message to ${sockets} sockets x ${flags.rounds}`);
    const listener = owner.device();
    await listener.login("bench listener");
    const fanOut = fanOutTable(
      await benchFanOut(server, listener, sealer, { sockets, rounds: positiveInt("rounds", 1) }),
      sockets,
    );

    const totpResults = [];
    for (const { op, label } of TOTP_OPERATIONS) {
      console.error(`[bench] TOTP micro-benchmark: ${op}, ${TOTP_SECONDS} s`);
      totpResults.push({ label, result: await benchTotp(totp, op) });
    }

    // The floors and probes go through the same checks as the operations.
    const measuredRows = [
      ...rows.map(({ op, byConcurrency }) => ({ key: op.key, byConcurrency })),
      ...probes.map(({ probe, byConcurrency }) => ({ key: `probe ${probe.path}`, byConcurrency })),
      ...[floorsBefore, floorsAfter].flatMap((f, i) => [
        { key: `floor (${i ? "after" : "before"})`, byConcurrency: f.bare },
        { key: `deployed floor (${i ? "after" : "before"})`, byConcurrency: f.deployed },
      ]),
    ];
    const failures = measuredRows.flatMap(({ key, byConcurrency }) =>
      CONCURRENCIES.filter((c) => byConcurrency.get(c).failed > 0).map(
        (c) => `- ${key}, ${c} in flight: ${byConcurrency.get(c).errors.join("; ")}`,
      ),
    );
    const changed = measuredRows.filter((r) => [...r.byConcurrency.values()].some((x) => x.processesChanged));
    const drift = (which) =>
      CONCURRENCIES.map((c) => {
        const [b, a] = [floorsBefore[which].get(c), floorsAfter[which].get(c)];
        return (
          `${c} in flight: ${fmt(b.requestsPerS, 0)} → ${fmt(a.requestsPerS, 0)} requests/s, ` +
          `${fmt(b.workerdCpuMsPerRequest, 2)} → ${fmt(a.workerdCpuMsPerRequest, 2)} ms CPU`
        );
      }).join("; ");
    const section = [
      mainTable(rows, floors, deployedFloors, probes),
      failures.length
        ? "**Failed operations** (their rows count only the operations that succeeded):\n\n" + failures.join("\n")
        : "",
      changed.length
        ? `Note: the set of workerd processes changed during ${changed.map((r) => r.key).join(", ")} (wrangler reloaded?); ` +
          "CPU for those rows includes any new process's whole lifetime."
        : "",
      `The floor is the mean of its runs before and after the operations (${drift("bare")}). ` +
        "Ops/s and CPU of the floor are per request, times two for the login. " +
        `The floor deployed like the instance likewise (${drift("deployed")}); ` +
        "the operations' last column is their CPU over it. " +
        "The probes run on the bare floor's Worker, once per concurrency, after the operations.",
      `**Targets** against the bare floor (issue #10's definition; reported, not enforced):\n\n${targetLines(rows, floors, fanOut.worstMs)}`,
      "**The same targets against the floor deployed like the instance** (the do-nothing Worker behind `[assets]` " +
        "with `run_worker_first`, as `wrangler.toml` deploys the server; reported, not enforced):\n\n" +
        targetLines(rows, deployedFloors, undefined, "deployed floor"),
      fanOut.text,
      totpTable(totpResults),
      contextTable(
        rows,
        [
          ["Floor (before)", floorsBefore.bare],
          ["Deployed floor (before)", floorsBefore.deployed],
          ["Floor (after)", floorsAfter.bare],
          ["Deployed floor (after)", floorsAfter.deployed],
        ],
        probes.map(({ probe, byConcurrency }) => [`Probe \`${probe.path}\``, byConcurrency]),
      ),
      machineInfo() +
        `\n- ${fmt(REQUESTS, 0)} measured operations per row after ${WARMUP} warm-up; ` +
        "client, wrangler and the four Workers share the machine",
    ]
      .filter(Boolean)
      .join("\n\n");
    console.log(section);
    if (!flags["no-write"]) {
      writeDocs(section);
      console.error(`[bench] wrote ${DOCS_PATH}`);
    }
  } finally {
    await stopAll();
  }
}

async function benchColdStart() {
  const results = await runColdStart({
    runs: positiveInt("runs", 1),
    config: flags.config,
    floorConfig: FLOOR_CONFIG,
    echo: flags.echo,
  });
  const section = coldStartSection(results) + "\n\n" + machineInfo();
  console.log(section);
  if (!flags["no-write"]) {
    writeDocs(section, "<!-- bench-cold-start:start -->", "<!-- bench-cold-start:end -->");
    console.error(`[bench] wrote ${DOCS_PATH}`);
  }
}

(flags["cold-start"] ? benchColdStart() : benchRoutes()).catch((err) => {
  console.error(err);
  process.exit(1);
});
