/**
 * The end-to-end harness: a real `npm run dev` on a free loopback port with a fresh
 * --persist-to directory, reached with Node's own fetch. Starting and stopping live
 * in scripts/lib/devServer.mjs, which `npm run bench` uses too.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  processesInGroup,
  startDevServer,
  type DevServer,
  type StartDevServerOptions,
} from "../../scripts/lib/devServer.mjs";
import type { Fetcher } from "../helpers/owner";

export type { DevServer };

/** Node's fetch, as the OwnerClient's fetcher: real sockets, no cookie jar. */
export const nodeFetch: Fetcher = (request) => fetch(request);

/** A fresh state directory, for tests that restart a server on the same state. */
export function makePersistDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "indienet-e2e-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Starts `npm run dev`; set E2E_ECHO=1 to see the server's output. It gives up a
 * little before vitest's 60 s hook timeout, so a failure to start shows the
 * server's own output rather than a bare timeout.
 */
export function startInstance(options: StartDevServerOptions = {}): Promise<DevServer> {
  return startDevServer({ echo: process.env.E2E_ECHO === "1", readyTimeoutMs: 50_000, ...options });
}

/**
 * Processes the server left behind after stop(): any live member of its process
 * group, or any process whose command line names its state directory (wrangler and
 * its workerd children would, if they had escaped the group).
 */
export function leftoverProcesses(server: DevServer): string[] {
  const leftovers = processesInGroup(server.pgid)
    .filter((p) => p.state !== "Z")
    .map((p) => `${p.pid} ${p.comm} (group ${server.pgid})`);
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (cmdline.includes(server.persistTo)) leftovers.push(`${name} ${cmdline.slice(0, 120)}`);
  }
  return leftovers;
}
