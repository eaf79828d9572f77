/**
 * The Recovery screen (docs/api.md §13), behind step-up: make a recovery sheet or a
 * k-of-n set of shares, replace or remove it, and stop a pending recovery. Bundled
 * with the app (see web/app.ts for why not lazily). A key is made only while
 * two-factor authentication is on (RECOVERY_NEEDS_TWO_FACTOR says why); until then
 * the screen says so and links to the Two-factor screen.
 */
import { RECOVERY_NEEDS_TWO_FACTOR, removeRecovery, setUpRecovery } from "../../client/recovery/api";
import { cancelRecoveryRequest, recoveryStatus, type RecoveryStatus } from "../../client/recovery/status";
import { recoverySheet } from "../../client/recovery/recoveryKey";
import { splitRecoveryKey, MAX_SHARES } from "../../client/recovery/shares";
import type { AppContext, Screen } from "../context";
import { feedback, field, formatTime, h, replaceChildren } from "../ui/dom";
import { actionForm, onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import { confirmItsYou, StepUpCancelled } from "../ui/stepUp";

export const REPLACE_WARNING =
  "Replacing or removing the recovery key stops the old sheet or shares from opening any key backup written from now on. Earlier versions of your key backup (kept by the server, and in exports) still open with them. If a sheet or shares may be in the wrong hands, also rotate your keys (Keys screen), so what they could open is no longer in use.";

export function recoveryScreen(ctx: AppContext): Screen {
  const fb = feedback();
  const body = h("div", {});
  const prompt = h("div", {});

  async function load() {
    const [status, twoFactor] = await Promise.all([recoveryStatus(ctx.client), ctx.client.twoFactorStatus()]);
    ctx.twoFactorOn = twoFactor.enabled;
    showStatus(status);
  }

  function showStatus(status: RecoveryStatus) {
    const pending = status.request
      ? h(
          "div",
          { class: "card warning", role: "alert" },
          h("p", {}, `A recovery of your keys was requested on ${formatTime(status.request.createdAt)}; it can be completed from ${formatTime(status.request.readyAt)}. If this was not you, stop it.`),
          cancelButton(),
        )
      : null;
    replaceChildren(
      body,
      pending,
      h("p", {}, status.configured ? `A recovery key is set up${status.configuredAt ? ` (since ${formatTime(status.configuredAt)})` : ""}.` : "No recovery key is set up."),
      h("p", {}, "A recovery key gets you back in if you lose your password or every device. Keep it as one printed sheet, or split it into shares for people you trust, so that any k of them together can recover it (and fewer cannot)."),
      status.configured ? h("p", { class: "warning", role: "note" }, REPLACE_WARNING) : null,
      ctx.twoFactorOn
        ? setupForm(status.configured)
        : h("div", { class: "card warning", "data-needs-2fa": "" }, h("p", {}, RECOVERY_NEEDS_TWO_FACTOR), h("a", { href: "#/2fa" }, "Turn on two-factor authentication")),
      status.configured ? removeForm() : null,
    );
  }

  function cancelButton() {
    const cancel = h("button", { type: "button", class: "danger" }, "Cancel the recovery");
    onAction(cancel, fb, async () => {
      await confirmItsYou(ctx, prompt, "Cancelling a recovery needs a fresh confirmation.");
      await cancelRecoveryRequest(ctx.client);
      fb.status("The recovery request was cancelled.");
      await load();
    });
    return cancel;
  }

  function setupForm(replacing: boolean) {
    const password = field("Your password", { type: "password", autocomplete: "current-password", required: true }, "It opens your key backup here, to seal it for the recovery key too.");
    const kind = h("select", { id: "recovery-kind" }, h("option", { value: "sheet" }, "One recovery sheet"), h("option", { value: "shares" }, "Shares for people I trust"), h("option", { value: "both" }, "Both: a sheet and shares"));
    const k = field("Shares needed (k)", { type: "number", min: 2, max: MAX_SHARES, value: 2 });
    const n = field("Shares in all (n)", { type: "number", min: 2, max: MAX_SHARES, value: 3 });
    const sharesBox = h("div", { hidden: true }, k.wrapper, n.wrapper);
    kind.addEventListener("change", () => (sharesBox.hidden = kind.value === "sheet"));
    const { form } = actionForm(
      [h("h2", {}, replacing ? "Replace the recovery key" : "Create a recovery key"), password.wrapper, h("label", { for: "recovery-kind" }, "Keep it as"), kind, sharesBox],
      {
        submit: replacing ? "Replace the recovery key" : "Create the recovery key",
        class: "card",
        async onSubmit(local) {
          if (!password.input.value) return local.error("Enter your password.");
          const threshold = Number(k.input.value);
          const total = Number(n.input.value);
          if (kind.value !== "sheet" && !(Number.isInteger(threshold) && Number.isInteger(total) && threshold >= 2 && total >= threshold && total <= MAX_SHARES)) {
            return local.error(`Choose 2 ≤ k ≤ n ≤ ${MAX_SHARES}.`);
          }
          if (replacing && !confirm(REPLACE_WARNING)) return;
          await confirmItsYou(ctx, prompt, "Setting up recovery needs a fresh confirmation.");
          local.status("Sealing your key backup for the new recovery key…");
          const { key } = await setUpRecovery(ctx.client, { password: password.input.value });
          try {
            const sheet = kind.value === "shares" ? null : await recoverySheet(key, { origin: location.origin });
            const shares = kind.value === "sheet" ? [] : await splitRecoveryKey(key, { threshold, total, host: location.host });
            showPages(sheet, shares);
          } finally {
            key.fill(0);
          }
        },
      },
    );
    return form;
  }

  function removeForm() {
    const password = field("Your password", { type: "password", autocomplete: "current-password", required: true });
    const { form } = actionForm([h("h2", {}, "Remove the recovery key"), password.wrapper], {
      submit: "Remove the recovery key",
      submitClass: "danger",
      class: "card",
      async onSubmit(local) {
        if (!password.input.value) return local.error("Enter your password.");
        if (!confirm(REPLACE_WARNING)) return;
        await confirmItsYou(ctx, prompt, "Removing recovery needs a fresh confirmation.");
        await removeRecovery(ctx.client, { password: password.input.value });
        fb.status("The recovery key was removed.");
        await load();
      },
    });
    return form;
  }

  function pageActions() {
    const print = h("button", { type: "button" }, "Print");
    print.addEventListener("click", () => window.print());
    const done = h("button", { type: "button", class: "secondary" }, "Done");
    done.addEventListener("click", () => void load().catch((err) => fb.error(describeError(err))));
    return h("div", { class: "actions" }, print, done);
  }

  function showPages(
    sheet: { host: string; createdOn: string; groups: string[]; text: string } | null,
    shares: Array<{ index: number; threshold: number; total: number; text: string; printable: string }>,
  ) {
    const intro = [
      sheet ? "Your recovery sheet is ready." : "",
      shares.length ? `Your ${shares.length} shares are ready; any ${shares[0]!.threshold} of them recover your keys. Give each to a different person.` : "",
      shares.length || !sheet ? "Print each page now (or write it down): they are not shown again." : "Print it now (or write it down): it is not shown again.",
    ].filter(Boolean).join(" ");
    replaceChildren(
      body,
      h("p", { role: "status" }, intro),
      h("div", { class: "printable-pages" },
        sheet
          ? h("article", { class: "printable recovery-page" },
              h("h2", {}, `Recovery key for ${sheet.host}`),
              h("p", {}, `Made on ${sheet.createdOn}.`),
              h("pre", { class: "recovery-key", "data-recovery-key": sheet.groups.join("-") }, sheet.text),
            )
          : null,
        shares.map((s) =>
          h("article", { class: "printable recovery-page", "data-share": s.text },
            h("h2", {}, `Recovery share ${s.index} of ${s.total} for ${location.host}`),
            h("pre", {}, s.printable),
          ),
        ),
      ),
      pageActions(),
    );
  }

  const node = h("section", {}, h("h1", {}, "Recovery"), ...fb.nodes, prompt, body);
  // The settings are behind step-up; closing the prompt leaves a way to open it again.
  const open = () =>
    confirmItsYou(ctx, prompt, "The recovery settings need a fresh confirmation.")
      .then(load)
      .catch((err: unknown) => {
        fb.error(describeError(err));
        if (!(err instanceof StepUpCancelled)) return;
        const again = h("button", { type: "button" }, "Show the recovery settings");
        again.addEventListener("click", () => {
          fb.clear();
          replaceChildren(body);
          void open();
        });
        replaceChildren(body, again);
      });
  void open();
  return { node };
}
