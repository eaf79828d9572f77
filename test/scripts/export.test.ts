/**
 * `npm run export` (scripts/export.mjs) against a local HTTP server standing in for an
 * instance. Its digest check runs the server's own code (src/domain/archiveDigest.mjs).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { defaultOutFile, main, normalizeUrl, parseArgs } from "../../scripts/export.mjs";
import { archiveDigest as scriptDigest, canonicalJson as scriptCanonicalJson, RESTORE_BODY_BYTES } from "../../scripts/lib/archive.mjs";
import { archiveDigest, canonicalJson } from "../../src/domain/archive";
import { ARCHIVE_LIMITS } from "../../src/schemas/archive";
import { buildArchive, withDigest, type BuiltArchive } from "../helpers/archive";

const TOKEN = "test-access-token";

let built: BuiltArchive;
let server: Server;
let origin: string;
/** What the stand-in instance answers to GET /api/export. */
let answer: (res: import("node:http").ServerResponse) => void;
let seenAuthorization: string | undefined;
let dir: string;

beforeAll(async () => {
  built = await buildArchive({ messages: 4 });
  server = createServer((req, res) => {
    seenAuthorization = req.headers.authorization;
    if (req.url !== "/api/export") {
      res.writeHead(404).end();
      return;
    }
    answer(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "indienet-export-"));
  seenAuthorization = undefined;
  answer = (res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(built.archive));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string | undefined> = { INDIENET_ACCESS_TOKEN: TOKEN }) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { env, log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("scripts/lib/archive.mjs", () => {
  it("checks digests with the server's code, not a copy of it", async () => {
    expect(scriptDigest).toBe(archiveDigest);
    expect(scriptCanonicalJson).toBe(canonicalJson);
    const tricky = await withDigest({
      ...built.archive,
      activity: [
        ...built.archive.activity,
        { id: 99, type: "login" as const, at: 1, detail: { "ü": 1, Z: [true, null, "\u2028"], a: { y: 2, x: 1 } } },
      ],
    });
    for (const archive of [built.archive, tricky]) expect(await scriptDigest(archive)).toBe(archive.digest);
  });

  it("knows the server's restore limit", () => {
    expect(RESTORE_BODY_BYTES).toBe(ARCHIVE_LIMITS.restoreBodyBytes);
  });
});

describe("npm run export", () => {
  it("writes the archive to one file, sending the token, and prints a summary", async () => {
    const out = join(dir, "archive.json");
    const { code, out: printed, err } = await run(["--url", origin, "--out", out]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(seenAuthorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(built.archive);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["archive.json"]);
    expect(printed).toContain("public keys   2 current, 2 retired");
    expect(printed).toContain("escrow        3 versions");
    expect(printed).toContain("messages      4 (ciphertext)");
    expect(printed).toContain(built.archive.digest);
    expect(printed).toMatch(/enrol 2FA again/);
  });

  it("names the file after the host and the day by default", () => {
    expect(defaultOutFile("https://id.example.org", new Date("2026-03-04T05:06:07Z"))).toBe("indienet-archive-id.example.org-2026-03-04.json");
    expect(defaultOutFile("http://127.0.0.1:9500", new Date("2026-03-04T05:06:07Z"))).toBe("indienet-archive-127.0.0.1_9500-2026-03-04.json");
  });

  it("leaves no file when the download is cut short", async () => {
    const text = JSON.stringify(built.archive);
    answer = (res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(text.length) });
      res.write(text.slice(0, 1000));
      // The server dies mid-body.
      setTimeout(() => res.destroy(), 20);
    };
    const out = join(dir, "archive.json");
    const { code, err } = await run(["--url", origin, "--out", out]);
    expect(code).toBe(1);
    expect(err).toMatch(/nothing was written/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("leaves no file when the body ends early but cleanly, or does not match its digest", async () => {
    const text = JSON.stringify(built.archive);
    const out = join(dir, "archive.json");
    answer = (res) => res.writeHead(200, { "content-type": "application/json" }).end(text.slice(0, text.length - 80));
    const cut = await run(["--url", origin, "--out", out]);
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/not complete JSON/);

    const changed = { ...built.archive, escrow: built.archive.escrow.map((e, i) => (i ? e : { ...e, blob: "changed" })) };
    answer = (res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(changed));
    const tampered = await run(["--url", origin, "--out", out]);
    expect(tampered.code).toBe(1);
    expect(tampered.err).toMatch(/does not match its digest/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("explains a refusal: a stale login needs a fresh one", async () => {
    answer = (res) =>
      res
        .writeHead(403, { "content-type": "application/json" })
        .end(JSON.stringify({ error: "step_up_required", message: "This action needs a recent login." }));
    const { code, err } = await run(["--url", origin, "--out", join(dir, "a.json")]);
    expect(code).toBe(1);
    expect(err).toMatch(/403 step_up_required/);
    expect(err).toMatch(/within 5 minutes/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("needs a token and an https URL, and does not overwrite a file unless told to", async () => {
    expect((await run(["--url", origin], {})).err).toMatch(/INDIENET_ACCESS_TOKEN/);
    expect(() => normalizeUrl("http://id.example.org")).toThrow(/https/);
    expect(normalizeUrl("https://id.example.org/some/path")).toBe("https://id.example.org");
    expect(parseArgs(["--url=https://a.example", "--force"])).toEqual({ url: "https://a.example", force: true });

    const out = join(dir, "archive.json");
    writeFileSync(out, "keep me");
    const refused = await run(["--url", origin, "--out", out]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/exists; pass --force/);
    expect(readFileSync(out, "utf8")).toBe("keep me");
    expect((await run(["--url", origin, "--out", out, "--force"])).code).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8")).digest).toBe(built.archive.digest);
    expect(existsSync(out)).toBe(true);
  });
});
