/**
 * A new device: password (and a code when 2FA is on) → POST /auth/escrow → decrypt
 * in the browser → login with the mfaTicket, so the code is entered once → keys kept
 * non-extractable once the login is accepted.
 */
import type { EscrowBundle, Progress } from "../../client/owner";
import { isIndieError } from "../../client/errors";
import { defaultDeviceName, type AppContext, type Screen } from "../context";
import { field, h } from "../ui/dom";
import { factorInput } from "../ui/factor";
import { actionForm, onAction } from "../ui/form";
import { unlockWithPasskey, type PasskeyUnlock } from "../../client/passkeys";
import { forgotLink } from "./recoverLink";

/** Why a passkey that was the factor did not open the keys, after "but". */
const PASSKEY_CANNOT_UNLOCK: Record<Extract<PasskeyUnlock, { unlocked: false }>["reason"], string> = {
  passkey_no_prf: "it cannot unlock your keys here (no PRF output from the passkey or this browser)",
  not_a_recipient: "unlock is not turned on for it",
  wrong_key: "it no longer opens your key backup (turn its unlock off and on again)",
};

/**
 * How long a fetched escrow is kept for another try: its mfaTicket is valid 300 s
 * (docs/api.md §4). An older one is dropped before the password step, so the owner
 * is asked for a new factor at once rather than refused after the password's slow
 * derivation.
 */
const KEEP_BUNDLE_MS = 270_000;

export function unlockScreen(ctx: AppContext, mfa: boolean, passkey = false): Screen {
  const password = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const factor = factorInput();
  factor.setVisible(mfa);
  const device = field("Name of this device", { type: "text", value: defaultDeviceName(), maxlength: 100 });
  const progressBar = h("progress", { "aria-label": "Unlocking", hidden: true });

  // Kept between attempts: after a wrong password the escrow (and its single-use
  // ticket, valid 300 s) need not be fetched again, so the code is not asked twice.
  let kept: { bundle: EscrowBundle; atMs: number } | null = null;
  const keep = (bundle: EscrowBundle | null) => {
    kept = bundle && { bundle, atMs: Date.now() };
  };
  let ticker: ReturnType<typeof setInterval> | undefined;

  // One unlock at a time: a passkey and a password that both got in would make two
  // sessions, the second replacing the first's cookie. So `kept` changes only by the
  // attempt running.
  let passkeyRunning = false;
  const { form, submit, fb: formFb } = actionForm([password.wrapper, ...factor.nodes, device.wrapper], {
    submit: "Unlock",
    afterSubmit: [progressBar],
    async onSubmit(fb) {
      if (passkeyRunning) return fb.error("Finish with your passkey first, or close its prompt.");
      if (!password.input.value) return fb.error("Enter your password.");
      const code = factor.value();
      if (kept && Date.now() - kept.atMs > KEEP_BUNDLE_MS) {
        keep(null);
        factor.setVisible(mfa);
        if (mfa && !code) {
          return fb.error(`Your second factor was accepted too long ago (it holds for 5 minutes): ${passkey ? "use your passkey again, or enter a code" : "enter a new code"}.`);
        }
      }
      let bundle = kept?.bundle;
      if (!bundle) {
        if (mfa && !code) return fb.error("Enter the code from your authenticator app (or a backup code), or use a passkey.");
        fb.status("Fetching your key backup…");
        try {
          bundle = await ctx.client.fetchEscrow(code ?? undefined);
          keep(bundle);
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
        else if (p.stage === "login") {
          // The password was right; this login spends the ticket, whatever it answers.
          keep(null);
          fb.status("Signing in…");
        } else if (p.stage === "store") fb.status("Keeping the keys on this device…");
      };
      try {
        await ctx.client.unlock(bundle, password.input.value, { deviceName: device.input.value.trim() || undefined, onProgress: show });
      } finally {
        clearInterval(ticker);
        progressBar.hidden = true;
      }
      ctx.restart();
    },
    onError(err) {
      if (isIndieError(err, "wrong_password")) return password.input.focus();
      // The ticket is single use; after a failed login, start over with a code.
      keep(null);
      factor.setVisible(mfa);
      factor.clear();
    },
  });

  // Unlock with a passkey (§12): one ceremony is the second factor and, through PRF,
  // opens the keys with no password. A passkey that cannot open them was still the
  // factor: its escrow (and ticket) is kept, and the password finishes with no code.
  const unlockPasskey = h("button", { type: "button" }, "Unlock with a passkey");
  onAction(unlockPasskey, formFb, async () => {
    if (submit.disabled) return formFb.error("Your password is being checked: wait for it to finish.");
    formFb.status("Choose your passkey when asked…");
    passkeyRunning = true;
    let result: PasskeyUnlock;
    try {
      result = await unlockWithPasskey(ctx.client, { deviceName: device.input.value.trim() || undefined });
    } finally {
      passkeyRunning = false;
    }
    if (result.unlocked) return ctx.restart();
    keep(result.bundle);
    factor.setVisible(false);
    formFb.status(`Your passkey confirmed it's you, but ${PASSKEY_CANNOT_UNLOCK[result.reason]}. Enter your password to finish: no code needed.`);
    if (password.input.value) form.requestSubmit();
    else password.input.focus();
  });

  return {
    node: h(
      "section",
      { class: "card" },
      h("h1", {}, "Unlock your keys on this device"),
      passkey
        ? h(
            "div",
            { class: "passkey-first" },
            unlockPasskey,
            h("p", { class: "hint" }, "Any of your passkeys stands in for the code. One you turned on unlock for also opens your keys, with no password."),
          )
        : null,
      h(
        "p",
        {},
        "This device does not have your keys yet. Your password decrypts them here, in the browser; it is never sent anywhere.",
      ),
      form,
      h("hr"),
      forgotLink(ctx),
    ),
    dispose: () => clearInterval(ticker),
  };
}
