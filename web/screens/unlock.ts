/**
 * A new device: password (and a code when 2FA is on) → POST /auth/escrow → decrypt
 * in the browser → keys kept non-extractable → login with the mfaTicket, so the
 * code is entered once.
 */
import type { EscrowBundle, Progress } from "../../client/owner";
import { isIndieError } from "../../client/errors";
import { defaultDeviceName, type AppContext, type Screen } from "../context";
import { field, h } from "../ui/dom";
import { factorInput } from "../ui/factor";
import { actionForm, onAction } from "../ui/form";
import { passkeyFactor, unlockWithPasskey } from "../../client/passkeys";
import { forgotLink } from "./recoverLink";

export function unlockScreen(ctx: AppContext, mfa: boolean, passkey = false): Screen {
  const password = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const factor = factorInput();
  factor.setVisible(mfa);
  const device = field("Name of this device", { type: "text", value: defaultDeviceName(), maxlength: 100 });
  const progressBar = h("progress", { "aria-label": "Unlocking", hidden: true });

  // Kept between attempts: after a wrong password the escrow (and its single-use
  // ticket, valid 300 s) need not be fetched again, so the code is not asked twice.
  let bundle: EscrowBundle | null = null;
  let ticker: ReturnType<typeof setInterval> | undefined;

  // A passkey as the factor for the escrow, in place of the code: the next submit uses it.
  let passkeyChosen: Awaited<ReturnType<typeof passkeyFactor>> | null = null;
  const { form, fb: formFb } = actionForm([password.wrapper, ...factor.nodes, device.wrapper], {
    submit: "Unlock",
    afterSubmit: [progressBar],
    async onSubmit(fb) {
      if (!password.input.value) return fb.error("Enter your password.");
      const code = passkeyChosen ?? factor.value();
      passkeyChosen = null;
      if (!bundle) {
        if (mfa && !code) return fb.error("Enter the code from your authenticator app (or a backup code), or use a passkey.");
        fb.status("Fetching your key backup…");
        try {
          bundle = await ctx.client.fetchEscrow(code ?? undefined);
        } catch (err) {
          if (isIndieError(err, "mfa_required")) {
            mfa = true;
            factor.setVisible(true);
            factor.focus();
          }
          throw err;
        }
        if (mfa) {
          factor.setVisible(false);
          fb.status("Code accepted.");
        }
      }
      progressBar.hidden = false;
      const started = performance.now();
      const show = (p: Progress) => {
        clearInterval(ticker);
        if (p.stage === "derive") {
          const tick = () => fb.status(`Deriving your key (${p.description})… ${((performance.now() - started) / 1000).toFixed(1)} s`);
          tick();
          ticker = setInterval(tick, 100);
        } else if (p.stage === "decrypt") fb.status("Decrypting your keys…");
        else if (p.stage === "done") performance.measure("indienet:unlock", { start: started, duration: p.elapsedMs });
        else if (p.stage === "store") fb.status("Keeping the keys on this device…");
      };
      try {
        await ctx.client.unlock(bundle, password.input.value, show);
      } finally {
        clearInterval(ticker);
        progressBar.hidden = true;
      }
      fb.status("Signing in…");
      const ticket = bundle.mfaTicket;
      bundle = null;
      await ctx.client.login({ mfaTicket: ticket, deviceName: device.input.value.trim() || undefined });
      ctx.restart();
    },
    onError(err) {
      if (isIndieError(err, "wrong_password")) password.input.focus();
      // The ticket is single use; after a failed login, start over with a code.
      if (!isIndieError(err, "wrong_password")) {
        bundle = null;
        factor.setVisible(mfa);
        factor.clear();
      }
    },
  });

  const usePasskey = h("button", { type: "button", class: "secondary", hidden: !(mfa && passkey) }, "Use a passkey instead of the code");
  onAction(usePasskey, formFb, async () => {
    if (!password.input.value) return formFb.error("Enter your password first; the passkey replaces only the code.");
    passkeyChosen = await passkeyFactor(ctx.client);
    form.requestSubmit();
  });
  // Unlock with a passkey (§12): no password; one ceremony is the factor and opens the keys.
  const unlockPasskey = h("button", { type: "button" }, "Unlock with a passkey");
  onAction(unlockPasskey, formFb, async () => {
    formFb.status("Choose your passkey when asked…");
    await unlockWithPasskey(ctx.client, { deviceName: device.input.value.trim() || undefined });
    ctx.restart();
  });

  return {
    node: h(
      "section",
      { class: "card" },
      h("h1", {}, "Unlock your keys on this device"),
      passkey
        ? h("div", { class: "passkey-unlock" }, unlockPasskey, h("p", { class: "hint" }, "Works with a passkey you set up to unlock your keys; otherwise use your password below."))
        : null,
      h(
        "p",
        {},
        "This device does not have your keys yet. Your password decrypts them here, in the browser; it is never sent anywhere.",
      ),
      form,
      usePasskey,
      h("hr"),
      forgotLink(ctx),
    ),
    dispose: () => clearInterval(ticker),
  };
}
