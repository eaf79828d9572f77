/** A device that has the keys: sign a challenge (and give a code when 2FA is on). */
import { isIndieError } from "../../client/errors";
import { defaultDeviceName, type AppContext, type Screen } from "../context";
import { h } from "../ui/dom";
import { factorInput } from "../ui/factor";
import { actionForm, onAction } from "../ui/form";
import { passkeyFactor } from "../../client/passkeys";
import { forgotLink } from "./recoverLink";

export function loginScreen(ctx: AppContext, mfa: boolean, passkey = false): Screen {
  const factor = factorInput();
  factor.setVisible(mfa);
  const { form, fb } = actionForm([...factor.nodes], {
    submit: "Log in",
    async onSubmit(fb) {
      const code = factor.value();
      if (mfa && !code) return fb.error("Enter the code from your authenticator app (or a backup code).");
      await ctx.client.login({ factor: code ?? undefined, deviceName: defaultDeviceName() });
      ctx.restart();
    },
    onError(err) {
      if (isIndieError(err, "mfa_required")) {
        mfa = true;
        factor.setVisible(true);
        factor.focus();
      }
      factor.clear();
    },
  });

  // A passkey as the second factor (§12): one ceremony, then the signed challenge. It
  // comes first when the owner has one: the one thing every such owner can use (an
  // owner with passkeys alone has no app, so the code field is for backup codes).
  const usePasskey = h("button", { type: "button" }, "Log in with a passkey");
  onAction(usePasskey, fb, async () => {
    fb.clear();
    await ctx.client.login({ factor: await passkeyFactor(ctx.client), deviceName: defaultDeviceName() });
    ctx.restart();
  });

  const forget = h("button", { type: "button", class: "secondary" }, "Remove my keys from this device");
  forget.addEventListener("click", () => {
    if (!confirm("Remove your keys from this device? You can unlock them again with your password.")) return;
    void ctx.client.forgetDevice().then(() => ctx.restart("Your keys were removed from this device."));
  });

  return {
    node: h(
      "section",
      { class: "card" },
      h("h1", {}, "Log in"),
      h("p", {}, "This device holds your keys: logging in signs a one-time challenge with them."),
      mfa && passkey ? h("div", { class: "passkey-first" }, usePasskey, h("p", { class: "hint" }, "Or with a code:")) : null,
      form,
      h("hr"),
      forget,
      forgotLink(ctx),
    ),
  };
}
