/**
 * The new-password pair with a strength meter. The checker's word lists are a data
 * file fetched when this is first shown (web/passwordChecker.ts); until they are
 * loaded the meter says so, and if they cannot be loaded no password is accepted:
 * the meter shows why, with a button to try again (submitting again retries too).
 */
import { MIN_PASSWORD_LENGTH, type PasswordChecker } from "../../client/password";
import { field, h, uid } from "./dom";
import { describeError } from "./messages";

const LABELS = ["Very weak", "Weak", "Fair", "Strong", "Very strong"];
const START = "Start typing to see how strong it is.";
const LOADING = "Loading the password check (its word lists)…";

export interface NewPasswordInput {
  nodes: HTMLElement[];
  password: HTMLInputElement;
  /** The verdict, or an error sentence when the pair cannot be used (or not checked). */
  validate(): Promise<{ ok: true; password: string } | { ok: false; error: string }>;
}

export function newPasswordInput(checker: PasswordChecker, label = "Password", userInputs: string[] = []): NewPasswordInput {
  const meterId = uid("strength");
  const pw = field(label, { type: "password", autocomplete: "new-password", required: true, minlength: MIN_PASSWORD_LENGTH });
  const again = field(`Confirm ${label.toLowerCase()}`, { type: "password", autocomplete: "new-password", required: true });
  const meter = h("meter", { id: meterId, min: 0, max: 4, low: 2, high: 3, optimum: 4, value: 0 });
  const verdictText = h("span", { class: "strength-text" }, LOADING);
  const retry = h("button", { type: "button", class: "link", hidden: true }, "Try again");
  const suggestions = h("ul", { class: "suggestions" });
  const strength = h(
    "div",
    { class: "strength", "aria-live": "polite", "aria-busy": "true" },
    h("label", { for: meterId }, "Strength"),
    meter,
    " ",
    verdictText,
    " ",
    retry,
    suggestions,
  );
  pw.hint.textContent =
    `At least ${MIN_PASSWORD_LENGTH} characters and hard to guess. A password manager can make one and remember it; ` +
    "nobody, not even the server, can recover it for you.";
  pw.input.setAttribute("aria-describedby", `${pw.hint.id} ${meterId}`);

  /** Shows a message instead of a verdict (loading, failed, empty field). */
  function say(text: string) {
    meter.value = 0;
    verdictText.textContent = text;
    suggestions.replaceChildren();
  }

  /** Loads the checker (again after a failure), showing where it stands. */
  async function ensureLoaded(): Promise<{ ok: true } | { ok: false; error: string }> {
    if (checker.state !== "ready") {
      retry.hidden = true;
      strength.setAttribute("aria-busy", "true");
      say(LOADING);
    }
    try {
      await checker.load();
      return { ok: true };
    } catch (err) {
      const error = describeError(err);
      say(error);
      retry.hidden = false;
      return { ok: false, error };
    } finally {
      strength.removeAttribute("aria-busy");
    }
  }

  let seq = 0;
  async function update() {
    const mine = ++seq;
    const loaded = await ensureLoaded();
    if (mine !== seq || !loaded.ok) return;
    const value = pw.input.value;
    if (!value) return say(START);
    const verdict = await checker.check(value, userInputs);
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
  retry.addEventListener("click", () => void update());
  void update();

  return {
    nodes: [pw.wrapper, strength, again.wrapper],
    password: pw.input,
    async validate() {
      const value = pw.input.value;
      if (value !== again.input.value) return { ok: false, error: "The two passwords are not the same." };
      // Never accept a password unchecked: no lists, no password.
      const wasReady = checker.state === "ready";
      const loaded = await ensureLoaded();
      if (!loaded.ok) return loaded;
      if (!wasReady) void update(); // the meter showed "loading" or the failure
      const verdict = await checker.check(value, userInputs);
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
