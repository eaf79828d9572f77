/** Keys: what this device holds, change the password (re-wrap), rotate the keys. */
import { describeKdf, inspectEscrow } from "../../client/escrow/escrow";
import type { Progress } from "../../client/owner";
import type { AppContext, Screen } from "../context";
import { feedback, field, h, replaceChildren } from "../ui/dom";
import { factorInput } from "../ui/factor";
import { actionForm } from "../ui/form";
import { describeError } from "../ui/messages";
import { newPasswordInput } from "../ui/password";
import { stepUp, stepUpReady } from "../ui/stepUp";

function progressText(p: Progress): string {
  switch (p.stage) {
    case "derive":
      return `Deriving the key (${p.description})…`;
    case "decrypt":
      return "Decrypting your key backup…";
    case "keys":
      return "Making new keys…";
    case "seal":
      return "Encrypting with your password…";
    default:
      return "";
  }
}

export function keysScreen(ctx: AppContext): Screen {
  const summary = h("dl", { class: "summary" });
  const fb = feedback();

  async function loadSummary() {
    const [escrow, device] = await Promise.all([ctx.client.getEscrow(), ctx.client.deviceKeys()]);
    const retired = device ? device.enc.filter((k) => k.status === "retired").length : 0;
    replaceChildren(
      summary,
      h("dt", {}, "Key backup"),
      h("dd", {}, `Version ${escrow.version}, ${describeKdf(inspectEscrow(escrow.blob))}. Earlier versions are kept on the server.`),
      h("dt", {}, "Signing key"),
      h("dd", {}, h("code", {}, escrow.publicKeys.sig.kid)),
      h("dt", {}, "Encryption key"),
      h("dd", {}, h("code", {}, escrow.publicKeys.enc.kid), retired ? ` (plus ${retired} retired, kept to read older messages)` : ""),
    );
  }

  // --- change password ---
  const oldPw = field("Current password", { type: "password", autocomplete: "current-password", required: true });
  const newPw = newPasswordInput(ctx.passwordChecker, "New password", [location.hostname]);
  const pwFactor = factorInput({ label: "Authentication code" });
  const { form: pwForm } = actionForm(
    [
      h("h2", {}, "Change password"),
      h("p", {}, "Your keys stay the same; they are encrypted again under the new password, as a new version of the backup."),
      oldPw.wrapper,
      ...newPw.nodes,
      ...pwFactor.nodes,
    ],
    {
      submit: "Change password",
      class: "card",
      async onSubmit(pwFb) {
        if (!oldPw.input.value) return pwFb.error("Enter your current password.");
        const checked = await newPw.validate();
        if (!checked.ok) return pwFb.error(checked.error);
        if (ctx.twoFactorOn && !stepUpReady(ctx) && !pwFactor.value()) {
          // The step-up may have lapsed while the screen was open: show the field it needs.
          showFactors();
          return pwFb.error("Enter a code from your authenticator app, or a backup code.");
        }
        await stepUp(ctx, pwFactor.value());
        const version = await ctx.client.changePassword({ oldPassword: oldPw.input.value, newPassword: checked.password, onProgress: (p) => pwFb.status(progressText(p)) });
        pwForm.reset();
        pwFb.status(`Password changed. Key backup is now version ${version}.`);
        showFactors();
        await loadSummary();
      },
      onError: () => pwFactor.clear(),
    },
  );

  // --- rotate keys ---
  const rotPw = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const rotFactor = factorInput({ label: "Authentication code" });
  const { form: rotForm } = actionForm(
    [
      h("h2", {}, "Rotate keys"),
      h("p", {}, "New signing and encryption keys replace the current ones. The old ones are retired: kept in your backup so old messages stay readable, but no longer published for new ones."),
      rotPw.wrapper,
      ...rotFactor.nodes,
    ],
    {
      submit: "Rotate keys",
      submitClass: "danger",
      class: "card",
      async onSubmit(rotFb) {
        if (!rotPw.input.value) return rotFb.error("Enter your password.");
        if (ctx.twoFactorOn && !stepUpReady(ctx) && !rotFactor.value()) {
          showFactors();
          return rotFb.error("Enter a code from your authenticator app, or a backup code.");
        }
        await stepUp(ctx, rotFactor.value());
        const version = await ctx.client.rotateKeys({ password: rotPw.input.value, onProgress: (p) => rotFb.status(progressText(p)) });
        rotForm.reset();
        rotFb.status(`Keys rotated. Key backup is now version ${version}.`);
        showFactors();
        await loadSummary();
      },
      onError: () => rotFactor.clear(),
    },
  );

  const showFactors = () => {
    const need = ctx.twoFactorOn && !stepUpReady(ctx);
    pwFactor.setVisible(need);
    rotFactor.setVisible(need);
  };
  showFactors();

  loadSummary().catch((err) => fb.error(describeError(err)));
  return { node: h("section", {}, h("h1", {}, "Keys"), ...fb.nodes, summary, pwForm, rotForm) };
}
