/**
 * Recovery on a device with nothing (docs/api.md §13): the recovery sheet or enough
 * shares → POST /auth/recovery → wait until readyAt (the owner can stop it from any
 * signed-in device meanwhile) → complete: the keys open with the recovery key, a new
 * password is set at once, and other sessions end.
 */
import { isIndieError } from "../../client/errors";
import type { Progress } from "../../client/owner";
import { completeRecovery, finishRecovery, startRecovery } from "../../client/recovery/api";
import { parseRecoveryKey } from "../../client/recovery/recoveryKey";
import { combineShares, splitShares } from "../../client/recovery/shares";
import { defaultDeviceName, type AppContext, type Screen } from "../context";
import { feedback, field, formatTime, h, replaceChildren, textarea } from "../ui/dom";
import { actionForm } from "../ui/form";
import { describeError } from "../ui/messages";
import { newPasswordInput } from "../ui/password";

/** Errors after a recovery's login that pressing "Complete recovery" again cannot mend, and why, after "could not be set: ". */
const FINISH_CANNOT_RETRY = {
  step_up_required: "the recovery's login is now over 5 minutes old",
  version_conflict: "your key backup was changed after the recovery's login",
  escrow_mismatch: "your key backup was changed after the recovery's login",
  no_recovery_login: "this session did not come from the recovery",
} as const;

export function recoverScreen(ctx: AppContext): Screen {
  const body = h("div", {});
  const fb = feedback();
  let timer: ReturnType<typeof setInterval> | undefined;
  let key: Uint8Array<ArrayBuffer> | null = null;
  /** The session this screen's recovery login made, once a step after it failed. */
  let recoverySessionId: string | null = null;

  function showEntry() {
    let mode: "sheet" | "shares" = "sheet";
    const sheet = textarea("Recovery key (from your recovery sheet)", { rows: 3, autocomplete: "off", spellcheck: false });
    const shares = textarea("Shares, one after another, as printed (or one per line)", { rows: 12, autocomplete: "off", spellcheck: false });
    shares.wrapper.hidden = true;
    const toggle = h("button", { type: "button", class: "link" }, "I have shares instead");
    toggle.addEventListener("click", () => {
      mode = mode === "sheet" ? "shares" : "sheet";
      sheet.wrapper.hidden = mode !== "sheet";
      shares.wrapper.hidden = mode !== "shares";
      toggle.textContent = mode === "sheet" ? "I have shares instead" : "I have the recovery sheet instead";
    });
    const { form } = actionForm([sheet.wrapper, shares.wrapper, toggle], {
      submit: "Start recovery",
      feedback: fb,
      async onSubmit() {
        key =
          mode === "sheet"
            ? await parseRecoveryKey(sheet.input.value)
            : await combineShares(splitShares(shares.input.value), { host: location.host });
        const { readyAt } = await startRecovery(ctx.client, key);
        showWaiting(readyAt);
      },
    });
    // The app starts again where it was: the login or unlock screen.
    const back = h("button", { type: "button", class: "link" }, "Back to logging in");
    back.addEventListener("click", () => location.reload());
    replaceChildren(
      body,
      h("p", {}, "If you lost your password or every device, your recovery sheet, or enough of the shares you gave to people you trust, can get you back in."),
      form,
      h("p", {}, back),
    );
  }

  function showWaiting(readyAt: number) {
    const when = h("p", { role: "status" });
    const newPw = newPasswordInput(ctx.passwordChecker, "New password", [location.hostname]);
    const endOthers = h("input", { type: "checkbox", checked: true, id: "end-others" });
    const { form, submit } = actionForm(
      [h("h2", {}, "Set a new password"), ...newPw.nodes, h("label", {}, endOthers, " Log out every other session")],
      {
        submit: "Complete recovery",
        feedback: fb,
        async onSubmit(local) {
          if (!key) return local.error("Enter the recovery key or shares again.");
          const verdict = await newPw.validate();
          if (!verdict.ok) return local.error(verdict.error);
          const password = verdict.password;
          const input = { key, newPassword: password, deviceName: defaultDeviceName(), endOtherSessions: endOthers.checked };
          // A step after this screen's recovery login failed last time: the device is
          // in, with its keys, and only the rest is retried (finishRecovery), not the
          // spent request. Any other session (another tab's login) does not count.
          const finishing = recoverySessionId !== null && ctx.client.session.claims()?.sid === recoverySessionId;
          local.status(finishing ? "Setting your new password…" : "Recovering your keys…");
          let loggedIn = false;
          const onProgress = (p: Progress) => {
            if (p.stage === "store") loggedIn = true;
          };
          try {
            await (finishing ? finishRecovery(ctx.client, { ...input, onProgress }) : completeRecovery(ctx.client, { ...input, onProgress }));
          } catch (err) {
            if (!finishing && loggedIn) recoverySessionId = ctx.client.session.claims()?.sid ?? null;
            if (recoverySessionId === null) throw err;
            // What a retry cannot mend: the login's step-up is over 5 minutes old, or the
            // key backup changed after it (finishRecovery re-seals only what it proved).
            const why = isIndieError(err) && Object.hasOwn(FINISH_CANNOT_RETRY, err.code) ? FINISH_CANNOT_RETRY[err.code as keyof typeof FINISH_CANNOT_RETRY] : null;
            if (why) {
              recoverySessionId = null;
              return local.error(`Your keys are back on this device, but the new password could not be set: ${why}. Reload the page, log out, and start a new recovery from the login screen to set it.`);
            }
            return local.error(`Your keys are back on this device, but the new password is not set yet: ${describeError(err)} Press "Complete recovery" again to retry.`);
          }
          key.fill(0);
          key = null;
          ctx.restart("Recovered. Your new password protects your keys" + (endOthers.checked ? "; every other session was logged out." : "."));
        },
      },
    );
    const tick = () => {
      const waitS = Math.ceil((readyAt - Date.now()) / 1000);
      submit.disabled = waitS > 0;
      when.textContent =
        waitS > 0
          ? `Recovery requested. It can be completed from ${formatTime(readyAt)} (in ${formatWait(waitS)}). Keep this page open, or come back then with the same key or shares. Your signed-in devices were told, and can stop it.`
          : "Recovery is ready: set a new password to complete it.";
      if (waitS <= 0) clearInterval(timer);
    };
    tick();
    timer = setInterval(tick, 1000);
    replaceChildren(body, when, form);
  }

  showEntry();
  return {
    node: h("section", { class: "card" }, h("h1", {}, "Recover your keys"), ...fb.nodes, body),
    dispose() {
      clearInterval(timer);
      key?.fill(0);
    },
  };
}

function formatWait(s: number): string {
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
