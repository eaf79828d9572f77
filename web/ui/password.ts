/** The new-password pair with a strength meter (zxcvbn-ts, loaded when shown). */
import { checkPassword, preloadPasswordChecker, MIN_PASSWORD_LENGTH } from "../../client/password";
import { field, h, uid } from "./dom";

const LABELS = ["Very weak", "Weak", "Fair", "Strong", "Very strong"];

export interface NewPasswordInput {
  nodes: HTMLElement[];
  password: HTMLInputElement;
  /** The verdict, or an error sentence when the pair cannot be used. */
  validate(): Promise<{ ok: true; password: string } | { ok: false; error: string }>;
}

export function newPasswordInput(label = "Password", userInputs: string[] = []): NewPasswordInput {
  void preloadPasswordChecker();
  const meterId = uid("strength");
  const pw = field(label, { type: "password", autocomplete: "new-password", required: true, minlength: MIN_PASSWORD_LENGTH });
  const again = field(`Confirm ${label.toLowerCase()}`, { type: "password", autocomplete: "new-password", required: true });
  const meter = h("meter", { id: meterId, min: 0, max: 4, low: 2, high: 3, optimum: 4, value: 0 });
  const verdictText = h("span", { class: "strength-text" }, "Start typing to see how strong it is.");
  const suggestions = h("ul", { class: "suggestions" });
  const strength = h(
    "div",
    { class: "strength", "aria-live": "polite" },
    h("label", { for: meterId }, "Strength"),
    meter,
    " ",
    verdictText,
    suggestions,
  );
  pw.hint.textContent =
    `At least ${MIN_PASSWORD_LENGTH} characters and hard to guess. A password manager can make one and remember it; ` +
    "nobody, not even the server, can recover it for you.";
  pw.input.setAttribute("aria-describedby", `${pw.hint.id} ${meterId}`);

  let seq = 0;
  async function update() {
    const mine = ++seq;
    const value = pw.input.value;
    if (!value) {
      meter.value = 0;
      verdictText.textContent = "Start typing to see how strong it is.";
      suggestions.replaceChildren();
      return;
    }
    const verdict = await checkPassword(value, userInputs);
    if (mine !== seq) return;
    meter.value = verdict.score;
    verdictText.textContent = `${LABELS[verdict.score]}${verdict.acceptable ? "" : " (not enough)"}: ${verdict.crackTime} to guess offline.`;
    suggestions.replaceChildren(
      ...[verdict.warning, ...verdict.suggestions].filter(Boolean).map((s) => h("li", {}, s)),
    );
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  pw.input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => void update(), 120);
  });

  return {
    nodes: [pw.wrapper, strength, again.wrapper],
    password: pw.input,
    async validate() {
      const value = pw.input.value;
      if (value !== again.input.value) return { ok: false, error: "The two passwords are not the same." };
      const verdict = await checkPassword(value, userInputs);
      if (!verdict.acceptable) {
        return {
          ok: false,
          error: `That password is too easy to guess. ${verdict.warning || verdict.suggestions[0] || "Make it longer and less predictable."}`,
        };
      }
      return { ok: true, password: value };
    },
  };
}
