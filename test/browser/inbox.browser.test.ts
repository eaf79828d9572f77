// The owner app against what strangers can send it (issue #11, browser side): an
// inbox that pages instead of fetching and decrypting every message, a sender's
// name that cannot pass for the app's "verified" label, bulk deletion, routes named
// after Object.prototype, a logout the server refused, and a claim that says which
// KDF sealed the keys when Argon2id could not run.
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeFetch, type DevServer } from "../e2e/devServer";
import { postMessage, publishedEncryptionKey, sealMessage } from "../helpers/messages";
import { launchChromium, newPage, OWNER_PASSWORD, startServer } from "./harness";

let server: DevServer;
let browser: Browser;
let laptop: BrowserContext;
let page: Page & { errors: string[] };

const MESSAGES = 45;
const PAGE_SIZE = 20;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchChromium()]);
  laptop = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  await laptop.addInitScript(() => {
    // Count keystore reads: the inbox should read the device keys once, not per message.
    // Only the keystore's database ("indienet"; the session's refresh counter has its own).
    const w = window as unknown as { idbOpens: number };
    w.idbOpens = 0;
    const open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function (this: IDBFactory, ...args: Parameters<IDBFactory["open"]>) {
      if (args[0] === "indienet") w.idbOpens++;
      return open.apply(this, args);
    };
    // A browser where WebAssembly cannot run: the claim falls back to PBES2.
    WebAssembly.instantiate = (() => Promise.reject(new Error("WebAssembly is disabled by the test"))) as typeof WebAssembly.instantiate;
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const url = (path = "/") => server.url + path;

async function send(text: string, from?: string) {
  const key = await publishedEncryptionKey(nodeFetch, server.origin);
  const res = await postMessage(nodeFetch, server.origin, { jwe: await sealMessage(key, text), ...(from ? { from } : {}) });
  expect(res.status).toBe(202);
}

describe("the inbox and what strangers can send it", () => {
  it("claims where Argon2id cannot run, and says the keys were sealed with PBKDF2", async () => {
    page = await newPage(laptop, "laptop");
    await page.goto(url());
    await page.getByLabel("Setup code").fill(server.setupCode);
    await page.getByLabel("Password", { exact: true }).fill(OWNER_PASSWORD);
    await page.getByLabel("Confirm password").fill(OWNER_PASSWORD);
    await page.getByRole("button", { name: "Claim this instance" }).click();
    await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    const notice = await page.locator("#notice").textContent();
    expect(notice).toMatch(/encrypted with your password \(PBKDF2-SHA-512, [\d,]+ iterations\)/);
    expect(notice).toMatch(/could not run Argon2id/);
    expect(notice).not.toMatch(/Argon2id, 64 MiB/);
    expect(page.errors).toEqual([]);
  });

  it("survives routes named after Object.prototype's properties", async () => {
    for (const route of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      await page.goto(url(`/#/${route}`));
      await page.getByRole("heading", { name: "Inbox" }).waitFor();
      expect(await page.title(), route).toMatch(/^Inbox · /);
    }
    await page.goto(url("/#/sessions"));
    await page.getByRole("heading", { name: "Sessions" }).waitFor();
    expect(page.errors).toEqual([]);
  });

  it("shows the verification as the app's own badge before the sender's name, which is isolated and stripped", async () => {
    await page.goto(url("/#/inbox"));
    await expect.poll(() => page.locator(".live-status").getAttribute("data-state")).toBe("live");
    // A name that tries to read as "verified" and to reverse what follows it.
    await send("trust me", "Eve (verified sender)\u202E\u2066 ");
    const message = page.locator(".message").filter({ hasText: "trust me" });
    await message.waitFor();
    const meta = await message.locator(".meta").evaluate((p) => {
      const badge = p.querySelector(".badge")!;
      const from = p.querySelector(".from")!;
      return {
        badge: badge.textContent,
        from: from.textContent,
        fromTag: from.tagName,
        badgeFirst: Boolean(badge.compareDocumentPosition(from) & Node.DOCUMENT_POSITION_FOLLOWING),
        text: p.textContent,
      };
    });
    expect(meta).toMatchObject({ badge: "Unverified", from: "Eve (verified sender)", fromTag: "BDI", badgeFirst: true });
    expect(meta.text).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
    expect(await message.locator(".body").textContent()).toBe("trust me");
  });

  it("shows the newest page, decrypts only what is in view with the keys read once, and loads older pages on demand", async () => {
    for (let i = 1; i <= MESSAGES; i++) await send(`message ${i}`);
    const requests: string[] = [];
    const onRequest = (req: Request) => {
      if (new URL(req.url()).pathname === "/api/messages") requests.push(new URL(req.url()).search);
    };
    page.on("request", onRequest);
    await page.reload();
    await page.getByRole("heading", { name: "Inbox" }).waitFor();
    await expect.poll(() => page.locator(".live-status").getAttribute("data-state")).toBe("live");

    // The newest page, newest first: not all 46 messages.
    const items = page.locator(".message");
    expect(await items.count()).toBe(PAGE_SIZE);
    expect(await items.first().getAttribute("data-id")).toBe(String(MESSAGES + 1));
    // The live channel caught up from the newest id it had, never from 0.
    expect(requests[0]).toBe(`?before=${Number.MAX_SAFE_INTEGER}&limit=${PAGE_SIZE}`);
    expect(requests.slice(1)).toEqual([`?after=${MESSAGES + 1}&limit=100`]);

    // Only what is on screen (and just below) is decrypted.
    await expect.poll(() => items.first().locator(".body").textContent()).toBe(`message ${MESSAGES}`);
    const opened = await page.locator('.message[data-state="open"]').count();
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThan(PAGE_SIZE);
    expect(await items.last().getAttribute("data-state")).toBe("sealed");

    // Older pages on demand, until the oldest.
    const older = page.getByRole("button", { name: "Load older messages" });
    await older.click();
    await expect.poll(() => items.count()).toBe(2 * PAGE_SIZE);
    await older.click();
    await expect.poll(() => items.count()).toBe(MESSAGES + 1);
    await older.waitFor({ state: "hidden" });
    expect(requests.slice(2)).toEqual([
      `?before=${MESSAGES + 2 - PAGE_SIZE}&limit=${PAGE_SIZE}`,
      `?before=${MESSAGES + 2 - 2 * PAGE_SIZE}&limit=${PAGE_SIZE}`,
    ]);
    page.off("request", onRequest);

    // Scrolled to the bottom, the oldest opens too; the keys were read from
    // IndexedDB once for all of them (before: once per message), and once by the
    // page's start (a session is resumed only where the keys are).
    await items.last().scrollIntoViewIfNeeded();
    await expect.poll(() => items.last().locator(".body").textContent()).toBe("trust me");
    await expect.poll(() => items.nth(MESSAGES - 1).locator(".body").textContent()).toBe("message 1");
    expect(await page.evaluate(() => (window as unknown as { idbOpens: number }).idbOpens)).toBe(2);
    expect(page.errors).toEqual([]);
  });

  it("deletes several messages at once, then everything shown after a confirmation", async () => {
    const items = page.locator(".message");
    await items.first().scrollIntoViewIfNeeded();
    for (const id of [MESSAGES + 1, MESSAGES]) {
      await page.locator(`.message[data-id="${id}"]`).getByRole("checkbox").check();
    }
    await page.getByRole("button", { name: "Delete selected (2)" }).click();
    await expect.poll(() => items.count()).toBe(MESSAGES - 1);
    expect(await page.locator(`.message[data-id="${MESSAGES + 1}"]`).count()).toBe(0);

    const all = page.getByRole("button", { name: "Delete all shown" });
    await all.click();
    await page.getByRole("button", { name: `Really delete all ${MESSAGES - 1} shown?` }).click();
    await expect.poll(() => items.count(), { timeout: 30_000 }).toBe(0);
    await page.getByText("No messages yet.").waitFor();

    // Gone on the server too.
    await page.reload();
    await page.getByText("No messages yet.").waitFor();
    expect(await items.count()).toBe(0);
    expect(page.errors).toEqual([]);
  });

  it("says so when the server refuses the logout, and stays logged in", async () => {
    await page.route("**/auth/logout", (route) =>
      route.fulfill({
        status: 429,
        contentType: "application/json",
        headers: { "retry-after": "30" },
        body: JSON.stringify({ error: "rate_limited", message: "Too many requests." }),
      }),
    );
    await page.locator("#nav").getByRole("button", { name: "Log out" }).click();
    const notice = page.locator("#notice");
    await expect.poll(() => notice.textContent()).toMatch(/You are still logged in: the server did not end this session\. Too many attempts/);
    expect(await notice.getAttribute("role")).toBe("alert");
    expect(await page.getByRole("heading", { name: "Inbox" }).isVisible()).toBe(true);
    // The session is alive: the app still works.
    await page.getByRole("link", { name: "Sessions" }).click();
    await expect.poll(() => page.locator("caption").textContent()).toMatch(/active session/);

    await page.unroute("**/auth/logout");
    await page.locator("#nav").getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    await expect.poll(() => notice.textContent()).toMatch(/You logged out/);
    expect(await notice.getAttribute("role")).toBe("status");
    expect(page.errors.filter((e) => !/status of 429/.test(e))).toEqual([]);
  });
});
