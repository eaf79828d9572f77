/**
 * The IndieAuth consent page (docs/api.md §14, docs/indieauth.md): the app is loaded
 * at /indieauth/authorize?… (the server serves index.html there and fetches nothing).
 * Once the owner is logged in, this posts the query string; the server fetches the
 * client's document and answers who is asking, where the browser goes afterwards and
 * which scopes it wants. The owner unchecks what they don't want to give, then
 * approves or denies; the page follows the `redirect` of the answer.
 *
 * A request the server cannot trust (an unknown client, a redirect URI the client
 * does not list) is an error shown here and never redirected to. A request with a
 * defect the client must hear about (no PKCE, say) comes with a `redirect`, which is
 * followed only when the owner presses "Return to …".
 */
import {
  approveAuthorization,
  denyAuthorization,
  startAuthorization,
  type AuthorizationRequest,
} from "../../client/indieauth";
import { isIndieError } from "../../client/errors";
import type { AppContext, Screen } from "../context";
import { feedback, h, replaceChildren, uid } from "../ui/dom";
import { actionForm, onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import { confirmItsYou } from "../ui/stepUp";
import { displaySender } from "../ui/text";

/** What the well-known IndieWeb scopes let an app do (IndieAuth LS §5.3, Micropub, Microsub). */
const SCOPES: Record<string, string> = {
  create: "Create posts on your website (Micropub)",
  update: "Edit your posts",
  delete: "Delete your posts",
  undelete: "Restore deleted posts",
  draft: "Create drafts",
  media: "Upload photos and other files",
  read: "Read your feeds (Microsub)",
  follow: "Follow and unfollow feeds for you",
  mute: "Mute people in your feeds",
  block: "Block people in your feeds",
  channels: "Manage your feed channels",
};

/** The person's profile URL, as the server names it (`me`, docs/api.md §14). */
export const profileUrl = () => new URL(location.origin).href;

/** Where a redirect URI leads, in a few characters: its host, or its scheme for an app's own (`com.example.app:`). */
function destination(uri: string): string {
  const url = new URL(uri);
  return url.host || url.protocol;
}

/**
 * Moves the browser on, for good. The request is used up, so nothing on the page may
 * run again: the promise never settles, which keeps the pressed button busy and the
 * other disabled (actionForm, onAction and `alone` re-enable only when an action
 * ends). A redirect to an app's own scheme may leave the page open: it stays so.
 */
function leave(redirect: string, fb: ReturnType<typeof feedback>): Promise<never> {
  fb.status(`Taking you back to ${destination(redirect)}…`);
  location.assign(redirect);
  return new Promise<never>(() => {});
}

/** Runs `fn` with `other` disabled (approve and deny answer the same single-use request); re-enabled only on failure. */
async function alone<T>(other: HTMLButtonElement, fn: () => Promise<T>): Promise<T> {
  other.disabled = true;
  try {
    return await fn();
  } catch (err) {
    other.disabled = false;
    throw err;
  }
}

/**
 * Once 2FA is on, the consent routes need a session that used a second factor
 * (docs/indieauth.md, "Consent needs which login"); the session that turned 2FA on
 * began without one. That session is asked for a code (or passkey) in place, once.
 */
async function withSecondFactor<T>(ctx: AppContext, prompt: HTMLElement, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isIndieError(err, "step_up_required")) throw err;
    // Only an instance with 2FA on refuses here: ask for the factor even if the cached status lags.
    ctx.twoFactorOn = true;
    await confirmItsYou(ctx, prompt, "Signing in to an app needs your second factor: this session started without one.");
    return fn();
  }
}

export function consentScreen(ctx: AppContext, query: string): Screen {
  const body = h("div", {}, h("h1", {}, "Sign in with your address"));
  const prompt = h("div", {});
  const fb = feedback();
  const node = h("section", { class: "card consent" }, body, prompt, ...fb.nodes);
  fb.status("Checking the app's request…");

  void withSecondFactor(ctx, prompt, () => startAuthorization(ctx.client, query))
    .then((start) => {
      if (start.ok) return showRequest(start.request);
      // A defect the app must be told about (docs/api.md §14): back to it, with the
      // error, but only when the owner asks. Going there unasked would tell whoever
      // wrote the link that this visitor is the instance's logged-in owner, and let
      // any link bounce the owner through this instance (RFC 9700 §4.11.2).
      const back = h("button", { type: "button" }, `Return to ${destination(start.redirect)}`);
      onAction(back, fb, () => leave(start.redirect, fb));
      replaceChildren(
        body,
        h("h1", {}, "The app's request was incomplete"),
        h("p", {}, start.message),
        h("p", {}, "Nothing was shared with the app. It is told about the error when you return to it."),
        back,
      );
      fb.clear();
    })
    .catch((err: unknown) => {
      replaceChildren(
        body,
        h("h1", {}, "This sign-in request can't be used"),
        h("p", { role: "alert" }, describeError(err)),
        h("p", {}, "Nothing was shared with the app. You can close this page, or ", h("a", { href: "/" }, "open your instance"), "."),
      );
      fb.clear();
      document.title = `Sign-in refused · ${location.host}`;
    });

  function showRequest(request: AuthorizationRequest) {
    fb.clear();
    const clientHost = new URL(request.client.id).host;
    const name = displaySender(request.client.name ?? null, 100) || clientHost;
    const where = destination(request.redirectUri);
    const me = profileUrl();
    document.title = `Sign in to ${name} · ${location.host}`;

    // https only (docs/indieauth.md: loading it tells its host this browser's address).
    const logo =
      request.client.logo?.startsWith("https://") === true
        ? h("img", { class: "logo", src: request.client.logo, alt: "", width: 48, height: 48, referrerpolicy: "no-referrer" })
        : null;
    logo?.addEventListener("error", () => logo.remove());

    const boxes = request.scopes.map((scope) => {
      const id = uid("scope");
      const box = h("input", { type: "checkbox", id, value: scope, checked: true });
      const what =
        scope === "profile"
          ? `See your profile: the name and photo you set under Connected apps, and your address ${me}`
          : (SCOPES[scope] ?? "A permission this page does not know: the app decides what it means");
      return { box, row: h("li", {}, box, " ", h("label", { for: id }, h("code", {}, scope), " ", h("span", { class: "muted" }, what))) };
    });

    // The `me` the app expected, when it named one (LS §5.2): never refused, only pointed out.
    const expected = new URLSearchParams(query).get("me");
    let expectedHost: string | null = null;
    try {
      expectedHost = expected ? new URL(expected.includes("://") ? expected : `https://${expected}`).host : null;
    } catch {
      expectedHost = expected;
    }
    const otherPerson = expectedHost !== null && expectedHost !== location.host;

    const deny = h("button", { type: "button", class: "secondary" }, "Deny");
    const { form, submit } = actionForm(
      [
        h(
          "dl",
          { class: "summary" },
          h("dt", {}, "App"),
          h("dd", {}, h("bdi", {}, name), " ", h("span", { class: "muted" }, request.client.id)),
          h("dt", {}, "Afterwards you go to"),
          h("dd", {}, h("strong", {}, where), where === clientHost ? null : h("span", { class: "muted" }, ` (the app's own address is ${clientHost}; it lists this one as its own)`)),
          h("dt", {}, "You sign in as"),
          h("dd", {}, me),
        ),
        otherPerson ? h("p", { class: "warning", role: "note" }, `The app expected someone else (${expected}). Approve only if you meant to sign in as ${me}.`) : null,
        boxes.length > 0
          ? h(
              "fieldset",
              { class: "scopes" },
              h("legend", {}, "It also asks to"),
              h("ul", {}, boxes.map((b) => b.row)),
              h("p", { class: "hint" }, "Uncheck what you don't want to allow. Your address is shared either way."),
            )
          : h("p", {}, "It asks only to confirm who you are: nothing else is shared."),
      ],
      {
        submit: "Approve",
        feedback: fb,
        async onSubmit() {
          const granted = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
          await alone(deny, async () => leave(await approveAuthorization(ctx.client, request, granted), fb));
        },
      },
    );
    onAction(deny, fb, () => alone(submit, async () => leave(await denyAuthorization(ctx.client, request), fb)));
    form.append(h("div", { class: "actions" }, submit, deny));

    replaceChildren(body, h("div", { class: "consent-head" }, logo, h("h1", {}, "Sign in to ", h("bdi", {}, name), "?")), form);
  }

  return { node };
}
