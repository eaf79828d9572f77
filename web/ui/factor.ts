/** A second-factor input: the authenticator app's code, or a backup code. */
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

export function factorInput(options: { allowBackup?: boolean; label?: string } = {}): FactorInput {
  const codeLabel = options.label ?? "Authentication code";
  let backup = false;
  const f = field(codeLabel, { type: "text", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9 ]*", maxlength: 7 }, "The 6-digit code from your authenticator app.");
  const label = f.wrapper.querySelector("label")!;
  const toggle = h("button", { type: "button", class: "link" }, "Use a backup code instead");
  toggle.addEventListener("click", () => {
    backup = !backup;
    label.textContent = backup ? "Backup code" : codeLabel;
    f.hint.textContent = backup ? "One of the 10-character codes you saved when you turned on two-factor authentication." : "The 6-digit code from your authenticator app.";
    f.input.value = "";
    if (backup) {
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
    toggle.textContent = backup ? "Use a code from the app instead" : "Use a backup code instead";
    f.input.focus();
  });
  const box = h("div", { class: "factor" }, f.wrapper, options.allowBackup === false ? null : toggle);
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
