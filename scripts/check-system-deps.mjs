#!/usr/bin/env node
// What the test suites need from outside npm: Debian's `chromium` (test:browser,
// driven by playwright-core) and `oathtool` (the TOTP end-to-end test checks our
// codes against an independent implementation). `npm test` runs this first, and so
// does `.ci/run`, so a fresh machine either gets them or is told exactly what to run.
//
// Missing tools are installed with apt-get when that needs no password: as root, or
// with a sudo that works without one (`sudo -n`). Otherwise it stops with the
// command to run by hand. Node built-ins only.
import { spawnSync } from "node:child_process";

/** Command name -> Debian package. */
const TOOLS = { chromium: "chromium", oathtool: "oathtool" };

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
const missing = () => Object.keys(TOOLS).filter((command) => !has(command));

const absent = missing();
if (absent.length === 0) process.exit(0);

const packages = absent.map((command) => TOOLS[command]);
const aptCommand = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(" ")}`;
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const sudoWorks = !isRoot && has("sudo") && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;

if (!isRoot && !sudoWorks) {
  console.error(
    `[system-deps] The tests need ${absent.join(" and ")} (Debian package${packages.length > 1 ? "s" : ""} ${packages.join(", ")}), which ${absent.length > 1 ? "are" : "is"} not installed.\n` +
      `[system-deps] Install ${absent.length > 1 ? "them" : "it"} once, then run npm test again:\n\n` +
      `    sudo sh -c '${aptCommand}'\n`,
  );
  process.exit(1);
}

console.log(`[system-deps] installing ${packages.join(", ")} with apt-get`);
const prefix = isRoot ? [] : ["sudo", "-n"];
const run = (args) => {
  const [command, ...rest] = [...prefix, ...args];
  return spawnSync(command, rest, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0;
};
if (!run(["apt-get", "update"]) || !run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", ...packages])) {
  console.error(`[system-deps] apt-get could not install ${packages.join(", ")}; the test suites need them. By hand:\n\n    sudo sh -c '${aptCommand}'\n`);
  process.exit(1);
}
const still = missing();
if (still.length > 0) {
  console.error(`[system-deps] ${still.join(" and ")} still missing after apt-get.`);
  process.exit(1);
}
