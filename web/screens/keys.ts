/** Keys: what this device holds, change the password (re-wrap), rotate the keys. */
import { describeKdf, inspectEscrow } from "../../client/escrow/escrow";
import type { Progress } from "../../client/owner";
import type { AppContext, Screen } from "../context";
import { feedback, field, h, replaceChildren } from "../ui/dom";
import { actionForm } from "../ui/form";
import { describeError } from "../ui/messages";
import { newPasswordInput } from "../ui/password";
import { confirmItsYou } from "../ui/stepUp";

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
  // Step-up (docs/api.md §4) asks for a factor here, under the form, only when needed.
  const pwPrompt = h("div", {});
  const { form: pwForm } = actionForm(
    [
      h("h2", {}, "Change password"),
      h("p", {}, "Your keys stay the same; they are encrypted again under the new password, as a new version of the backup."),
      oldPw.wrapper,
      ...newPw.nodes,
    ],
    {
      submit: "Change password",
      class: "card",
      async onSubmit(pwFb) {
        if (!oldPw.input.value) return pwFb.error("Enter your current password.");
        const checked = await newPw.validate();
        if (!checked.ok) return pwFb.error(checked.error);
        await confirmItsYou(ctx, pwPrompt, "Changing your password needs a fresh confirmation.");
        const version = await ctx.client.changePassword({ oldPassword: oldPw.input.value, newPassword: checked.password, onProgress: (p) => pwFb.status(progressText(p)) });
        pwForm.reset();
        pwFb.status(`Password changed. Key backup is now version ${version}.`);
        await loadSummary();
      },
    },
  );

  // --- rotate keys ---
  const rotPw = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const rotPrompt = h("div", {});
  const { form: rotForm } = actionForm(
    [
      h("h2", {}, "Rotate keys"),
      h("p", {}, "New signing and encryption keys replace the current ones. The old ones are retired: kept in your backup so old messages stay readable, but no longer published for new ones."),
      rotPw.wrapper,
    ],
    {
      submit: "Rotate keys",
      submitClass: "danger",
      class: "card",
      async onSubmit(rotFb) {
        if (!rotPw.input.value) return rotFb.error("Enter your password.");
        await confirmItsYou(ctx, rotPrompt, "Rotating your keys needs a fresh confirmation.");
        const version = await ctx.client.rotateKeys({ password: rotPw.input.value, onProgress: (p) => rotFb.status(progressText(p)) });
        rotForm.reset();
        rotFb.status(`Keys rotated. Key backup is now version ${version}.`);
        await loadSummary();
      },
    },
  );

  loadSummary().catch((err) => fb.error(describeError(err)));
  return { node: h("section", {}, h("h1", {}, "Keys"), ...fb.nodes, summary, pwForm, pwPrompt, rotForm, rotPrompt) };
}
