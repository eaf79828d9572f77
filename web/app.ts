/**
 * The owner web app. It decides one thing at start-up (and after every login or
 * logout): which screen fits this device's state.
 *
 *   instance not claimed          → claim
 *   session (refresh cookie)      → the app (inbox, 2FA, sessions, activity, keys),
 *                                   or at /indieauth/authorize the IndieAuth consent page
 *   keys on this device           → log in
 *   no keys                       → unlock with the password
 */
import "./zodConfig";
import { isIndieError } from "../client/errors";
import { OwnerClient } from "../client/owner";
import { cancelRecoveryRequest, recoveryStatus } from "../client/recovery/status";
import { workerArgon2Runner } from "../client/escrow/worker";
import { webAssemblyAvailable } from "../client/escrow/kdf";
import { passwordChecker } from "./passwordChecker";
import type { AppContext, Screen } from "./context";
import { focusHeading, formatTime, h, replaceChildren } from "./ui/dom";
import { describeError } from "./ui/messages";
import { confirmItsYou } from "./ui/stepUp";
import { activityScreen } from "./screens/activity";
import { appsScreen } from "./screens/apps";
import { claimScreen } from "./screens/claim";
import { consentScreen } from "./screens/consent";
import { inboxScreen } from "./screens/inbox";
import { keysScreen } from "./screens/keys";
import { loginScreen } from "./screens/login";
import { sessionsScreen } from "./screens/sessions";
import { twoFactorScreen } from "./screens/twoFactor";
// Bundled, not lazy: the budget counts every chunk, and splitting the recovery code
// out (with the shared chunks esbuild then makes) cost 3.2 KiB gzipped more in all.
import { recoveryScreen } from "./screens/recovery";
import { unlockScreen } from "./screens/unlock";

const ROUTES: Record<string, { title: string; screen: (ctx: AppContext) => Screen }> = {
  inbox: { title: "Inbox", screen: inboxScreen },
  "2fa": { title: "Two-factor", screen: twoFactorScreen },
  recovery: { title: "Recovery", screen: recoveryScreen },
  sessions: { title: "Sessions", screen: sessionsScreen },
  apps: { title: "Connected apps", screen: appsScreen },
  activity: { title: "Activity", screen: activityScreen },
  keys: { title: "Keys", screen: keysScreen },
};

const main = document.getElementById("app")!;
const notice = document.getElementById("notice")!;
const nav = document.getElementById("nav")!;
// The recovery_requested banner (docs/api.md §13), above the screen, with Cancel.
const banner = h("div", { class: "banner warning", role: "alert", hidden: true });
notice.after(banner);

function showRecoveryBanner(readyAt: number) {
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel the recovery");
  // Cancelling is a step-up action (docs/api.md §13): the form for the factor shows here.
  const prompt = h("div", {});
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    void confirmItsYou(ctx, prompt, "Cancelling a recovery needs a fresh confirmation.")
      .then(() => cancelRecoveryRequest(client))
      .then(() => {
        banner.hidden = true;
        setNotice("The recovery request was cancelled.");
      })
      .catch((err: unknown) => {
        cancel.disabled = false;
        // Cancelled elsewhere, or ended by a new recovery key: the banner was stale.
        if (isIndieError(err) && err.code === "not_found") banner.hidden = true;
        setNotice(describeError(err), "alert");
      });
  });
  banner.replaceChildren(
    h("p", {}, `Someone started a recovery of your keys with your recovery key or shares. It can be completed from ${formatTime(readyAt)}. If this was not you, cancel it now.`),
    cancel,
    prompt,
  );
  banner.hidden = false;
}

const client = new OwnerClient({
  origin: location.origin,
  // Argon2id runs in a worker so the page (and its progress) stays responsive.
  argon2Runner: workerArgon2Runner("/kdf-worker.js"),
  // The same checker as the strength meter's, so the word lists load once.
  passwordChecker,
});

let current: Screen | null = null;
const ctx: AppContext = {
  client,
  passwordChecker,
  twoFactorOn: false,
  restart: (text) => void start(text),
  show: (screen) => show(screen),
  recoveryRequested: showRecoveryBanner,
  go: (route) => {
    location.hash = `#/${route}`;
  },
};

function show(screen: Screen) {
  current?.dispose?.();
  current = screen;
  replaceChildren(main, screen.node);
  focusHeading(main);
}

/** The line under the header: news (`status`) or, for a failure the person must act on, an `alert`. */
function setNotice(text?: string, role: "status" | "alert" = "status") {
  notice.setAttribute("role", role);
  notice.classList.toggle("error", role === "alert");
  notice.textContent = text ?? "";
  notice.hidden = !text;
}

/**
 * Only the server ending the session (204) logs out: until then the refresh cookie
 * still works, so saying "You logged out" would be untrue. The session stays as it
 * is and the person is told to try again.
 */
async function logOut(button: HTMLButtonElement) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await client.logout();
  } catch (err) {
    setNotice(`You are still logged in: the server did not end this session. ${describeError(err)}`, "alert");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function renderNav(active: string | null) {
  if (active === null) {
    nav.replaceChildren();
    return;
  }
  const logout = h("button", { type: "button", class: "link" }, "Log out");
  logout.addEventListener("click", () => void logOut(logout));
  nav.replaceChildren(
    h(
      "ul",
      {},
      Object.entries(ROUTES).map(([route, { title }]) =>
        h("li", {}, h("a", { href: `#/${route}`, "aria-current": route === active ? "page" : null }, title)),
      ),
      h("li", {}, h("a", { href: "/contact" }, "Contact page")),
      h("li", {}, logout),
    ),
  );
}

/**
 * An own-property lookup: `in` also finds what every object inherits, so
 * `#/constructor` or `#/__proto__` named a "route" with no screen and broke the app.
 */
function routeFromHash(hash: string): string {
  const route = hash.replace(/^#\/?/, "");
  return Object.hasOwn(ROUTES, route) ? route : "inbox";
}

/**
 * GET /indieauth/authorize serves this app (docs/api.md §14): once the owner is logged
 * in (the login and unlock screens come first, as anywhere), it asks for consent
 * instead of showing a route. Choosing a route in the nav (#/…) leaves the page.
 */
const AUTHORIZE_PATH = "/indieauth/authorize";

function showRoute() {
  if (!client.session.isLoggedIn()) return;
  if (location.pathname === AUTHORIZE_PATH) {
    if (!location.hash) {
      renderNav(null);
      document.title = `Sign in · ${location.host}`;
      return show(consentScreen(ctx, location.search.slice(1)));
    }
    // A route chosen from here: the app's own URL, without the request.
    return location.replace(`/${location.hash}`);
  }
  const route = routeFromHash(location.hash);
  renderNav(route);
  document.title = `${ROUTES[route]!.title} · ${location.host}`;
  show(ROUTES[route]!.screen(ctx));
  // The live channel runs on the Inbox only: every other screen asks as it opens, so
  // a request started meanwhile shows, and one cancelled or replaced goes.
  refreshRecoveryBanner();
}

/** The banner as the server has it: shown for an open recovery request, hidden without one. */
function refreshRecoveryBanner() {
  recoveryStatus(client)
    .then((s) => (s.request ? showRecoveryBanner(s.request.readyAt) : (banner.hidden = true)))
    .catch(() => {});
}

async function start(text?: string) {
  setNotice(text);
  banner.hidden = true;
  try {
    const { claimed } = await client.discovery();
    if (!claimed) {
      renderNav(null);
      document.title = `Claim · ${location.host}`;
      return show(claimScreen(ctx));
    }
    if (client.session.isLoggedIn() || (await client.resume())) {
      client
        .twoFactorStatus()
        .then((s) => (ctx.twoFactorOn = s.enabled))
        .catch(() => {});
      // A recovery requested while no page of ours was open: showRoute asks.
      return showRoute();
    }
    renderNav(null);
    const [keys, challenge] = await Promise.all([client.deviceKeys(), client.challenge()]);
    document.title = `${keys ? "Log in" : "Unlock"} · ${location.host}`;
    const passkey = challenge.passkey === true && client.credentials !== null;
    show(keys ? loginScreen(ctx, challenge.mfa, passkey) : unlockScreen(ctx, challenge.mfa, passkey));
  } catch (err) {
    renderNav(null);
    show({ node: h("section", { class: "card" }, h("h1", {}, "Can't start"), h("p", { role: "alert" }, describeError(err))) });
  }
}

client.session.on((event) => {
  if (event.type === "logged_out") {
    const text =
      event.reason === "revoked"
        ? "This session was ended (revoked from another device, or its token was used elsewhere). Log in again."
        : event.reason === "expired"
          ? "Your session expired. Log in again."
          : "You logged out.";
    void start(text);
  }
});

window.addEventListener("hashchange", () => {
  setNotice();
  showRoute();
});

void webAssemblyAvailable().then((ok) => {
  if (!ok) console.warn("WebAssembly is unavailable: new key backups use PBES2 instead of Argon2id.");
});
void start();
