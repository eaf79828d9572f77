#!/usr/bin/env node
// Private messages and the live channel, measured (docs/api.md §9-10):
//   fan-out  one message pushed to 1,000 open sockets: the time from sending
//            POST /messages until every socket has the message frame.
//   accept   POST /messages per second (seal beforehand, unmeasured), with no socket
//            open and with one socket open that every message is pushed to.
// `npm run bench` runs this after its own operations, on the same instance; alone:
//   node scripts/bench-messages.mjs [--sockets 1000] [--rounds 5] [--messages 2000]
//                                   [--concurrency 8] [--no-write] [--echo]
// It rewrites the results section of docs/messages.md. A benchmark, not a test.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { CompactEncrypt, importJWK } from "jose";
import WebSocket from "ws";
import { REPO_ROOT, processTree, startDevServer } from "./lib/devServer.mjs";
import { createOwner } from "./lib/ownerClient.mjs";

const DOCS_PATH = join(REPO_ROOT, "docs", "messages.md");
const START_MARKER = "<!-- bench-messages:start -->";
const END_MARKER = "<!-- bench-messages:end -->";
const CLOCK_TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

export const DEFAULTS = { sockets: 1000, rounds: 5, messages: 2000, concurrency: 8, warmup: 100 };

// --- helpers -----------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x, digits = 0) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const percentile = (sorted, q) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];

function workerdCpuMs(server) {
  const ticks = processTree(server.pgid)
    .filter((p) => p.comm === "workerd")
    .reduce((sum, p) => sum + p.cpuTicks, 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

async function runConcurrently(count, concurrency, op) {
  const latencies = [];
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await op(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop));
  return latencies;
}

/** What a sender does: the JWKS key with use "enc" that is not retired. */
export async function encryptionKey(origin) {
  const { keys } = await (await fetch(`${origin}/.well-known/jwks.json`)).json();
  const jwk = keys.find((k) => k.use === "enc" && k.status !== "retired");
  return { jwk, key: await importJWK(jwk, "ECDH-ES+A256KW") };
}

export function seal({ jwk, key }, text) {
  return new CompactEncrypt(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM", kid: jwk.kid })
    .encrypt(key);
}

export async function postMessage(origin, jwe) {
  const res = await fetch(`${origin}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jwe, from: "bench" }),
  });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /messages: HTTP ${res.status} ${body.slice(0, 200)}`);
  return JSON.parse(body).id;
}

/**
 * Opens a live socket and resolves after its hello. `onMessage(id, atMs)` is called
 * for each pushed message.
 */
function openSocket(serverUrl, accessToken, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${serverUrl.replace(/^http/, "ws")}/api/ws`, ["indie.v1", `bearer.${accessToken}`]);
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === "hello") resolve(ws);
      else if (frame.type === "message") onMessage(frame.message.id, performance.now());
    });
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

// --- the measurements ------------------------------------------------------------------

/**
 * One message, N sockets: time until the last socket has it, over several rounds,
 * after one warm-up round that is timed but not counted (`warmupMs`): like every
 * other row of the benchmarks, which measure after unmeasured warm-up operations.
 * The first message after 1,000 sockets opened pays one-time costs in every process
 * it crosses (the client's frame handling, wrangler's proxy, the object's send path).
 */
export async function benchFanOut(server, owner, sealer, options) {
  const waiting = new Map(); // message id -> { remaining, resolve }
  const early = new Map(); // frames that beat the 202 to the client: id -> [atMs]
  const onMessage = (id, atMs) => {
    const w = waiting.get(id);
    if (!w) {
      early.set(id, [...(early.get(id) ?? []), atMs]);
      return;
    }
    w.last = atMs;
    if (--w.remaining === 0) w.resolve();
  };

  const openStarted = performance.now();
  const sockets = [];
  await runConcurrently(options.sockets, 50, async () => {
    sockets.push(await openSocket(server.url, owner.accessToken, onMessage));
  });
  const openMs = performance.now() - openStarted;
  await sleep(500);

  const rounds = [];
  let warmupMs = null;
  for (let r = -1; r < options.rounds; r++) {
    const jwe = await seal(sealer, `fan-out round ${r}`);
    const cpuBefore = workerdCpuMs(server);
    const t0 = performance.now();
    const id = await postMessage(server.origin, jwe);
    const acceptedMs = performance.now() - t0;
    const arrivals = early.get(id) ?? [];
    early.delete(id);
    const w = { remaining: options.sockets - arrivals.length, last: Math.max(0, ...arrivals) };
    if (w.remaining > 0) {
      await new Promise((resolve, reject) => {
        w.resolve = resolve;
        waiting.set(id, w);
        setTimeout(() => reject(new Error(`round ${r}: ${w.remaining} sockets never got message ${id}`)), 60_000);
      });
    }
    waiting.delete(id);
    if (r < 0) warmupMs = w.last - t0;
    else rounds.push({ acceptedMs, allReceivedMs: w.last - t0, cpuMs: workerdCpuMs(server) - cpuBefore });
    await sleep(300);
  }
  for (const ws of sockets) ws.terminate();
  await sleep(500);
  return { openMs, warmupMs, rounds };
}

/** POST /messages at a fixed concurrency, each with its own sealed JWE. */
async function benchAccept(server, sealer, options) {
  const total = options.warmup + options.messages;
  const jwes = await Promise.all(Array.from({ length: total }, (_, i) => seal(sealer, `throughput ${i}`)));
  await runConcurrently(options.warmup, options.concurrency, (i) => postMessage(server.origin, jwes[i]));
  const cpuBefore = workerdCpuMs(server);
  const started = performance.now();
  const latencies = await runConcurrently(options.messages, options.concurrency, (i) =>
    postMessage(server.origin, jwes[options.warmup + i]),
  );
  const wallMs = performance.now() - started;
  const cpuMs = workerdCpuMs(server) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    messagesPerS: (options.messages * 1000) / wallMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuMsPerMessage: cpuMs / options.messages,
  };
}

/**
 * Runs both measurements against a claimed instance and returns the Markdown
 * section. `owner` is a logged-in OwnerDevice (scripts/lib/ownerClient.mjs).
 */
export async function benchMessages(server, owner, overrides = {}) {
  const options = { ...DEFAULTS, ...overrides };
  const sealer = await encryptionKey(server.origin);

  console.error(`[bench] messages: one message to ${options.sockets} sockets x ${options.rounds}`);
  const fanOut = await benchFanOut(server, owner, sealer, options);

  console.error(`[bench] messages: POST /messages x ${options.messages}, no socket open`);
  const quiet = await benchAccept(server, sealer, options);

  console.error(`[bench] messages: POST /messages x ${options.messages}, one socket open`);
  let pushed = 0;
  const listener = await openSocket(server.url, owner.accessToken, () => pushed++);
  const listened = await benchAccept(server, sealer, options);
  const deadline = Date.now() + 30_000;
  while (pushed < options.warmup + options.messages && Date.now() < deadline) await sleep(50);
  listener.terminate();

  const all = fanOut.rounds.map((r) => r.allReceivedMs).sort((a, b) => a - b);
  const accepted = fanOut.rounds.map((r) => r.acceptedMs).sort((a, b) => a - b);
  const cpu = fanOut.rounds.map((r) => r.cpuMs).sort((a, b) => a - b);
  const lines = [
    `| Fan-out: one message to ${fmt(options.sockets)} open sockets | ${options.rounds} rounds |`,
    "|---|--:|",
    `| Until every socket has it (from sending the POST): median / worst | ${fmt(percentile(all, 0.5), 1)} ms / ${fmt(all.at(-1), 1)} ms |`,
    `| Each round, in order (ms) | ${fanOut.rounds.map((r) => fmt(r.allReceivedMs, 0)).join(", ")} |`,
    `| The warm-up round before them, not counted | ${fmt(fanOut.warmupMs, 1)} ms |`,
    `| Until the sender has its 202: median | ${fmt(percentile(accepted, 0.5), 1)} ms |`,
    `| workerd CPU per fanned-out message: median | ${fmt(percentile(cpu, 0.5), 1)} ms |`,
    `| Opening the ${fmt(options.sockets)} sockets (50 at a time, each authenticated by the Worker) | ${fmt(fanOut.openMs / 1000, 1)} s (${fmt((options.sockets * 1000) / fanOut.openMs)} sockets/s) |`,
    "",
    "| `POST /messages` | Messages | Concurrency | Accepted/s | p50 (ms) | p99 (ms) | workerd CPU/message (ms) |",
    "|---|--:|--:|--:|--:|--:|--:|",
  ];
  for (const [label, r] of [
    ["no socket open", quiet],
    [`one socket open (${fmt(pushed)} of ${fmt(options.warmup + options.messages)} pushed)`, listened],
  ]) {
    lines.push(
      `| ${label} | ${fmt(options.messages)} | ${options.concurrency} | ${fmt(r.messagesPerS)} | ` +
        `${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.cpuMsPerMessage, 2)} |`,
    );
  }
  lines.push("", runInfo(options));
  return lines.join("\n");
}

function runInfo(options) {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout
  }
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, commit ${commit}; ${os.availableParallelism()} CPUs, ` +
      `load average ${os.loadavg().map((l) => l.toFixed(1)).join(" / ")} (1/5/15 min) when it ended`,
    `- ${fmt(options.messages)} measured POSTs per row after ${options.warmup} warm-up; every JWE sealed beforehand ` +
      "(ECDH-ES+A256KW, A256GCM, a few hundred bytes); client, wrangler and workerd share the machine",
  ].join("\n");
}

export function writeMessagesSection(section) {
  const block = `${START_MARKER}\n${section}\n${END_MARKER}`;
  const text = existsSync(DOCS_PATH) ? readFileSync(DOCS_PATH, "utf8") : "# Private messages and the live channel\n";
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  writeFileSync(
    DOCS_PATH,
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + END_MARKER.length)
      : `${text.trimEnd()}\n\n## Benchmark results\n\n${block}\n`,
  );
}

// --- standalone ----------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      sockets: { type: "string", default: String(DEFAULTS.sockets) },
      rounds: { type: "string", default: String(DEFAULTS.rounds) },
      messages: { type: "string", default: String(DEFAULTS.messages) },
      concurrency: { type: "string", default: String(DEFAULTS.concurrency) },
      warmup: { type: "string", default: String(DEFAULTS.warmup) },
      "no-write": { type: "boolean", default: false },
      echo: { type: "boolean", default: false },
    },
  });
  const options = Object.fromEntries(
    ["sockets", "rounds", "messages", "concurrency", "warmup"].map((k) => [k, Number(values[k])]),
  );
  const server = await startDevServer({ vars: { RATE_LIMIT_PER_MIN: "1000000" }, echo: values.echo });
  try {
    const owner = await createOwner(server.origin);
    await owner.claim(server.setupCode, "bench owner");
    const section = await benchMessages(server, owner, options);
    console.log(section);
    if (!values["no-write"]) {
      writeMessagesSection(section);
      console.error(`[bench] wrote ${DOCS_PATH}`);
    }
  } finally {
    await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
