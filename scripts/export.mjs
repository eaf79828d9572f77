#!/usr/bin/env node
// `npm run export -- --url https://id.example.org [--out FILE] [--force]`: download the
// instance's export archive (GET /api/export) into one JSON file. docs/export-restore.md.
//
// It authenticates with an access token the owner got from a fresh login (export is
// a step-up route: the login must be at most STEP_UP_MAX_AGE_S old, 5 minutes by
// default, and include the second factor when 2FA is on). It never asks for the
// password or a private key. The token comes from INDIENET_ACCESS_TOKEN, or from
// --token (which leaves it in the shell's history).
//
// The file appears only when complete: the body streams into a temporary file next to
// it, is checked (complete JSON, format, version, digest), flushed to disk and then
// renamed into place. A failed or cut-off download leaves no file behind.
import { createWriteStream } from "node:fs";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { RESTORE_BODY_BYTES, verifyArchiveText } from "./lib/archive.mjs";

export const TOKEN_ENV = "INDIENET_ACCESS_TOKEN";

export const USAGE = `Usage: ${TOKEN_ENV}=<access token> npm run export -- --url https://id.example.org [options]

Downloads everything the instance holds for its owner (public keys, every escrow
version, messages as ciphertext, the activity log, settings) into one JSON archive,
to restore into a fresh instance later. See docs/export-restore.md.

The access token must come from a login at most 5 minutes old (with your second
factor when 2FA is on): export is a step-up route.

Options:
  --url URL        the instance's origin
  --out FILE       where to write the archive (default: indienet-archive-<host>-<date>.json)
  --force          replace FILE if it exists
  --token TOKEN    the access token, if not in ${TOKEN_ENV} (it then stays in your shell history)
  --help           this text`;

export class ExportError extends Error {}

export function parseArgs(argv) {
  const options = { force: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new ExportError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case "--url":
        options.url = value();
        break;
      case "--out":
        options.out = value();
        break;
      case "--token":
        options.token = value();
        break;
      case "--force":
        options.force = true;
        break;
      case "--help":
      case "-h":
        options.help = true;
        break;
      default:
        throw new ExportError(`unknown option ${arg}`);
    }
  }
  return options;
}

/** An https origin, or http for loopback hosts (a local `npm run dev`). */
export function normalizeUrl(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new ExportError(`--url ${value} is not a URL`);
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new ExportError("--url must be https:// (plain http:// only for localhost): the token and the archive travel over it");
  }
  return url.origin;
}

export function defaultOutFile(origin, now = new Date()) {
  const host = new URL(origin).host.replace(/[^A-Za-z0-9.-]/g, "_");
  return `indienet-archive-${host}-${now.toISOString().slice(0, 10)}.json`;
}

async function explainRefusal(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    // Not our JSON error: say what came back.
  }
  const what = body.error ? `${res.status} ${body.error}: ${body.message}` : `HTTP ${res.status}`;
  const hints = {
    unauthorized: `The access token is missing, invalid or expired: log in again and use the new token.`,
    session_revoked: "That session has ended: log in again and use the new token.",
    step_up_required: "Export needs a fresh login: log in again (with your second factor if 2FA is on) and run this within 5 minutes.",
    not_claimed: "This instance has no owner yet, so there is nothing to export.",
  };
  return `the instance refused the export (${what})${hints[body.error] ? `\n${hints[body.error]}` : ""}`;
}

function summarize(archive, outFile, bytes) {
  const keys = archive.publicKeys;
  const current = keys.filter((k) => k.status === "current").length;
  return [
    `Wrote ${outFile} (${bytes.toLocaleString("en")} bytes)`,
    `  from          ${archive.origin}, exported ${new Date(archive.exportedAt).toISOString()}`,
    `  public keys   ${current} current, ${keys.length - current} retired`,
    `  escrow        ${archive.escrow.length} version${archive.escrow.length === 1 ? "" : "s"}`,
    `  messages      ${archive.messages.length} (ciphertext)`,
    `  activity      ${archive.activity.length} entries`,
    `  digest        ${archive.digest}`,
    "Not in it: the TOTP secret and backup codes (enrol 2FA again after a restore), sessions, instance secrets.",
    "Keep the file private: it holds your escrow blobs, which are encrypted under your password.",
    // The restore request carries the archive plus a few hundred bytes.
    ...(bytes > RESTORE_BODY_BYTES - 8192
      ? [`Warning: this archive is larger than a restore accepts (${RESTORE_BODY_BYTES / 1024 / 1024} MiB). See "Limits" in docs/export-restore.md.`]
      : []),
  ].join("\n");
}

/**
 * Downloads and verifies the archive. Returns the path written. `fetch` and the
 * clock are parameters for the tests.
 */
export async function exportArchive({ url, token, out, force = false, fetchImpl = fetch, log = console.log, now = new Date() }) {
  const origin = normalizeUrl(url);
  if (!token) throw new ExportError(`no access token: set ${TOKEN_ENV} (or pass --token)`);
  const outFile = resolve(out ?? defaultOutFile(origin, now));
  if (!force && (await stat(outFile).catch(() => null))) {
    throw new ExportError(`${outFile} exists; pass --force to replace it`);
  }

  log(`Exporting ${origin} ...`);
  let res;
  try {
    res = await fetchImpl(`${origin}/api/export`, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } });
  } catch (err) {
    throw new ExportError(`could not reach ${origin}: ${err.cause?.message ?? err.message}`);
  }
  if (res.status !== 200 || !res.body) throw new ExportError(await explainRefusal(res));

  // Same directory, so the final rename stays on one filesystem and is atomic.
  const partial = join(dirname(outFile), `.${basename(outFile)}.partial-${process.pid}`);
  try {
    await pipeline(Readable.fromWeb(res.body), createWriteStream(partial, { flags: "wx", mode: 0o600 }));
    const text = await readFile(partial, "utf8");
    let archive;
    try {
      archive = await verifyArchiveText(text);
    } catch (err) {
      throw new ExportError(`the download is not a usable archive: ${err.message}; nothing was written`);
    }
    const handle = await open(partial, "r");
    await handle.sync();
    await handle.close();
    await rename(partial, outFile);
    log(summarize(archive, outFile, Buffer.byteLength(text)));
    return outFile;
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof ExportError) throw err;
    throw new ExportError(`the download failed: ${err.message}; nothing was written`);
  }
}

export async function main(argv, { env = process.env, log = console.log, error = console.error, fetchImpl = fetch } = {}) {
  try {
    const options = parseArgs(argv);
    if (options.help) {
      log(USAGE);
      return 0;
    }
    if (!options.url) throw new ExportError(`--url is required\n\n${USAGE}`);
    await exportArchive({ ...options, token: options.token ?? env[TOKEN_ENV], fetchImpl, log });
    return 0;
  } catch (err) {
    if (!(err instanceof ExportError)) throw err;
    error(`export failed: ${err.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
