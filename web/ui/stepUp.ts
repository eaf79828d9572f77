/**
 * Step-up (docs/api.md §4): some routes need a login at most 5 minutes old, with a
 * second factor when 2FA is on. `stepUp` re-signs a challenge (plus the code given)
 * only when the current token would not do; `confirmItsYou` asks for the factor
 * (a code, a backup code or a passkey) in place and resolves once step-up is fresh.
 */
import type { SecondFactor } from "../../client/owner";
import { passkeyFactor } from "../../client/passkeys";
import type { AppContext } from "../context";
import { h, replaceChildren } from "./dom";
import { factorInput } from "./factor";
import { actionForm, onAction } from "./form";

/** True when the action can run now without a code for step-up. */
export function stepUpReady(ctx: AppContext): boolean {
  return ctx.client.stepUpFresh(ctx.twoFactorOn);
}

/** Re-authenticates if needed. Returns whether the given factor was used up by it. */
export async function stepUp(ctx: AppContext, factor: SecondFactor | null): Promise<boolean> {
  if (stepUpReady(ctx)) return false;
  await ctx.client.reauth(ctx.twoFactorOn ? (factor ?? undefined) : undefined);
  return ctx.twoFactorOn && factor !== null;
}

/**
 * Resolves when step-up is fresh: at once if it is, after a fresh signature alone
 * when 2FA is off, otherwise after the owner gives a factor in a form shown in
 * `container` (which is emptied again afterwards).
 */
export function confirmItsYou(ctx: AppContext, container: HTMLElement, why: string): Promise<void> {
  if (stepUpReady(ctx)) return Promise.resolve();
  if (!ctx.twoFactorOn) return ctx.client.reauth();
  return new Promise((resolve) => {
    const factor = factorInput({ allowBackup: true });
    const done = () => {
      replaceChildren(container);
      resolve();
    };
    const { form, fb } = actionForm([h("p", {}, why), ...factor.nodes], {
      submit: "Confirm",
      class: "card",
      async onSubmit(local) {
        const value = factor.value();
        if (!value) return local.error("Enter a code, or use a passkey.");
        await ctx.client.reauth(value);
        done();
      },
      onError: () => factor.clear(),
    });
    const usePasskey = h("button", { type: "button", class: "secondary" }, "Use a passkey");
    onAction(usePasskey, fb, async () => {
      await ctx.client.reauth(await passkeyFactor(ctx.client));
      done();
    });
    form.append(usePasskey);
    replaceChildren(container, h("h2", {}, "Confirm it's you"), form);
    factor.focus();
  });
}
