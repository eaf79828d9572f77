// `npm run bench -- --cold-start [--runs 5] [--config wrangler.toml]`: how long a
// fresh isolate takes to give its first answer (scripts/bench.mjs calls this).
//
// It claims an instance once (`npm run dev` with a --persist-to directory of its
// own), stops it, and then, `runs` times, alternately:
//   - starts a new `wrangler dev` of the instance on that state (no migrations, no
//     secrets step: those happened once) and polls GET /.well-known/jwks.json every
//     10 ms until it answers 200;
//   - does the same with the do-nothing floor Worker (GET /).
// For each start: the wall time from spawning wrangler to the first answer, and the
// CPU time of the workerd processes until then (starting the runtime, compiling and
// evaluating the Worker, the first request). wrangler's own start (bundling with
// esbuild, Miniflare) is in the wall time of both; the difference to the floor is
// what the instance's bundle and its first request add. Medians are reported.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFreePort, processTree, startDevServer, startWranglerDev } from "../lib/devServer.mjs";
import { createOwner } from "../lib/ownerClient.mjs";

const CLOCK_TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const POLL_MS = 10;

const fmt = (x, digits) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function workerdCpuMs(server) {
  const ticks = processTree(server.pgid)
    .filter((p) => p.comm === "workerd")
    .reduce((sum, p) => sum + p.cpuTicks, 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** One start: spawn → first 2xx answer to `readyPath`, and workerd's CPU until then. */
async function oneStart(options) {
  const server = await startWranglerDev({ ...options, pollMs: POLL_MS, readyTimeoutMs: 120_000 });
  try {
    return { wallMs: server.readyAtMs - server.spawnedAtMs, workerdCpuMs: workerdCpuMs(server) };
  } finally {
    await server.stop();
  }
}

export async function runColdStart({ runs, config, floorConfig, echo }) {
  const persistTo = mkdtempSync(join(tmpdir(), "indienet-cold-"));
  try {
    console.error("[bench] cold start: claiming an instance once");
    const first = await startDevServer({ persistTo, echo, args: ["--inspector-port", String(await findFreePort())] });
    try {
      const owner = await createOwner(first.origin);
      await owner.claim(first.setupCode, "bench owner");
    } finally {
      await first.stop();
    }

    const instance = [];
    const floor = [];
    for (let run = 1; run <= runs; run++) {
      const port = await findFreePort();
      console.error(`[bench] cold start ${run}/${runs}: instance (${config})`);
      instance.push(
        await oneStart({
          config,
          port,
          persistTo,
          // The origin the instance was claimed with differs (another port); the
          // JWKS does not depend on it, and ORIGIN must match the URL served.
          vars: { ORIGIN: `http://127.0.0.1:${port}` },
          readyPath: "/.well-known/jwks.json",
          echo,
        }),
      );
      console.error(`[bench] cold start ${run}/${runs}: floor`);
      floor.push(await oneStart({ config: floorConfig, readyPath: "/", echo }));
    }
    return { runs, config, instance, floor };
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
}

export function coldStartSection({ runs, config, instance, floor }) {
  const row = (label, xs) =>
    `| ${label} | ${fmt(median(xs.map((x) => x.wallMs)), 0)} | ${xs.map((x) => fmt(x.wallMs, 0)).join(", ")} | ` +
    `${fmt(median(xs.map((x) => x.workerdCpuMs)), 0)} | ${xs.map((x) => fmt(x.workerdCpuMs, 0)).join(", ")} |`;
  const wallOver = median(instance.map((x) => x.wallMs)) - median(floor.map((x) => x.wallMs));
  const cpuOver = median(instance.map((x) => x.workerdCpuMs)) - median(floor.map((x) => x.workerdCpuMs));
  return [
    `| New \`wrangler dev\` → first answer (${runs} runs, alternating) | Wall, median (ms) | Wall, each run (ms) | workerd CPU, median (ms) | workerd CPU, each run (ms) |`,
    "|---|--:|--:|--:|--:|",
    row(`Instance (\`${config}\`), \`GET /.well-known/jwks.json\`, claimed`, instance),
    row("Floor (do-nothing Worker), `GET /`", floor),
    `| **Instance over the floor** | **${fmt(wallOver, 0)}** | | **${fmt(cpuOver, 0)}** | |`,
  ].join("\n");
}
