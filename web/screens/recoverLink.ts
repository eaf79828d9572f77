/** "Forgot your password or lost your devices?": loads the recovery flow (and the shares code) only when asked. */
import type { AppContext } from "../context";
import { h } from "../ui/dom";

export function forgotLink(ctx: AppContext): HTMLElement {
  const link = h("button", { type: "button", class: "link" }, "Forgot your password or lost your devices?");
  link.addEventListener("click", () => {
    link.disabled = true;
    import("./recovery")
      .then(({ recoverScreen }) => ctx.show(recoverScreen(ctx)))
      .catch((err: unknown) => {
        console.error(err);
        link.disabled = false;
      });
  });
  return h("p", {}, link);
}
