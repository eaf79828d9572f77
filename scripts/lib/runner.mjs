// The one place where the deploy script starts another program (wrangler). Tests of
// scripts/deploy.mjs replace this function with a fake Cloudflare account, because no
// real account is reachable from a test: keep it this small so that what the fake
// stands in for is obvious. Node built-ins only.
import { spawn } from "node:child_process";

/**
 * Runs `cmd args` and resolves when it exits; never rejects.
 *
 * - `cwd`: working directory.
 * - `env`: variables added to this process's environment.
 * - `input`: text written to the program's standard input, which is then closed
 *   (secrets go this way, so they never touch the disk). Without it, stdin is empty.
 * - `echo`: also copy the program's output to this process's stdout/stderr as it
 *   comes, for long steps the person should watch.
 *
 * @returns {Promise<{code: number, stdout: string, stderr: string}>} `code` is the
 *   exit status, 1 if the program died of a signal, 127 if it could not start.
 */
export function run(cmd, args, { cwd, env, input, echo = false } = {}) {
  return new Promise((resolve) => {
    const stdout = [];
    const stderr = [];
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk) => {
      stdout.push(chunk);
      if (echo) process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk) => {
      stderr.push(chunk);
      if (echo) process.stderr.write(chunk);
    });
    if (input !== undefined) {
      child.stdin.on("error", () => {}); // the program may exit without reading it all
      child.stdin.end(input);
    }
    let spawnError;
    child.on("error", (error) => {
      spawnError = error;
    });
    child.on("close", (code, signal) => {
      resolve({
        code: spawnError ? 127 : signal ? 1 : (code ?? 1),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8") + (spawnError ? `${cmd}: ${spawnError.message}\n` : ""),
      });
    });
  });
}
