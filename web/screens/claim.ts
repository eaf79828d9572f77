/** First use: the setup code, a password (twice, with a strength meter), then keys. */
import { field, h } from "../ui/dom";
import { actionForm } from "../ui/form";
import { newPasswordInput } from "../ui/password";
import { defaultDeviceName, type AppContext, type Screen } from "../context";
import type { Progress } from "../../client/owner";

export function claimScreen(ctx: AppContext): Screen {
  const code = field("Setup code", { type: "text", autocomplete: "off", spellcheck: "false", required: true }, "Printed by the command that started this instance (npm run dev or the deploy command).");
  const password = newPasswordInput(ctx.passwordChecker, "Password", [location.hostname]);
  const device = field("Name of this device", { type: "text", value: defaultDeviceName(), maxlength: 100 }, "Shown in your list of sessions.");
  const { form } = actionForm([code.wrapper, ...password.nodes, device.wrapper], {
    submit: "Claim this instance",
    async onSubmit(fb) {
      if (!code.input.value.trim()) return fb.error("Enter the setup code.");
      const checked = await password.validate();
      if (!checked.ok) return fb.error(checked.error);
      const { kdf, kdfDescription } = await ctx.client.claim({
        setupCode: code.input.value,
        password: checked.password,
        deviceName: device.input.value.trim() || undefined,
        onProgress: (p: Progress) => fb.status(claimProgress(p)),
      });
      ctx.restart(
        `This instance is yours. Your keys are on this device and, encrypted with your password (${kdfDescription}), on the server.` +
          (kdf === "pbes2" ? " This browser could not run Argon2id, so the weaker PBKDF2 was used: change the password from a browser that can to upgrade it." : ""),
      );
    },
  });

  return {
    node: h(
      "section",
      { class: "card" },
      h("h1", {}, "Claim this instance"),
      h(
        "p",
        {},
        "Your browser makes your signing and encryption keys now. They are stored on the server only encrypted with your password, which never leaves this device.",
      ),
      h("p", { class: "tip" }, "Tip: let a password manager generate and keep the password. Without it, nobody can unlock your keys on a new device."),
      form,
    ),
  };
}

function claimProgress(p: Progress): string {
  switch (p.stage) {
    case "keys":
      return "Making your keys…";
    case "seal":
      // Say what is used: Argon2id, or PBKDF2 where this browser cannot run WebAssembly.
      return p.kdf === "pbes2"
        ? "Encrypting them with your password (PBKDF2: this browser cannot run Argon2id)…"
        : "Encrypting them with your password (Argon2id, 64 MiB)…";
    case "login":
      return "Claiming the instance…";
    case "store":
      return "Keeping the keys on this device…";
    default:
      return "";
  }
}
