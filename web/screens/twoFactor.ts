/** Two-factor authentication: enrol with a QR code, backup codes, regenerate, turn off. */
import type { AppContext, Screen } from "../context";
import { feedback, field, h, replaceChildren } from "../ui/dom";
import { factorInput } from "../ui/factor";
import { actionForm, onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import { confirmItsYou, stepUpReady } from "../ui/stepUp";
import { passkeysSection } from "./passkeys";

export function twoFactorScreen(ctx: AppContext): Screen {
  const body = h("div", {});
  const fb = feedback();

  async function load() {
    const status = await ctx.client.twoFactorStatus();
    ctx.twoFactorOn = status.enabled;
    // With passkeys (§12), 2FA can be on without TOTP: then TOTP can still be added.
    if (status.enabled && status.totp !== false) showEnabled(status.backupCodesRemaining, (status.passkeys ?? 0) > 0);
    else showDisabled(status.enabled ? status.backupCodesRemaining : null);
  }

  function showDisabled(passkeyOnlyRemaining: number | null) {
    const start = h("button", { type: "button" }, passkeyOnlyRemaining === null ? "Turn on two-factor authentication" : "Add an authenticator app");
    onAction(start, fb, async () => {
      fb.clear();
      // Step-up: with 2FA still off, a fresh signature is all it takes.
      if (!stepUpReady(ctx)) await confirmItsYou(ctx, body, "Adding an authenticator app needs a fresh confirmation.");
      showEnrolment(await ctx.client.beginTotpEnrolment(), passkeyOnlyRemaining !== null);
    });
    if (passkeyOnlyRemaining !== null) {
      replaceChildren(
        body,
        h("p", {}, "Two-factor authentication is ", h("strong", {}, "on"), ` with passkeys. ${passkeyOnlyRemaining} backup code${passkeyOnlyRemaining === 1 ? "" : "s"} left.`),
        start,
      );
      return;
    }
    replaceChildren(
      body,
      h("p", {}, "Two-factor authentication is ", h("strong", {}, "off"), "."),
      h("p", {}, "With it on, a new device needs a code from your authenticator app as well as your password, and nobody without that code can even download your encrypted keys."),
      start,
    );
  }

  /** `alreadyOn`: 2FA is on with passkeys, so confirming adds the app and makes no backup codes. */
  function showEnrolment(enrolment: { secret: string; uri: string; qrSvg: string }, alreadyOn: boolean) {
    const code = field("Code from the app", { type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 7, required: true }, "Enter the 6-digit code the app shows to confirm it is set up.");
    // Errors go to the screen's alert line, above.
    const { form } = actionForm([code.wrapper], {
      submit: alreadyOn ? "Confirm the app" : "Confirm and turn on",
      feedback: fb,
      async onSubmit() {
        const codes = await ctx.client.confirmTotp(code.input.value.replace(/\s+/g, ""));
        ctx.twoFactorOn = true;
        if (codes) showBackupCodes(codes, "Two-factor authentication is on. Every other session was logged out.");
        else {
          // 2FA was on already (a passkey): the backup codes you have keep working.
          await load();
          fb.status("The authenticator app is set up; your backup codes are unchanged. Every other session was logged out.");
        }
      },
    });
    const grouped = enrolment.secret.match(/.{1,4}/g)!.join(" ");
    replaceChildren(
      body,
      h("ol", { class: "steps" },
        h("li", {}, "Scan this QR code with your authenticator app:",
          h("img", { class: "qr", src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qrSvg)}`, alt: "QR code holding your two-factor secret", width: 200, height: 200 }),
          h("p", {}, "Or type this secret into the app: ", h("code", { class: "secret", "data-secret": enrolment.secret }, grouped)),
        ),
        h("li", {}, "Enter the code it shows.", form),
      ),
    );
    code.input.focus();
  }

  function showBackupCodes(codes: string[], intro: string) {
    const text = `Backup codes for ${location.host}\nEach works once. Keep them somewhere safe, apart from your phone.\n\n${codes.join("\n")}\n`;
    const download = h("a", { class: "button secondary", download: `backup-codes-${location.hostname}.txt`, href: URL.createObjectURL(new Blob([text], { type: "text/plain" })) }, "Download");
    const print = h("button", { type: "button", class: "secondary" }, "Print");
    print.addEventListener("click", () => window.print());
    const done = h("button", { type: "button" }, "I have saved them");
    done.addEventListener("click", () => {
      URL.revokeObjectURL(download.getAttribute("href")!);
      void load().catch((err) => fb.error(describeError(err)));
    });
    replaceChildren(
      body,
      h("p", { role: "status" }, intro),
      h("div", { class: "backup-codes printable" },
        h("h2", {}, "Your backup codes"),
        h("p", {}, "Each code works once, in place of a code from the app: if you lose your phone, these are how you get back in. Save them now; they are not shown again."),
        h("ol", { class: "codes" }, codes.map((c) => h("li", {}, h("code", {}, c)))),
      ),
      h("div", { class: "actions" }, download, print, done),
    );
    done.focus();
  }

  /** `withPasskeys`: passkeys keep 2FA on, so turning the app off removes the app alone. */
  function showEnabled(remaining: number, withPasskeys: boolean) {
    replaceChildren(
      body,
      h("p", {}, "Two-factor authentication is ", h("strong", {}, "on"), `. ${remaining} backup code${remaining === 1 ? "" : "s"} left.`),
      codeForm("Make new backup codes", "Your old backup codes stop working.", false, async (factor) => {
        if (!("totp" in factor)) throw new Error("unreachable");
        showBackupCodes(await ctx.client.regenerateBackupCodes(factor.totp), "New backup codes were made; the old ones no longer work.");
      }),
      codeForm(
        withPasskeys ? "Remove the authenticator app" : "Turn off two-factor authentication",
        withPasskeys
          ? "Your passkeys stay, and two-factor authentication stays on with them."
          : "Logging in on a new device will need only your password.",
        true,
        async (factor) => {
          await ctx.client.disableTotp("totp" in factor ? { code: factor.totp } : factor);
          fb.status(withPasskeys ? "The authenticator app was removed; your passkeys keep two-factor authentication on." : "Two-factor authentication is off.");
          await load();
        },
      ),
    );
  }

  /**
   * A form that needs a code for its action. When step-up is needed too, the first
   * code goes to the step-up and the action asks for the next one: each 30-second
   * code is accepted only once across every route (docs/api.md §8).
   */
  function codeForm(title: string, note: string, allowBackup: boolean, action: (factor: NonNullable<ReturnType<ReturnType<typeof factorInput>["value"]>>) => Promise<void>) {
    const factor = factorInput({ allowBackup });
    const { form } = actionForm([h("h2", {}, title), h("p", {}, note), ...factor.nodes], {
      submit: title,
      submitClass: allowBackup ? "danger" : "",
      class: "card",
      async onSubmit(local) {
        const value = factor.value();
        if (!value) return local.error("Enter a code.");
        if (!stepUpReady(ctx)) {
          await ctx.client.reauth(value);
          factor.clear();
          factor.focus();
          local.status("Confirmed it's you. Now enter the next code from your app (codes change every 30 seconds) to finish.");
          return;
        }
        await action(value);
      },
      onError: () => factor.clear(),
    });
    return form;
  }

  load().catch((err) => fb.error(describeError(err)));
  const passkeys = passkeysSection(ctx, (codes) => showBackupCodes(codes, "Two-factor authentication is on with this passkey. Every other session was logged out."));
  return { node: h("section", {}, h("h1", {}, "Two-factor authentication"), ...fb.nodes, body, passkeys) };
}
