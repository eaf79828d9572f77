// Passkeys and recovery in a real browser (docs/api.md §12, §13), with Chromium's
// DevTools virtual authenticator (CTAP2, internal, resident keys, UV, PRF).
//
// NEEDS THE SERVER ROUTES of §12 and §13 (POST /api/passkeys/options, /api/passkeys,
// /auth/passkey/options, the `passkey` factor, GET/PUT /api/recovery,
// /auth/recovery, POST /auth/escrow {recovery}, DELETE /api/recovery/request and the
// recovery_requested frame). They were written on the web-app branch before those
// routes were merged, so they were not run there; run them after the merge with
// `npx vitest run --config test/browser/vitest.config.ts test/browser/passkeysRecovery.browser.test.ts`.
//
// A virtual authenticator belongs to one page (its DevTools target) and keeps its
// credentials across navigations, so each test keeps one page, and one authenticator,
// alive. "A fresh profile" for the passkey is that same page with this origin's
// storage (IndexedDB keys, localStorage, cookies) wiped: a device that has only the
// passkey. (Copying a credential to another page would not carry its PRF secret:
// DevTools' Credential has no field for it.) The recovery tests use real new
// contexts, as recovery needs no authenticator.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, CDPSession, Locator, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort, REPO_ROOT } from "../../scripts/lib/devServer.mjs";
import { startInstance, type DevServer } from "../e2e/devServer";
import { splitRecoveryKey } from "../../client/recovery/shares";
import { generateRecoveryKey } from "../../client/recovery/recoveryKey";
import { Authenticator, claimInBrowser, launchChromium, newPage, OWNER_PASSWORD, startServer } from "./harness";

const NEW_PASSWORD = "velvet-canyon-ledger-58-quarry!";
const NEWER_PASSWORD = "saffron-tunnel-meadow-27-lantern!";

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

// Screenshots for docs/screenshots (docs/passkeys.md, docs/recovery.md), when asked
// for: UPDATE_SCREENSHOTS=1. A page whole, or one element of it (a printed page).
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(REPO_ROOT, "docs", "screenshots") : null;
async function docShot(target: Page | Locator, name: string) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await ("goto" in target ? target.screenshot({ path, fullPage: true }) : target.screenshot({ path }));
}

async function addAuthenticator(page: Page, options: { prf: boolean }): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      hasPrf: options.prf,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

/** Where the pages go: the server's URL, or the localhost origin passkeys need. */
const base = (server: DevServer) => (server as DevServer & { origin?: string }).origin ?? server.url;

const claim = (page: Page, server: DevServer) => claimInBrowser(page, base(server) + "/", server.setupCode);

async function sendFromContactPage(server: DevServer, text: string) {
  const context = await browser.newContext();
  const visitor = await newPage(context, "visitor");
  await visitor.goto(base(server) + "/contact");
  await visitor.getByLabel("Message").fill(text);
  await visitor.getByRole("button", { name: "Send sealed message" }).click();
  await expect.poll(() => visitor.getByRole("status").first().textContent()).toMatch(/^Sent\./);
  await context.close();
}

/** This origin's storage wiped: no keys, no session, no cookies. The page (and its authenticator) stays. */
async function wipeProfile(page: Page) {
  await page.evaluate(async () => {
    localStorage.clear();
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase("indienet");
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
      r.onblocked = () => resolve();
    });
  });
  await page.context().clearCookies();
  await page.reload();
}

/** Turns on TOTP from the Two-factor screen, as an owner with an authenticator app would; returns that app. */
async function turnOnTotp(page: Page): Promise<Authenticator> {
  await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  const authenticator = new Authenticator((await page.locator("code.secret").getAttribute("data-secret"))!);
  await page.getByLabel("Code from the app").fill(await authenticator.code());
  await page.getByRole("button", { name: "Confirm and turn on" }).click();
  await page.getByRole("heading", { name: "Your backup codes" }).waitFor();
  await page.getByRole("button", { name: "I have saved them" }).click();
  await expect.poll(() => page.locator("main").textContent()).toMatch(/Two-factor authentication is on/);
  return authenticator;
}

/**
 * The Recovery screen, past its step-up: with 2FA on, a code from the app. With
 * `cancelFirst`, the prompt is closed once first: the screen says so and offers it again.
 */
async function openRecoveryScreen(page: Page, authenticator: Authenticator, cancelFirst = false) {
  await page.getByRole("link", { name: "Recovery", exact: true }).click();
  await page.getByRole("heading", { name: "Recovery", exact: true }).waitFor();
  await page.getByRole("heading", { name: "Confirm it's you" }).waitFor();
  if (cancelFirst) {
    await page.getByRole("button", { name: "Cancel", exact: true }).click();
    await page.getByRole("alert").filter({ hasText: "Cancelled: nothing was changed." }).waitFor();
    await page.getByRole("button", { name: "Show the recovery settings" }).click();
    await page.getByRole("heading", { name: "Confirm it's you" }).waitFor();
  }
  await page.getByLabel("Authentication code").fill(await authenticator.code());
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await page.getByRole("button", { name: /^(Create|Replace) the recovery key$/ }).waitFor({ timeout: 30_000 });
}

/**
 * Step-up when the page asks for it ("Confirm it's you", with a backup code), else
 * nothing: the action may still count as fresh. Returns once either shows. The form
 * offers what the owner has (web/ui/stepUp.ts): "Use a passkey" (every caller here
 * has one), and the app's code only with an authenticator app (`app`).
 */
async function stepUpIfAsked(page: Page, next: Locator, backupCode: string, app: boolean, timeout = 30_000) {
  const confirmHeading = page.getByRole("heading", { name: "Confirm it's you" });
  await Promise.race([confirmHeading.waitFor({ timeout }), next.waitFor({ timeout })]);
  if (await confirmHeading.isVisible()) {
    expect(await page.getByRole("button", { name: "Use a passkey" }).count()).toBe(1);
    const toggle = page.getByRole("button", { name: "Use a backup code instead" });
    expect(await toggle.count()).toBe(app ? 1 : 0);
    if (app) await toggle.click();
    await page.getByLabel("Backup code").fill(backupCode);
    await page.getByRole("button", { name: "Confirm", exact: true }).click();
  }
}

const SHARES_LABEL = "Shares, one after another, as printed (or one per line)";

/** A share's one-line text as the printed page lays it out (client/recovery/shares.ts, `printable`). */
function printed(share: string): string {
  const [prefix, host, code] = share.split(" ");
  const groups = code!.split("-");
  const rows: string[] = [];
  for (let g = 0; g < groups.length; g += 5) rows.push("    " + groups.slice(g, g + 5).join("-"));
  return [`Indienet recovery share for ${host}`, "Keep it private.", "", `    ${prefix} ${host}`, ...rows].join("\n");
}

async function newPassword(page: Page, password: string) {
  await page.getByLabel("New password", { exact: true }).fill(password);
  await page.getByLabel("Confirm new password").fill(password);
  await expect.poll(() => page.locator(".strength-text").textContent(), { timeout: 20_000 }).toMatch(/^(Strong|Very strong): /);
}

describe("passkeys (needs the §12 routes)", () => {
  let server: DevServer;
  let context: BrowserContext;
  beforeAll(async () => {
    // §12: an IP-address ORIGIN cannot use passkeys, so this server's ORIGIN is
    // http://localhost:<port> (plain http on loopback is allowed by
    // ALLOW_INSECURE_FEDERATION), though it listens on 127.0.0.1.
    process.env.INDIENET_PORT_RANGE ??= "9400-9499";
    const port = await findFreePort();
    const origin = `http://localhost:${port}`;
    server = Object.assign(
      await startInstance({ port, vars: { ORIGIN: origin, ALLOW_INSECURE_FEDERATION: "true" }, readyTimeoutMs: 100_000 }),
      { origin },
    );
    context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  });
  afterAll(async () => {
    await context?.close();
    await server?.stop();
  });

  let page: Page & { errors: string[] };
  let backupCodes: string[];

  it("adds a PRF passkey, logs in with it, unlocks a fresh profile with it alone, and offers a non-PRF one as a factor only", async () => {
    page = await newPage(context, "owner");
    const prfAuthenticator = await addAuthenticator(page, { prf: true });
    await claim(page, server);
    await sendFromContactPage(server, "Sealed before any passkey");

    // Add: 2FA is off, so step-up is a signature alone; this passkey turns 2FA on.
    await page.getByRole("link", { name: "Two-factor" }).click();
    await page.getByLabel("Name", { exact: true }).fill("Laptop passkey");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByRole("heading", { name: "Your backup codes" }).waitFor({ timeout: 30_000 });
    backupCodes = await page.locator(".codes li code").allTextContents();
    expect(backupCodes).toHaveLength(10);
    await page.getByRole("button", { name: "I have saved them" }).click();
    const row = page.locator("[data-passkey]").filter({ hasText: "Laptop passkey" });
    await expect.poll(() => row.textContent()).toMatch(/second factor; can unlock your keys/);
    await docShot(page, "passkeys");

    // Turn on unlock for it (the password opens the escrow to re-seal it).
    await row.getByRole("button", { name: "Turn on unlock" }).click();
    const unlockForm = page.locator("form").filter({ hasText: "Unlock with" });
    await unlockForm.getByLabel("Your password").fill(OWNER_PASSWORD);
    await unlockForm.getByRole("button", { name: "Turn on unlock" }).click();
    await expect.poll(() => page.locator("main").textContent(), { timeout: 60_000 }).toMatch(/now unlocks your keys on a new device/);
    await expect.poll(() => row.textContent()).toMatch(/unlocks your keys/);

    // Log out, then log in with the passkey as the second factor.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    await docShot(page, "login-with-passkey");
    await page.getByRole("button", { name: "Log in with a passkey" }).click();
    // Logged in again, back on the screen this tab showed (as with a code: owner.browser.test.ts).
    await page.getByRole("button", { name: "Log out", exact: true }).waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "Inbox" }).click();
    await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 30_000 });

    // A fresh profile with only the passkey: no password, no code. Without keys there
    // can be no session, so the page load asks for none (no 401 from /auth/refresh).
    const refreshes: string[] = [];
    const onRequest = (req: Request) => void (new URL(req.url()).pathname === "/auth/refresh" && refreshes.push(req.method()));
    page.on("request", onRequest);
    await wipeProfile(page);
    await page.getByRole("heading", { name: "Unlock your keys on this device" }).waitFor();
    page.off("request", onRequest);
    expect(refreshes).toEqual([]);
    await docShot(page, "unlock-with-passkey");
    await page.getByRole("button", { name: "Unlock with a passkey" }).click();
    await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => page.locator("main").textContent(), { timeout: 30_000 }).toContain("Sealed before any passkey");

    // A second authenticator without PRF: a second factor only. Step-up with a backup code.
    await prfAuthenticator.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: prfAuthenticator.id });
    await addAuthenticator(page, { prf: false });
    await page.getByRole("link", { name: "Two-factor" }).click();
    await page.getByLabel("Name", { exact: true }).fill("Security key");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    // The passkey login above may still count as a fresh step-up; if not, a backup code does.
    const keyRow = page.locator("[data-passkey]").filter({ hasText: "Security key" });
    await stepUpIfAsked(page, keyRow, backupCodes[0]!, false);
    await expect.poll(() => keyRow.textContent(), { timeout: 30_000 }).toMatch(/second factor only/);
    expect(await keyRow.getByRole("button", { name: "Turn on unlock" }).count()).toBe(0);

    // On a fresh profile it cannot unlock, but it is still the factor: the password
    // finishes, with no code asked.
    await wipeProfile(page);
    await page.getByRole("heading", { name: "Unlock your keys on this device" }).waitFor();
    await page.getByRole("button", { name: "Unlock with a passkey" }).click();
    const status = page.locator("main").getByRole("status");
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toBe(
      "Your passkey confirmed it's you, but it cannot unlock your keys here (no PRF output from the passkey or this browser). Enter your password to finish: no code needed.",
    );
    expect(await page.getByLabel("Authentication code").isVisible()).toBe(false);
    // Five minutes on, in the page only: the kept escrow's ticket would have lapsed,
    // so it is dropped before the password step and the factor is asked again.
    await page.clock.setSystemTime(Date.now() + 5 * 60_000);
    await page.getByLabel("Password", { exact: true }).fill(OWNER_PASSWORD);
    await page.getByRole("button", { name: "Unlock", exact: true }).click();
    await expect.poll(() => page.locator("main").getByRole("alert").textContent()).toBe(
      "Your second factor was accepted too long ago (it holds for 5 minutes): use your passkey again, or enter a code.",
    );
    expect(await page.getByLabel("Authentication code").isVisible()).toBe(true);
    // Back to the real time (the login signs with it); the passkey again, and the
    // password already typed finishes at once.
    await page.clock.setSystemTime(Date.now());
    await page.getByRole("button", { name: "Unlock with a passkey" }).click();
    // Unlocked and logged in, back on the screen this tab showed (Two-factor).
    await page.getByRole("button", { name: "Log out", exact: true }).waitFor({ timeout: 60_000 });
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor({ timeout: 30_000 });
    expect(page.errors).toEqual([]);
  });

  it("adds an authenticator app next to the passkeys: no new backup codes, the old ones stay (§12)", async () => {
    await page.getByRole("link", { name: "Two-factor" }).click();
    await page.getByRole("button", { name: "Add an authenticator app" }).click();
    const secretCode = page.locator("code.secret");
    await stepUpIfAsked(page, secretCode, backupCodes[1]!, false);
    const secret = await secretCode.getAttribute("data-secret");
    await page.getByLabel("Code from the app").fill(await new Authenticator(secret!).code());
    await page.getByRole("button", { name: "Confirm the app" }).click();
    await expect.poll(() => page.locator("main").textContent(), { timeout: 30_000 }).toMatch(/your backup codes are unchanged/);
    expect(await page.getByRole("heading", { name: "Your backup codes" }).count()).toBe(0);
    await expect.poll(() => page.locator("main").textContent()).toMatch(/Two-factor authentication is on\. (8|9|10) backup codes left/);
    expect(page.errors).toEqual([]);
  });

  it("removes a passkey that unlocks only after saving the key backup without it (docs/threat-model.md, finding 21)", async () => {
    const row = page.locator("[data-passkey]").filter({ hasText: "Laptop passkey" });
    await expect.poll(() => row.textContent()).toMatch(/unlocks your keys/);
    await row.getByRole("button", { name: "Remove" }).click();
    const form = page.locator("form").filter({ hasText: 'Remove "Laptop passkey"' });
    await expect.poll(() => form.textContent()).toMatch(/saved again without it first/);
    await form.getByLabel("Your password").fill(OWNER_PASSWORD);
    await form.getByRole("button", { name: "Remove", exact: true }).click();
    const done = page.getByText('The passkey "Laptop passkey" was removed.');
    await stepUpIfAsked(page, done, backupCodes[2]!, true, 60_000);
    await done.waitFor({ timeout: 60_000 });
    expect(await row.count()).toBe(0);
    expect(page.errors).toEqual([]);
  });

  it("Keys: a stale step-up asks for the factor under the form; Cancel closes it, and a passkey answers it", async () => {
    // Six minutes on, in the page only: its token's login is past step-up's five.
    await page.clock.setSystemTime(Date.now() + 6 * 60_000);
    await page.getByRole("link", { name: "Keys" }).click();
    const form = page.locator("form", { has: page.getByRole("heading", { name: "Change password" }) });
    await form.getByLabel("Current password").fill(OWNER_PASSWORD);
    await form.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await form.getByLabel("Confirm new password").fill(NEW_PASSWORD);
    await form.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("heading", { name: "Confirm it's you" }).waitFor({ timeout: 30_000 });
    // The owner has the app and a passkey: both are offered, and a backup code.
    await page.getByLabel("Authentication code").waitFor();
    expect(await page.getByRole("button", { name: "Use a backup code instead" }).count()).toBe(1);
    await docShot(page.locator("main"), "keys-step-up");
    // Cancel closes the prompt and says so; nothing ran, and the form can be sent again.
    await page.getByRole("button", { name: "Cancel", exact: true }).click();
    await expect.poll(() => form.getByRole("alert").textContent()).toBe("Cancelled: nothing was changed.");
    expect(await page.getByRole("heading", { name: "Confirm it's you" }).count()).toBe(0);
    await form.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("heading", { name: "Confirm it's you" }).waitFor({ timeout: 30_000 });
    // Back to the real time before signing: the server refuses an assertion from the future.
    await page.clock.setSystemTime(Date.now());
    await page.getByRole("button", { name: "Use a passkey" }).click();
    await expect.poll(() => form.getByRole("status").textContent(), { timeout: 60_000 }).toMatch(/Password changed\. Key backup is now version/);
    expect(await page.getByRole("heading", { name: "Confirm it's you" }).count()).toBe(0);
    expect(page.errors).toEqual([]);
  });
});

describe("recovery with RECOVERY_DELAY_S=0 (needs the §13 routes)", () => {
  let server: DevServer;
  const contexts: BrowserContext[] = [];
  const fresh = async (label: string) => {
    const c = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    contexts.push(c);
    return newPage(c, label);
  };
  beforeAll(async () => {
    server = await startServer({ RECOVERY_DELAY_S: "0" });
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await server?.stop();
  });

  it("recovers on a fresh profile with two of three shares, sets a new password, then again with the sheet", { timeout: 300_000 }, async () => {
    const owner = await fresh("owner");
    await claim(owner, server);
    await sendFromContactPage(server, "Sealed before the recovery");

    // With 2FA off there is no recovery key to make: the screen says why, and where to turn it on.
    await owner.goto(server.url + "/#/recovery");
    await owner.getByRole("heading", { name: "Recovery", exact: true }).waitFor();
    const needsTwoFactor = owner.locator("[data-needs-2fa]");
    await expect.poll(() => needsTwoFactor.textContent(), { timeout: 30_000 }).toMatch(
      /^Turn on two-factor authentication first\. While it is off, anyone can download your key backup without a code, and the recovery key opens it at once/,
    );
    expect(await owner.locator("main").textContent()).toMatch(/No recovery key is set up/);
    expect(await owner.getByRole("button", { name: "Create the recovery key" }).count()).toBe(0);
    await docShot(owner, "recovery-needs-2fa");
    await needsTwoFactor.getByRole("link", { name: "Turn on two-factor authentication" }).click();
    const authenticator = await turnOnTotp(owner);

    await openRecoveryScreen(owner, authenticator, true);
    await expect.poll(() => owner.locator("main").textContent()).toMatch(/No recovery key is set up/);
    expect(await needsTwoFactor.count()).toBe(0);
    await owner.getByLabel("Your password").first().fill(OWNER_PASSWORD);
    await owner.getByLabel("Keep it as").selectOption("both");
    await owner.getByLabel("Shares needed (k)").fill("2");
    await owner.getByLabel("Shares in all (n)").fill("3");
    await docShot(owner, "recovery-setup");
    await owner.getByRole("button", { name: "Create the recovery key" }).click();
    await owner.locator("[data-share]").first().waitFor({ timeout: 60_000 });
    const shares = await owner.locator("[data-share]").evaluateAll((els) => els.map((e) => e.getAttribute("data-share")!));
    const sheet = await owner.locator("[data-recovery-key]").getAttribute("data-recovery-key");
    expect(shares).toHaveLength(3);
    expect(sheet).toMatch(/^([0-9A-Z]{4}-){13}[0-9A-Z]{4}$/);
    await docShot(owner.locator("article.recovery-page").filter({ has: owner.locator("[data-recovery-key]") }), "recovery-sheet");
    await docShot(owner.locator("[data-share]").first(), "recovery-share");

    // A fresh profile: no password, no factor, two shares (one of them typed with a mistake first).
    const stranger = await fresh("recovering");
    await stranger.goto(server.url + "/");
    await stranger.getByRole("button", { name: "Forgot your password or lost your devices?" }).click();
    await stranger.getByRole("heading", { name: "Recover your keys" }).waitFor();
    await docShot(stranger, "recover-start");
    await stranger.getByRole("button", { name: "I have shares instead" }).click();
    await stranger.getByLabel(SHARES_LABEL).fill(shares[0]!);
    await stranger.getByRole("button", { name: "Start recovery" }).click();
    await expect.poll(() => stranger.getByRole("alert").first().textContent()).toMatch(/This set needs 2 of its 3 shares; 1 was given/);
    // One share as it is printed (a heading, then its first line and rows of code groups), one on a line of its own.
    await stranger.getByLabel(SHARES_LABEL).fill(`${printed(shares[2]!)}\n\n${shares[0]}`);
    await stranger.getByRole("button", { name: "Start recovery" }).click();
    await expect.poll(() => stranger.locator("main").textContent(), { timeout: 30_000 }).toMatch(/Recovery is ready/);
    await newPassword(stranger, NEW_PASSWORD);
    await docShot(stranger, "recover");
    await stranger.getByRole("button", { name: "Complete recovery" }).click();
    await stranger.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => stranger.locator("main").textContent(), { timeout: 30_000 }).toContain("Sealed before the recovery");

    // Elsewhere, the new password unlocks.
    const elsewhere = await fresh("elsewhere");
    await elsewhere.goto(server.url + "/");
    await elsewhere.getByRole("heading", { name: "Unlock your keys on this device" }).waitFor();
    await elsewhere.getByLabel("Password", { exact: true }).fill(NEW_PASSWORD);
    await elsewhere.getByLabel("Authentication code").fill(await authenticator.code());
    await elsewhere.getByRole("button", { name: "Unlock", exact: true }).click();
    await elsewhere.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });

    // Recover again, with the sheet this time (the same recovery key is still set up).
    const again = await fresh("again");
    await again.goto(server.url + "/");
    await again.getByRole("button", { name: "Forgot your password or lost your devices?" }).click();
    await again.getByLabel("Recovery key (from your recovery sheet)").fill(sheet!.toLowerCase().replace(/-/g, " "));
    await again.getByRole("button", { name: "Start recovery" }).click();
    await expect.poll(() => again.locator("main").textContent(), { timeout: 30_000 }).toMatch(/Recovery is ready/);
    await newPassword(again, NEWER_PASSWORD);
    // The re-seal fails once (a 503 put in the server's place) after the recovery's
    // login: the page says the keys are back, and the same button finishes the rest
    // without spending the request again.
    let puts = 0;
    await again.route("**/api/escrow", (route) =>
      route.request().method() === "PUT" && puts++ === 0
        ? route.fulfill({ status: 503, json: { error: "internal_error", message: "Try again." } })
        : route.continue(),
    );
    await again.getByRole("button", { name: "Complete recovery" }).click();
    await expect
      .poll(() => again.getByRole("alert").first().textContent(), { timeout: 60_000 })
      .toMatch(/Your keys are back on this device, but the new password is not set yet: Try again\. Press "Complete recovery" again to retry\./);
    expect(again.errors.splice(0)).toEqual([expect.stringMatching(/Failed to load resource: the server responded with a status of 503/)]);
    const requests: string[] = [];
    again.on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    await again.getByRole("button", { name: "Complete recovery" }).click();
    await again.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 });
    expect(requests.filter((r) => r === "POST /auth/escrow" || r === "POST /auth/login")).toEqual([]);
    expect(puts).toBe(2);
    await expect.poll(() => again.locator("main").textContent(), { timeout: 30_000 }).toContain("Sealed before the recovery");
    for (const p of [owner, stranger, elsewhere, again]) expect(p.errors).toEqual([]);
  });
});

describe("recovery with a delay, cancelled by the owner (needs the §13 routes)", () => {
  let server: DevServer;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    server = await startServer({ RECOVERY_DELAY_S: "3600" });
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await server?.stop();
  });

  it("shows the owner a banner live and lets them cancel; the request cannot complete", { timeout: 240_000 }, async () => {
    const ownerContext = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const strangerContext = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    contexts.push(ownerContext, strangerContext);
    const owner = await newPage(ownerContext, "owner");
    await claim(owner, server);
    await owner.getByRole("link", { name: "Two-factor" }).click();
    const authenticator = await turnOnTotp(owner);
    await openRecoveryScreen(owner, authenticator);
    await owner.getByLabel("Your password").first().fill(OWNER_PASSWORD);
    await owner.getByRole("button", { name: "Create the recovery key" }).click();
    const sheet = await owner.locator("[data-recovery-key]").getAttribute("data-recovery-key", { timeout: 60_000 });
    await owner.getByRole("button", { name: "Done" }).click();
    await owner.getByRole("link", { name: "Inbox" }).click();
    await expect.poll(() => owner.locator(".live-status").getAttribute("data-state"), { timeout: 30_000 }).toBe("live");

    const stranger = await newPage(strangerContext, "stranger");
    await stranger.goto(server.url + "/");
    await stranger.getByRole("button", { name: "Forgot your password or lost your devices?" }).click();
    await stranger.getByLabel("Recovery key (from your recovery sheet)").fill(sheet!);
    await stranger.getByRole("button", { name: "Start recovery" }).click();
    await expect.poll(() => stranger.locator("main").textContent(), { timeout: 30_000 }).toMatch(/It can be completed from/);
    expect(await stranger.getByRole("button", { name: "Complete recovery" }).isDisabled()).toBe(true);
    await docShot(stranger, "recover-waiting");

    // The owner's open page hears of it at once (the live frame) and stops it.
    const banner = owner.locator(".banner");
    await expect.poll(() => banner.textContent(), { timeout: 30_000 }).toMatch(/Someone started a recovery of your keys/);
    await docShot(owner, "recovery-banner");
    await banner.getByRole("button", { name: "Cancel the recovery" }).click();
    // Cancelling is a step-up action: the banner asks for a code unless the login
    // (here the Recovery screen's confirmation) is under 5 minutes old.
    await expect
      .poll(async () => ((await banner.getByLabel("Authentication code").isVisible()) ? "code" : await owner.locator("#notice").textContent()))
      .toMatch(/^code$|The recovery request was cancelled/);
    if (await banner.getByLabel("Authentication code").isVisible()) {
      await banner.getByLabel("Authentication code").fill(await authenticator.code());
      await banner.getByRole("button", { name: "Confirm", exact: true }).click();
    }
    await expect.poll(() => owner.locator("#notice").textContent()).toMatch(/The recovery request was cancelled/);
    expect(await banner.isHidden()).toBe(true);

    // A reload shows no banner: the request is gone.
    await owner.reload();
    await owner.getByRole("heading", { name: "Inbox" }).waitFor();
    await expect.poll(() => owner.locator("main").textContent()).toBeTruthy();
    expect(await banner.isHidden()).toBe(true);
    expect(owner.errors).toEqual([]);
  });
});

describe("the recovery entry screen (runs without the §13 routes)", () => {
  let server: DevServer;
  let context: BrowserContext;
  beforeAll(async () => {
    server = await startServer();
    context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  });
  afterAll(async () => {
    await context?.close();
    await server?.stop();
  });

  it("refuses too few shares, shares of two sets and a damaged share, in plain words, before any request", async () => {
    const owner = await newPage(context, "owner");
    await claim(owner, server);
    const host = new URL(server.url).host;
    const setA = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 3, host });
    const setB = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 3, host });

    const strangerContext = await browser.newContext();
    const page = await newPage(strangerContext, "stranger");
    const recoveryRequests: string[] = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/auth/recovery") recoveryRequests.push(r.url());
    });
    await page.goto(server.url + "/");
    await page.getByRole("heading", { name: "Unlock your keys on this device" }).waitFor();
    await page.getByRole("button", { name: "Forgot your password or lost your devices?" }).click();
    await page.getByRole("heading", { name: "Recover your keys" }).waitFor();
    await page.getByRole("button", { name: "I have shares instead" }).click();
    const input = page.getByLabel(SHARES_LABEL);
    const start = page.getByRole("button", { name: "Start recovery" });
    const alert = () => page.getByRole("alert").first().textContent();

    await input.fill(setA[0]!.text);
    await start.click();
    await expect.poll(alert).toMatch(/This set needs 2 of its 3 shares; 1 was given/);

    await input.fill(`${setA[0]!.text}\n${setB[1]!.text}`);
    await start.click();
    await expect.poll(alert).toMatch(/Share 2 belongs to another set of shares than share 1/);

    // One character changed in the second share's code (the last one, which is data, not the prefix).
    const text = setA[1]!.text;
    const last = text.at(-1)!;
    const damaged = text.slice(0, -1) + (last === "A" ? "B" : "A");
    await input.fill(`${setA[0]!.text}\n${damaged}`);
    await start.click();
    await expect.poll(alert).toMatch(/Share 2 is damaged/);

    await docShot(page, "recover-errors");
    expect(recoveryRequests).toEqual([]);
    expect(page.errors).toEqual([]);
    await strangerContext.close();
  });
});
