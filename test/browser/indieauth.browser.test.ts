// Signing in to another site with the instance, in a real browser (docs/api.md §14):
// the owner, logged out, follows a client's authorization URL, logs in on the
// consent page (second factor included), unchecks one of the three scopes asked for
// and approves; Chromium lands on the client's redirect URI with a code, which the
// test exchanges with oauth4webapi: the token's scope is exactly the two approved.
// Then Connected apps lists the app and revokes it. The client is a node:http
// server on 127.0.0.1 serving its metadata document and its redirect page
// (test/e2e/indieauthClient.ts); ALLOW_INSECURE_FEDERATION lets it be plain http.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/devServer.mjs";
import type { DevServer } from "../e2e/devServer";
import { authorizationUrl, discover, exchangeCode, INSECURE, startClientApp, type ClientApp } from "../e2e/indieauthClient";
import { Authenticator, claimInBrowser, launchChromium, newPage, startServer } from "./harness";

// Screenshots for docs/screenshots, when asked for (UPDATE_SCREENSHOTS=1).
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(REPO_ROOT, "docs", "screenshots") : null;
async function docShot(page: Page, name: string) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The app's logo: an https URL that never leaves the browser (answered by page.route). */
const LOGO = "https://app-logo.example/logo.png";
// A 1×1 PNG, scaled to 48×48 by the page.
const LOGO_PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");

let server: DevServer;
let browser: Browser;
let context: BrowserContext;
let app: ClientApp;
let as: oauth.AuthorizationServer;
let authenticator: Authenticator;

beforeAll(async () => {
  [server, browser, app] = await Promise.all([
    startServer({ ALLOW_INSECURE_FEDERATION: "1" }),
    launchChromium(),
    startClientApp({ name: "Loopback Notes", logo: LOGO }),
  ]);
  context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  await context.route(LOGO, (route) => route.fulfill({ status: 200, contentType: "image/png", body: LOGO_PNG }));
  as = (await discover(new URL(server.url).href)).as;
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await server?.stop();
});

const url = (path = "/") => server.url + path;

/** Answers a step-up prompt with a code, if one appears before `done` does. */
async function stepUpIfAsked(page: Page, done: () => Promise<unknown>) {
  const prompt = page.getByRole("heading", { name: "Confirm it's you" });
  const outcome = await Promise.race([prompt.waitFor().then(() => "prompt" as const), done().then(() => "done" as const)]);
  if (outcome === "prompt") {
    await page.getByLabel("Authentication code").last().fill(await authenticator.code());
    await page.getByRole("button", { name: "Confirm" }).click();
    await done();
  }
}

describe("IndieAuth consent in Chromium", () => {
  it("claims and turns on two-factor authentication", async () => {
    const page = await newPage(context, "owner");
    await claimInBrowser(page, url(), server.setupCode);

    await page.getByRole("link", { name: "Two-factor" }).click();
    await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
    const secret = await page.locator("code.secret").getAttribute("data-secret");
    authenticator = new Authenticator(secret!);
    await page.getByLabel("Code from the app").fill(await authenticator.code());
    await page.getByRole("button", { name: "Confirm and turn on" }).click();
    await page.getByRole("button", { name: "I have saved them" }).click();
    await expect.poll(() => page.locator("main").textContent()).toMatch(/Two-factor authentication is on/);
    expect(page.errors).toEqual([]);
  });

  let flow: Awaited<ReturnType<typeof authorizationUrl>>;
  let refreshToken: string;

  it("the session that turned on 2FA is asked for a code first; Deny sends the client access_denied", async () => {
    const [page] = context.pages() as [Page];
    // The app expected someone else (`me`, LS §5.2): pointed out, not refused.
    const denied = await authorizationUrl(as, app, { scope: "create", me: "https://someone-else.example/" });
    await page.goto(denied.url.href);
    await page.getByRole("heading", { name: "Confirm it's you" }).waitFor({ timeout: 30_000 });
    await page.getByLabel("Authentication code").fill(await authenticator.code());
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Sign in to Loopback Notes?" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("note").textContent()).toMatch(/^The app expected someone else \(https:\/\/someone-else\.example\/\)/);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(app.redirectUri)), page.getByRole("button", { name: "Deny" }).click()]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("error")).toBe("access_denied");
    expect(landed.searchParams.get("state")).toBe(denied.state);
    expect(landed.searchParams.get("iss")).toBe(new URL(server.url).href);
    expect(page.errors).toEqual([]);
    await page.goto(url());
    await page.getByRole("heading", { name: "Inbox" }).waitFor();
  });

  it("sets the profile that `profile` shares (step-up)", async () => {
    const [page] = context.pages() as [Page];
    await page.getByRole("link", { name: "Connected apps" }).click();
    await page.getByRole("heading", { name: "Connected apps" }).waitFor();
    await expect.poll(() => page.locator("main").textContent()).toMatch(/No apps yet/);
    // Until a profile is saved, the server's is the owner's handle alone.
    await expect.poll(() => page.getByLabel("Name").inputValue()).toBe("owner");
    await page.getByLabel("Name").fill("Ada Lovelace");
    await page.getByLabel("Photo URL (optional)").fill("http://photos.example.org/ada.jpg");
    await page.getByRole("button", { name: "Save profile" }).click();
    const profile = page.getByRole("region", { name: "Your profile" });
    await expect.poll(() => profile.getByRole("alert").first().textContent()).toMatch(/must be an https:\/\/ address/);
    await page.getByLabel("Photo URL (optional)").fill("https://photos.example.org/ada.jpg");
    await page.getByRole("button", { name: "Save profile" }).click();
    await stepUpIfAsked(page, () => page.getByText(/^Saved\./).waitFor());
    expect(page.errors).toEqual([]);
  });

  it("a logged-out owner follows the authorization URL, logs in with a code, and sees the consent page", async () => {
    const [page] = context.pages() as [Page];
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in" }).waitFor();

    flow = await authorizationUrl(as, app, { scope: "profile create update" });
    const response = await page.goto(flow.url.href);
    expect(response!.status()).toBe(200);
    expect(response!.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    await page.getByLabel("Authentication code").fill(await authenticator.code());
    await page.getByRole("button", { name: "Log in" }).click();

    await page.getByRole("heading", { name: "Sign in to Loopback Notes?" }).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe("/indieauth/authorize");
    expect(await page.getByRole("note").count()).toBe(0);
    const main = page.locator("main");
    await expect.poll(() => main.textContent()).toContain(app.clientId);
    expect(await main.textContent()).toContain(new URL(app.redirectUri).host);
    expect(await page.locator("dd", { hasText: new URL(server.url).href }).count()).toBe(1);
    // The logo: https, loaded (answered by the test's route), shown at 48 px.
    await expect.poll(() => page.locator("img.logo").evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0)).toBe(1);
    const boxes = page.getByRole("checkbox");
    expect(await boxes.count()).toBe(3);
    for (const scope of ["profile", "create", "update"]) expect(await page.getByRole("checkbox", { name: new RegExp(`^${scope} `) }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: /^profile / }).getAttribute("id")).toBeTruthy();
    await expect.poll(() => main.textContent()).toMatch(/See your profile: the name and photo/);
    await docShot(page, "indieauth-consent");
    expect(page.errors).toEqual([]);
  });

  it("unchecks one scope and approves two: the browser lands on the client with a code for exactly those two", async () => {
    const [page] = context.pages() as [Page];
    await page.getByRole("checkbox", { name: /^update / }).uncheck();
    await Promise.all([page.waitForURL((u) => u.href.startsWith(app.redirectUri)), page.getByRole("button", { name: "Approve" }).click()]);
    await page.getByRole("heading", { name: "Back at the app" }).waitFor();
    const landed = new URL(page.url());
    expect(app.callbacks.at(-1)?.href).toBe(landed.href);
    expect(landed.searchParams.get("state")).toBe(flow.state);
    expect(landed.searchParams.get("iss")).toBe(new URL(server.url).href);

    const tokens = await exchangeCode(as, app, landed, flow);
    expect(tokens.scope).toBe("profile create");
    expect((tokens as { me?: string }).me).toBe(new URL(server.url).href);
    expect((tokens as { profile?: unknown }).profile).toEqual({ name: "Ada Lovelace", url: new URL(server.url).href, photo: "https://photos.example.org/ada.jpg" });
    refreshToken = tokens.refresh_token!;
  });

  it("Connected apps lists the app; revoking it ends its access", async () => {
    const [page] = context.pages() as [Page];
    await page.goto(url("/#/apps"));
    await page.getByRole("heading", { name: "Connected apps" }).waitFor();
    const row = page.locator("tr", { hasText: "Loopback Notes" });
    await row.waitFor();
    expect(await row.textContent()).toContain(app.clientId);
    expect(await row.locator("code").allTextContents()).toEqual(["profile", "create"]);
    await expect.poll(() => page.getByLabel("Name").inputValue()).toBe("Ada Lovelace");
    await docShot(page, "indieauth-apps");

    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Revoke Loopback Notes" }).click();
    await expect.poll(() => page.getByRole("status").first().textContent()).toMatch(/Loopback Notes was disconnected/);
    await expect.poll(() => page.locator("main").textContent()).toMatch(/No apps yet/);

    const refresh = await oauth.refreshTokenGrantRequest(as, { client_id: app.clientId }, oauth.None(), refreshToken, INSECURE);
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: "invalid_grant" });

    // The security log names the app and why its access ended.
    await page.goto(url("/#/activity"));
    const ended = page.locator('li[data-type="app_revoked"]').first();
    await expect.poll(() => ended.textContent().catch(() => "")).toContain(`An app's access ended · ${app.clientId} (you revoked it)`);
    expect(await page.locator('li[data-type="app_authorized"]').first().textContent()).toContain("· Loopback Notes");
    expect(page.errors).toEqual([]);
  });

  it("a request the server cannot trust is shown on the page, never redirected to", async () => {
    const [page] = context.pages() as [Page];
    const untrusted = await authorizationUrl(as, { clientId: app.clientId, redirectUri: "http://127.0.0.2:9/elsewhere" }, { scope: "create" });
    const before = app.callbacks.length;
    await page.goto(untrusted.url.href);
    await page.getByRole("heading", { name: "This sign-in request can't be used" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("alert").first().textContent()).toBeTruthy();
    expect(new URL(page.url()).pathname).toBe("/indieauth/authorize");
    expect(app.callbacks.length).toBe(before);
    expect(await page.getByRole("button", { name: "Approve" }).count()).toBe(0);
  });

  it("a request with a defect the app must hear about waits for the owner's click before going back to it", async () => {
    const [page] = context.pages() as [Page];
    const flawed = await authorizationUrl(as, app, { scope: "create" });
    flawed.url.searchParams.delete("code_challenge");
    flawed.url.searchParams.delete("code_challenge_method");
    const before = app.callbacks.length;
    await page.goto(flawed.url.href);
    await page.getByRole("heading", { name: "The app's request was incomplete" }).waitFor({ timeout: 30_000 });
    const back = page.getByRole("button", { name: `Return to ${new URL(app.redirectUri).host}` });
    await back.waitFor();
    await docShot(page, "indieauth-incomplete");
    // Nothing moves the browser on its own: still here, the app not called.
    await page.waitForTimeout(300);
    expect(new URL(page.url()).pathname).toBe("/indieauth/authorize");
    expect(app.callbacks.length).toBe(before);

    await Promise.all([page.waitForURL((u) => u.href.startsWith(app.redirectUri)), back.click()]);
    const landed = new URL(page.url());
    expect(app.callbacks.length).toBe(before + 1);
    expect(landed.searchParams.get("error")).toBe("invalid_request");
    expect(landed.searchParams.get("state")).toBe(flawed.state);
    expect(landed.searchParams.get("iss")).toBe(new URL(server.url).href);
    // The refused requests' 400s (this one's and the untrusted one's before it) are logged; nothing else.
    expect(page.errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
  });
});
