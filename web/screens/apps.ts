/**
 * Connected apps (docs/api.md §14): the sites the owner signed in to with this
 * instance (IndieAuth grants), each revocable at once; and the profile that the
 * `profile` scope shares (name and photo; changing it needs step-up).
 */
import { getProfile, listGrants, revokeGrant, updateProfile, type IndieAuthGrant } from "../../client/indieauth";
import type { AppContext, Screen } from "../context";
import { feedback, field, formatTime, h, replaceChildren } from "../ui/dom";
import { actionForm, onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import { confirmItsYou } from "../ui/stepUp";
import { displaySender } from "../ui/text";
import { profileUrl } from "./consent";

/** The profile name's limit (src/schemas/indieauth.ts INDIEAUTH_LIMITS.profileNameChars). */
const NAME_MAX = 100;

function appName(g: IndieAuthGrant): string {
  return displaySender(g.clientName ?? null, 100) || new URL(g.clientId).host;
}

export function appsScreen(ctx: AppContext): Screen {
  const fb = feedback();
  const list = h("div", {});

  async function load() {
    const grants = await listGrants(ctx.client);
    if (grants.length === 0) {
      replaceChildren(list, h("p", {}, `No apps yet. When you sign in to a website with your address, ${profileUrl()}, and approve it, it is listed here.`));
      return;
    }
    replaceChildren(
      list,
      h(
        "table",
        {},
        h("caption", {}, `${grants.length} connected app${grants.length === 1 ? "" : "s"}`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "App"),
            h("th", { scope: "col" }, "Allowed"),
            h("th", { scope: "col" }, "Connected"),
            h("th", { scope: "col" }, "Last renewed"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h(
          "tbody",
          {},
          grants.map((g) => {
            const name = appName(g);
            const revoke = h("button", { type: "button", class: "secondary small", "aria-label": `Revoke ${name}` }, "Revoke");
            onAction(revoke, fb, async () => {
              if (!confirm(`Revoke ${name}? Its access ends at once; to use it again you sign in to it again.`)) return;
              await revokeGrant(ctx.client, g.id);
              fb.status(`${name} was disconnected.`);
              await load();
            });
            return h(
              "tr",
              { "data-grant": g.id },
              h("td", {}, h("bdi", {}, name), h("br"), h("small", { class: "muted" }, g.clientId)),
              h("td", {}, g.scope ? g.scope.split(" ").map((s, i) => [i ? " " : null, h("code", {}, s)]) : h("span", { class: "muted" }, "sign-in only")),
              h("td", {}, formatTime(g.createdAt)),
              h("td", {}, formatTime(g.lastUsedAt)),
              h("td", {}, revoke),
            );
          }),
        ),
      ),
    );
  }

  load().catch((err) => fb.error(describeError(err)));
  return {
    node: h(
      "section",
      {},
      h("h1", {}, "Connected apps"),
      h("p", {}, "Websites you signed in to with your address. Revoking one ends its access at once."),
      ...fb.nodes,
      list,
      profileSection(ctx),
    ),
  };
}

function profileSection(ctx: AppContext): HTMLElement {
  const fb = feedback();
  const prompt = h("div", {});
  const name = field("Name", { type: "text", maxlength: NAME_MAX, autocomplete: "name", required: true }, "How apps that see your profile show you.");
  const photo = field("Photo URL (optional)", { type: "url", inputmode: "url", autocomplete: "photo", placeholder: "https://…" }, "An https address of a picture of you. Apps load it from there.");
  const { form } = actionForm([name.wrapper, photo.wrapper], {
    submit: "Save profile",
    feedback: fb,
    async onSubmit(local) {
      const newName = name.input.value.trim();
      const newPhoto = photo.input.value.trim();
      if (!newName) {
        name.input.focus();
        return local.error("Enter a name.");
      }
      if (newPhoto && !isHttpsUrl(newPhoto)) {
        photo.input.focus();
        return local.error("The photo must be an https:// address (or leave it empty).");
      }
      await confirmItsYou(ctx, prompt, "Changing your profile needs a fresh confirmation.");
      const saved = await updateProfile(ctx.client, { name: newName, photo: newPhoto || undefined });
      show(saved);
      local.status("Saved. Apps get the new profile the next time they ask for it.");
    },
  });

  function show(profile: { name: string; photo?: string }) {
    name.input.value = profile.name;
    photo.input.value = profile.photo ?? "";
  }

  // Read-only until the stored profile is in, so it never overwrites what was typed.
  name.input.disabled = photo.input.disabled = true;
  getProfile(ctx.client)
    .then(show)
    .catch((err) => fb.error(describeError(err)))
    .finally(() => (name.input.disabled = photo.input.disabled = false));

  return h(
    "section",
    { class: "card", "aria-labelledby": "profile-h" },
    h("h2", { id: "profile-h" }, "Your profile"),
    h("p", {}, `What an app sees when you let it see your profile: this name and photo, and your address ${profileUrl()}.`),
    form,
    ...fb.nodes,
    prompt,
  );
}

function isHttpsUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "https:" && !u.username && !u.password;
  } catch {
    return false;
  }
}
