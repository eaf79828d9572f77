/** Where the owner is logged in; revoke one session or all the others. */
import type { AppContext, Screen } from "../context";
import { feedback, formatTime, h, shortSessionId } from "../ui/dom";
import { onAction } from "../ui/form";
import { describeError } from "../ui/messages";

export function sessionsScreen(ctx: AppContext): Screen {
  const table = h("table", {});
  const fb = feedback();
  const revokeOthers = h("button", { type: "button", class: "secondary" }, "Log out all other sessions");

  async function load() {
    const sessions = await ctx.client.listSessions();
    table.replaceChildren(
      h("caption", {}, `${sessions.length} active session${sessions.length === 1 ? "" : "s"}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Device"), h("th", { scope: "col" }, "Started"), h("th", { scope: "col" }, "Last used"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      h(
        "tbody",
        {},
        sessions.map((s) => {
          const name = s.deviceName ?? "Unnamed device";
          const revoke = h("button", { type: "button", class: "secondary small", "aria-label": `Log out ${name}${s.current ? " (this session)" : ""}` }, s.current ? "Log out" : "Revoke");
          onAction(revoke, fb, async () => {
            if (s.current) {
              await ctx.client.logout();
              return ctx.restart("You logged out.");
            }
            await ctx.client.revokeSession(s.id);
            fb.status(`${name} was logged out.`);
            await load();
          });
          return h(
            "tr",
            { "data-current": s.current ? "true" : "false" },
            // The short id is how the activity log names a session (web/screens/activity.ts).
            h("td", {}, name, s.current ? h("span", { class: "badge" }, " this session") : null, h("div", { class: "muted" }, `session ${shortSessionId(s.id)}`)),
            h("td", {}, formatTime(s.createdAt)),
            h("td", {}, formatTime(s.lastUsedAt)),
            h("td", {}, revoke),
          );
        }),
      ),
    );
  }

  onAction(revokeOthers, fb, async () => {
    if (!confirm("Log out every other session? Each of those devices will need to log in again.")) return;
    await ctx.client.revokeOtherSessions();
    fb.status("Every other session was logged out.");
    await load();
  });
  load().catch((err) => fb.error(describeError(err)));

  return { node: h("section", {}, h("h1", {}, "Sessions"), ...fb.nodes, table, revokeOthers) };
}
