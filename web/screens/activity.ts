/** The security log, newest first. */
import type { AppContext, Screen } from "../context";
import { feedback, formatTime, h, shortSessionId } from "../ui/dom";
import { onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import type { ActivityEntry } from "../../src/schemas/apiResponses";
import { GRANT_MAX_REFRESH_TOKENS, type GrantRevocationReason } from "../../src/schemas/grants";

const LABELS: Record<ActivityEntry["type"], string> = {
  claimed: "Instance claimed",
  login: "Logged in",
  login_failed: "Failed login",
  refresh_token_reuse: "Stolen session token detected: session revoked",
  session_revoked: "Session revoked",
  totp_enabled: "Two-factor authentication turned on",
  totp_disabled: "Two-factor authentication turned off",
  backup_codes_regenerated: "New backup codes made",
  backup_code_used: "Backup code used",
  escrow_updated: "Key backup updated",
  keys_rotated: "Keys rotated",
  locked_out: "Too many wrong codes: temporarily locked",
  logout: "Logged out",
  passkey_added: "Passkey added",
  passkey_removed: "Passkey removed",
  passkey_clone_suspected: "Passkey counter went backwards: it may have been copied",
  recovery_configured: "Recovery key set",
  recovery_removed: "Recovery key removed",
  recovery_requested: "Recovery started with your recovery key: cancel it if it was not you",
  recovery_cancelled: "Recovery cancelled",
  recovered: "Recovered with your recovery key",
  app_authorized: "Signed in to an app with your address",
  app_revoked: "An app's access ended",
};

/** Why an app's access ended (`app_revoked`'s `reason`, docs/api.md §14), in words. */
const APP_REVOKED_REASONS: Record<GrantRevocationReason, string> = {
  revoked_by_owner: "you revoked it",
  revoked_by_client: "the app gave it up",
  code_replayed: "its sign-in code was used twice",
  refresh_token_reuse: "a copy of its token was used: possibly stolen",
  refresh_limit: `it renewed its access ${GRANT_MAX_REFRESH_TOKENS.toLocaleString("en")} times`,
};

/** Which app an entry is about, and for an ended access why: ` · Quill (you revoked it)`. */
function appDetail(type: string, detail: Record<string, unknown> | undefined): string | null {
  if (!detail || (type !== "app_authorized" && type !== "app_revoked")) return null;
  const app = typeof detail.clientName === "string" ? detail.clientName : typeof detail.clientId === "string" ? detail.clientId : null;
  const why = type === "app_revoked" && typeof detail.reason === "string" ? APP_REVOKED_REASONS[detail.reason as GrantRevocationReason] ?? detail.reason : null;
  return app || why ? ` · ${[app, why && `(${why})`].filter(Boolean).join(" ")}` : null;
}

export function activityScreen(ctx: AppContext): Screen {
  const list = h("ol", { class: "activity" });
  const fb = feedback();
  const more = h("button", { type: "button", class: "secondary" }, "Show older entries");
  let before: number | undefined;

  async function load() {
    const entries = await ctx.client.listActivity({ before, limit: 50 });
    for (const e of entries) {
      list.append(
        h(
          "li",
          { "data-type": e.type },
          h("time", { datetime: new Date(e.at).toISOString() }, formatTime(e.at)),
          " ",
          LABELS[e.type] ?? e.type,
          appDetail(e.type, e.detail),
          e.sessionId ? h("span", { class: "muted" }, ` · session ${shortSessionId(e.sessionId)}`) : null,
        ),
      );
    }
    before = entries.at(-1)?.id;
    more.hidden = entries.length < 50;
  }
  onAction(more, fb, load);
  load().catch((err) => fb.error(describeError(err)));
  return { node: h("section", {}, h("h1", {}, "Activity"), ...fb.nodes, list, more) };
}
