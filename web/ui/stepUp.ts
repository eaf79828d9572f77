/**
 * Step-up (docs/api.md §4): some routes need a login at most 5 minutes old, with a
 * second factor when 2FA is on. `confirmItsYou` re-signs a challenge only when the
 * current token would not do, asking for the factor (a code, a backup code or a
 * passkey) in place, and resolves once step-up is fresh, or rejects with
 * `StepUpCancelled` when the owner closes the prompt.
 */
import { passkeyFactor } from "../../client/passkeys";
import type { AppContext } from "../context";
import { h, replaceChildren } from "./dom";
import { factorInput } from "./factor";
import { actionForm, onAction } from "./form";

/** The owner closed the step-up prompt: the action that asked for it did not run. */
export class StepUpCancelled extends Error {
  override readonly name = "StepUpCancelled";
  constructor() {
    super("Cancelled: nothing was changed.");
  }
}

/** True when the action can run now without a code for step-up. */
export function stepUpReady(ctx: AppContext): boolean {
  return ctx.client.stepUpFresh(ctx.twoFactorOn);
}

/**
 * Resolves when step-up is fresh: at once if it is, after a fresh signature alone
 * when 2FA is off, otherwise after the owner gives a factor in a form shown in
 * `container` (which gets its own content back afterwards). The form offers what the owner
 * has, as the server says now (GET /api/2fa): the app's code if an authenticator app
 * is set up, a backup code, and "Use a passkey" if a passkey is registered.
 */
export async function confirmItsYou(ctx: AppContext, container: HTMLElement, why: string): Promise<void> {
  if (stepUpReady(ctx)) return;
  const status = await ctx.client.twoFactorStatus();
  ctx.twoFactorOn = status.enabled;
  if (stepUpReady(ctx)) return;
  if (!status.enabled) return ctx.client.reauth();
  // A server without passkeys (§12) names neither: 2FA on is then the app.
  const app = status.totp ?? true;
  const passkeys = status.passkeys ?? 0;
  return new Promise((resolve, reject) => {
    const factor = factorInput({ app });
    const before = [...container.childNodes];
    const restore = () => replaceChildren(container, ...before);
    const done = () => {
      restore();
      resolve();
    };
    const { form, fb } = actionForm([h("p", {}, why), ...factor.nodes], {
      submit: "Confirm",
      class: "card",
      async onSubmit(local) {
        // Another prompt (a second form on the screen) may have been answered first:
        // then this one spends nothing.
        if (stepUpReady(ctx)) return done();
        const value = factor.value();
        if (!value) return local.error(app ? "Enter a code from your authenticator app or a backup code." : "Enter a backup code, or use a passkey.");
        await ctx.client.reauth(value);
        done();
      },
      onError: () => factor.clear(),
    });
    const actions = h("div", { class: "actions" });
    if (passkeys > 0) {
      const usePasskey = h("button", { type: "button", class: "secondary" }, "Use a passkey");
      onAction(usePasskey, fb, async () => {
        if (stepUpReady(ctx)) return done();
        await ctx.client.reauth(await passkeyFactor(ctx.client));
        done();
      });
      actions.append(usePasskey);
    }
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    cancel.addEventListener("click", () => {
      restore();
      reject(new StepUpCancelled());
    });
    actions.append(cancel);
    form.append(actions);
    replaceChildren(container, h("h2", {}, "Confirm it's you"), form);
    factor.focus();
  });
}
