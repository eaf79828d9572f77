// Key maintenance and session control in the browser, with 2FA off: change the
// password (a new escrow version), rotate the keys (old messages still open),
// unlock a second device with the new password, and revoke it from the first.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../e2e/devServer";
import { Authenticator, launchChromium, newPage, OWNER_PASSWORD, probeStoredKeys, startServer } from "./harness";

const NEW_PASSWORD = "violet-canyon-lantern-88-mosaic?";

let server: DevServer;
let browser: Browser;
let laptop: BrowserContext;
let tablet: BrowserContext;
let page: Page;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchChromium()]);
  laptop = await browser.newContext();
  tablet = await browser.newContext();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function sendFromContactPage(text: string) {
  const context = await browser.newContext();
  const visitor = await newPage(context, "visitor");
  await visitor.goto(`${server.url}/contact`);
  await visitor.getByLabel("Message").fill(text);
  await visitor.getByRole("button", { name: "Send sealed message" }).click();
  await expect.poll(() => visitor.getByRole("status").first().textContent()).toMatch(/^Sent\./);
  await context.close();
}

const bodies = (p: Page) => p.locator(".message .body").allTextContents();

describe("keys and sessions", () => {
  it("claims, and receives a message sealed to the first encryption key", async () => {
    page = await newPage(laptop, "laptop");
    await page.goto(server.url);
    await page.getByLabel("Setup code").fill(server.setupCode);
    await page.getByLabel("Password", { exact: true }).fill(OWNER_PASSWORD);
    await page.getByLabel("Confirm password").fill(OWNER_PASSWORD);
    await page.getByRole("button", { name: "Claim this instance" }).click();
    await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    await sendFromContactPage("before rotation");
    await expect.poll(() => bodies(page)).toEqual(["before rotation"]);
  });

  it("changes the password: a wrong current password is refused, then the backup is re-wrapped as version 2", async () => {
    await page.getByRole("link", { name: "Keys" }).click();
    await expect.poll(() => page.locator(".summary").textContent()).toMatch(/Version 1/);
    const form = page.locator("form", { has: page.getByRole("heading", { name: "Change password" }) });
    await form.getByLabel("Current password").fill("not my password at all");
    await form.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await form.getByLabel("Confirm new password").fill(NEW_PASSWORD);
    await form.getByRole("button", { name: "Change password" }).click();
    await expect.poll(() => form.getByRole("alert").textContent(), { timeout: 30_000 }).toMatch(/does not unlock your keys/);
    await form.getByLabel("Current password").fill(OWNER_PASSWORD);
    await form.getByRole("button", { name: "Change password" }).click();
    await expect.poll(() => form.getByRole("status").textContent(), { timeout: 30_000 }).toMatch(/Password changed\. Key backup is now version 2/);
  });

  it("rotates the keys: the JWKS marks the old ones retired, and old and new messages both open", async () => {
    const before = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; use: string; status?: string }> };
    const form = page.locator("form", { has: page.getByRole("heading", { name: "Rotate keys" }) });
    await form.getByLabel("Password", { exact: true }).fill(NEW_PASSWORD);
    await form.getByRole("button", { name: "Rotate keys" }).click();
    await expect.poll(() => form.getByRole("status").textContent(), { timeout: 30_000 }).toMatch(/Keys rotated\. Key backup is now version 3/);
    await expect.poll(() => page.locator(".summary").textContent()).toMatch(/plus 1 retired/);

    const after = (await (await fetch(`${server.url}/.well-known/jwks.json`, { cache: "no-store" })).json()) as typeof before;
    const oldEnc = before.keys.find((k) => k.use === "enc")!;
    expect(after.keys.find((k) => k.kid === oldEnc.kid)?.status).toBe("retired");
    expect(after.keys.filter((k) => k.use === "enc" && k.status !== "retired")).toHaveLength(1);

    await sendFromContactPage("after rotation");
    await page.getByRole("link", { name: "Inbox" }).click();
    await expect.poll(() => bodies(page)).toEqual(["after rotation", "before rotation"]);
    const probe = await probeStoredKeys(page);
    expect(probe!.extractable).toEqual([false, false, false]);
  });

  it("unlocks another device with the new password, which reads the message sealed to the retired key", async () => {
    const other = await newPage(tablet, "tablet");
    await other.goto(server.url);
    await other.getByLabel("Password", { exact: true }).fill(OWNER_PASSWORD);
    await other.getByRole("button", { name: "Unlock" }).click();
    await expect.poll(() => other.getByRole("alert").first().textContent(), { timeout: 30_000 }).toMatch(/does not unlock/);
    await other.getByLabel("Password", { exact: true }).fill(NEW_PASSWORD);
    await other.getByRole("button", { name: "Unlock" }).click();
    await other.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => bodies(other)).toEqual(["after rotation", "before rotation"]);
  });

  it("revokes the other device from the sessions list; it drops to a clean logged-out state at once", async () => {
    const [other] = tablet.pages() as [Page];
    await page.getByRole("link", { name: "Sessions" }).click();
    await expect.poll(() => page.locator("caption").textContent()).toMatch(/^2 active sessions/);
    await page.locator('tr[data-current="false"]').getByRole("button", { name: /^Log out/ }).click();
    await expect.poll(() => page.locator("caption").textContent()).toMatch(/^1 active session\b/);
    // Its socket is closed with 4403: the tablet shows the login screen and why.
    await other.getByRole("heading", { name: "Log in" }).waitFor({ timeout: 15_000 });
    await expect.poll(() => other.locator("#notice").textContent()).toMatch(/session was ended/);
    expect(await other.evaluate(() => document.cookie)).toBe("");
  });

  it("deletes a message", async () => {
    await page.getByRole("link", { name: "Inbox" }).click();
    await expect.poll(() => bodies(page)).toHaveLength(2);
    await page.getByRole("button", { name: /^Delete the message/ }).first().click();
    await expect.poll(() => bodies(page)).toEqual(["before rotation"]);
    await page.reload();
    await expect.poll(() => bodies(page)).toEqual(["before rotation"]);
    expect(page.errors).toEqual([]);
  });

  it("regenerates backup codes (a step-up code, then the next code) and turns 2FA off with a backup code", async () => {
    await page.getByRole("link", { name: "Two-factor" }).click();
    await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
    const authenticator = new Authenticator((await page.locator("code.secret").getAttribute("data-secret"))!);
    await page.getByLabel("Code from the app").fill(await authenticator.code());
    await page.getByRole("button", { name: "Confirm and turn on" }).click();
    await page.getByRole("heading", { name: "Your backup codes" }).waitFor();
    const firstCodes = await page.locator(".codes code").allTextContents();
    await page.getByRole("button", { name: "I have saved them" }).click();

    // This session logged in without a code, so step-up takes one code and the
    // action the next (each 30-second step is accepted once).
    const regenerate = page.locator("form", { has: page.getByRole("heading", { name: "Make new backup codes" }) });
    await regenerate.getByLabel("Authentication code").fill(await authenticator.code());
    await regenerate.getByRole("button", { name: "Make new backup codes" }).click();
    await expect.poll(() => regenerate.getByRole("status").textContent()).toMatch(/Now enter the next code/);
    await regenerate.getByLabel("Authentication code").fill(await authenticator.code());
    await regenerate.getByRole("button", { name: "Make new backup codes" }).click();
    await page.getByRole("heading", { name: "Your backup codes" }).waitFor();
    const newCodes = await page.locator(".codes code").allTextContents();
    expect(newCodes).toHaveLength(10);
    expect(newCodes.some((c) => firstCodes.includes(c))).toBe(false);
    await page.getByRole("button", { name: "I have saved them" }).click();

    const disable = page.locator("form", { has: page.getByRole("heading", { name: "Turn off two-factor authentication" }) });
    await disable.getByRole("button", { name: "Use a backup code instead" }).click();
    await disable.getByLabel("Backup code").fill(firstCodes[0]!);
    await disable.getByRole("button", { name: "Turn off two-factor authentication" }).click();
    await expect.poll(() => disable.getByRole("alert").textContent()).toMatch(/wrong, expired or already used/);
    await disable.getByLabel("Backup code").fill(newCodes[0]!);
    await disable.getByRole("button", { name: "Turn off two-factor authentication" }).click();
    await expect.poll(() => page.locator("main").textContent()).toMatch(/Two-factor authentication is off\./);
    expect(page.errors).toEqual([]);
  }, 120_000);
});
