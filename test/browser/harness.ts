/**
 * Chromium from Debian (/usr/bin/chromium, installed by .ci/run) driven by
 * playwright-core, against `npm run dev` started by the end-to-end harness. Each
 * browser context is a fresh profile: a new device, with its own IndexedDB and
 * cookie jar.
 *
 * The server listens on http://127.0.0.1:<port>. Chromium treats 127.0.0.1, like
 * localhost, as a secure context (so WebCrypto, Web Locks and `Secure` cookies
 * work over plain HTTP there); the `__Secure-rt` refresh cookie is stored and sent
 * back on it, which the tests check.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import * as OTPAuth from "otpauth";
import { afterEach, expect } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/devServer.mjs";
import { startInstance, type DevServer } from "../e2e/devServer";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Flags for a quiet, offline, headless Chromium in a container. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  // playwright-core gives every launch a fresh temporary --user-data-dir, and every
  // newContext() an empty profile on top of it.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export function startServer(vars: Record<string, string> = {}): Promise<DevServer> {
  // Ports 9400-9499 unless the caller chose a range: other servers share this machine.
  process.env.INDIENET_PORT_RANGE ??= "9400-9499";
  // `wrangler dev` builds the web app first, which on a busy 2-core machine can take
  // most of a minute: wait up to 100 s, inside the browser config's 120 s hook timeout.
  return startInstance({ vars, readyTimeoutMs: 100_000 });
}

const openPages = new Set<Page & { label: string }>();
const screenshotDir = join(REPO_ROOT, "test-results");

/** Chromium logs every 4xx fetch; the tests cause some on purpose (wrong codes, no session yet). */
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of 40[13]/;

/**
 * A page whose errors are collected and which is photographed whenever a test fails.
 * Errors include every Content Security Policy violation the page reports (a
 * `securitypolicyviolation` event, Trusted Types included: a sink given a plain
 * string, a policy the CSP does not name), as a console error that says which
 * directive it broke.
 */
export async function newPage(context: BrowserContext, label: string): Promise<Page & { errors: string[] }> {
  const page = (await context.newPage()) as Page & { errors: string[]; label: string };
  page.errors = [];
  page.label = label;
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.effectiveDirective} (${e.disposition}) blocked ${e.blockedURI || "?"} ${e.sample}`);
    });
  });
  page.on("pageerror", (err) => page.errors.push(`${label}: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !EXPECTED_CONSOLE.test(msg.text())) page.errors.push(`${label}: ${msg.text()}`);
  });
  openPages.add(page);
  page.on("close", () => openPages.delete(page));
  return page;
}

afterEach(async ({ task }) => {
  if (task.result?.state !== "fail") return;
  mkdirSync(screenshotDir, { recursive: true });
  for (const page of openPages) {
    if (page.isClosed()) continue;
    const name = `${task.name}-${page.label}`.replace(/[^\w.-]+/g, "_").slice(0, 120);
    await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true }).catch(() => {});
  }
});

/**
 * TOTP codes as an authenticator app would make them. The server accepts each
 * 30-second step at most once, across all routes (docs/api.md §8), so this hands
 * out strictly increasing steps: the current one, or the next (inside the ±1
 * window) when the current one was already used, or it waits.
 */
export class Authenticator {
  private lastStep = -1;
  private readonly totp: OTPAuth.TOTP;

  constructor(secretBase32: string) {
    this.totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secretBase32), algorithm: "SHA1", digits: 6, period: 30 });
  }

  async code(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 30_000);
      // Leave a margin before a step boundary so the code is still in the window when it arrives.
      const msIntoStep = Date.now() % 30_000;
      const step = this.lastStep < now ? now : this.lastStep + 1;
      if (step <= now + (msIntoStep < 25_000 ? 1 : 0)) {
        this.lastStep = step;
        return this.totp.generate({ timestamp: step * 30_000 });
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

export const OWNER_PASSWORD = "plum-orbit-kettle-31-harbor!";

/**
 * Claims the instance at `url` through the web app: setup code, a password the
 * strength meter calls strong, then the inbox.
 */
export async function claimInBrowser(page: Page, url: string, setupCode: string): Promise<void> {
  await page.goto(url);
  await page.getByRole("heading", { name: "Claim this instance" }).waitFor();
  await page.getByLabel("Setup code").fill(setupCode);
  await page.getByLabel("Password", { exact: true }).fill(OWNER_PASSWORD);
  await page.getByLabel("Confirm password").fill(OWNER_PASSWORD);
  await expect.poll(() => page.locator(".strength-text").textContent(), { timeout: 20_000 }).toMatch(/^(Strong|Very strong): /);
  await page.getByRole("button", { name: "Claim this instance" }).click();
  await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
}

/** What the stored device keys look like from a page script in this origin. */
export function probeStoredKeys(page: Page) {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open("indienet");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const record = await new Promise<{ sig: { privateKey: CryptoKey }; enc: Array<{ privateKey: CryptoKey }> } | undefined>(
      (resolve, reject) => {
        const r = db.transaction("device").objectStore("device").get("keys");
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      },
    );
    db.close();
    if (!record) return null;
    const keys = [record.sig.privateKey, ...record.enc.map((k) => k.privateKey)];
    const exports: string[] = [];
    for (const key of keys) {
      for (const format of ["jwk", "pkcs8"] as const) {
        try {
          await crypto.subtle.exportKey(format, key);
          exports.push("exported");
        } catch (err) {
          exports.push((err as Error).name);
        }
      }
    }
    return {
      isCryptoKey: keys.map((k) => k instanceof CryptoKey),
      extractable: keys.map((k) => k.extractable),
      types: keys.map((k) => k.type),
      exports,
    };
  });
}
