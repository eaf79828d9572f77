/** "Forgot your password or lost your devices?": opens the recovery flow in place of the login screen. */
import type { AppContext } from "../context";
import { h } from "../ui/dom";
import { recoverScreen } from "./recover";

export function forgotLink(ctx: AppContext): HTMLElement {
  const link = h("button", { type: "button", class: "link" }, "Forgot your password or lost your devices?");
  link.addEventListener("click", () => ctx.show(recoverScreen(ctx)));
  return h("p", {}, link);
}
