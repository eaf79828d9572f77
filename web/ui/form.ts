/**
 * Forms and buttons that run an action: the button is disabled (and `aria-busy`)
 * while it runs, a second submit meanwhile is ignored, and a failure is shown in
 * plain words (`describeError`) on the form's alert line.
 */
import { feedback, h, type Child } from "./dom";
import { describeError } from "./messages";

export type Feedback = ReturnType<typeof feedback>;

/** Runs `fn` with `button` disabled; reports failures through `onError`. */
async function busy(button: HTMLButtonElement, fn: () => Promise<void>, onError: (err: unknown) => void) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await fn();
  } catch (err) {
    onError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export interface ActionFormOptions {
  /** The submit button's text. */
  submit: string;
  /** The submit button's class ("danger", say). */
  submitClass?: string;
  /** The form's class ("card", say). */
  class?: string;
  /** Nodes between the submit button and the feedback lines (a progress bar). */
  afterSubmit?: Child[];
  /**
   * Where progress and errors go. By default the form gets its own status and alert
   * lines, after the button; pass the screen's to use those instead (they are then
   * not added to the form).
   */
  feedback?: Feedback;
  /**
   * The work, run on submit with the button busy and the feedback cleared. To refuse
   * the input, show the reason and return: `return fb.error("Enter a code.")`.
   */
  onSubmit: (fb: Feedback) => Promise<void>;
  /** Runs on a failure, before its message is shown (focus a field, clear a code). */
  onError?: (err: unknown) => void;
}

/** A `novalidate` form: `children`, a submit button, then its feedback lines. */
export function actionForm(children: Child[], options: ActionFormOptions) {
  const own = !options.feedback;
  const fb = options.feedback ?? feedback();
  const submit = h("button", { type: "submit", class: options.submitClass }, options.submit);
  const form = h("form", { novalidate: true, class: options.class }, ...children, submit, ...(options.afterSubmit ?? []), ...(own ? fb.nodes : []));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(
      submit,
      async () => {
        fb.clear();
        await options.onSubmit(fb);
      },
      (err) => {
        options.onError?.(err);
        fb.error(describeError(err));
      },
    );
  });
  return { form, submit, fb };
}

/** A button that runs `action` when clicked, busy meanwhile; a failure goes to `fb`. */
export function onAction(button: HTMLButtonElement, fb: Feedback, action: () => Promise<void>): void {
  button.addEventListener("click", () => void busy(button, action, (err) => fb.error(describeError(err))));
}
