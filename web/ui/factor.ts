/**
 * A second-factor input: the authenticator app's code, or a backup code. Without
 * an app (`app: false`: 2FA on with passkeys alone) it takes a backup code only.
 */
import type { SecondFactor } from "../../client/owner";
import { field, h } from "./dom";

export interface FactorInput {
  nodes: HTMLElement[];
  /** The factor entered, or null when the field is empty. */
  value(): SecondFactor | null;
  clear(): void;
  setVisible(visible: boolean): void;
  focus(): void;
}

const CODE_LABEL = "Authentication code";

export function factorInput(options: { allowBackup?: boolean; app?: boolean } = {}): FactorInput {
  const app = options.app !== false;
  let backup = false;
  const f = field(CODE_LABEL, { type: "text" });
  const label = f.wrapper.querySelector("label")!;
  const toggle = h("button", { type: "button", class: "link" }, "");
  const setBackup = (on: boolean) => {
    backup = on;
    label.textContent = on ? "Backup code" : CODE_LABEL;
    f.hint.textContent = on ? "One of the 10-character codes you saved when you turned on two-factor authentication." : "The 6-digit code from your authenticator app.";
    f.input.value = "";
    if (on) {
      f.input.removeAttribute("pattern");
      f.input.removeAttribute("maxlength");
      f.input.setAttribute("inputmode", "text");
      f.input.setAttribute("autocomplete", "off");
    } else {
      f.input.setAttribute("pattern", "[0-9 ]*");
      f.input.setAttribute("maxlength", "7");
      f.input.setAttribute("inputmode", "numeric");
      f.input.setAttribute("autocomplete", "one-time-code");
    }
    toggle.textContent = on ? "Use a code from the app instead" : "Use a backup code instead";
  };
  setBackup(!app);
  toggle.addEventListener("click", () => {
    setBackup(!backup);
    f.input.focus();
  });
  const box = h("div", { class: "factor" }, f.wrapper, options.allowBackup === false || !app ? null : toggle);
  return {
    nodes: [box],
    value() {
      const raw = f.input.value.trim();
      if (!raw) return null;
      return backup ? { backupCode: raw } : { totp: raw.replace(/\s+/g, "") };
    },
    clear() {
      f.input.value = "";
    },
    setVisible(visible) {
      box.hidden = !visible;
    },
    focus() {
      f.input.focus();
    },
  };
}
