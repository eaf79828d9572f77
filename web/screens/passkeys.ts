/**
 * The Passkeys section of the two-factor screen (docs/api.md §12): add one with a
 * name (PRF is confirmed by a test ceremony), list, rename, remove, and turn on
 * unlock per PRF passkey. A passkey without PRF is a second factor only.
 */
import { inspectEscrow } from "../../client/escrow/escrow";
import {
  disablePasskeyUnlock,
  enablePasskeyUnlock,
  listPasskeys,
  registerPasskey,
  removePasskey,
  renamePasskey,
  unlockPasskeyIds,
  type PasskeyListing,
} from "../../client/passkeys";
import type { AppContext } from "../context";
import { feedback, field, formatTime, h, replaceChildren } from "../ui/dom";
import { actionForm, onAction } from "../ui/form";
import { describeError } from "../ui/messages";
import { confirmItsYou } from "../ui/stepUp";

export const SYNCED_WARNING =
  "This passkey is synced (backed up to an account such as iCloud Keychain or Google Password Manager). With unlock on, it both unlocks your keys and is your second factor: whoever controls that account can get into this instance. Turn it on only if you trust that account as much as your password.";

export function passkeysSection(ctx: AppContext, onBackupCodes: (codes: string[]) => void): HTMLElement {
  const fb = feedback();
  const list = h("div", {});
  const prompt = h("div", {});

  async function load() {
    if (!ctx.client.credentials) {
      replaceChildren(list, h("p", {}, "This browser cannot use passkeys here."));
      return;
    }
    const [passkeys, escrow] = await Promise.all([listPasskeys(ctx.client), ctx.client.getEscrow()]);
    const unlocking = unlockPasskeyIds(inspectEscrow(escrow.blob).recipientKids);
    replaceChildren(
      list,
      passkeys.length === 0
        ? h("p", {}, "No passkeys yet.")
        : h("ul", { class: "passkeys" }, passkeys.map((p) => row(p, unlocking.has(p.id)))),
    );
  }

  function row(p: PasskeyListing, unlocks: boolean) {
    const label = p.prf ? (unlocks ? "unlocks your keys" : "second factor; can unlock your keys") : "second factor only";
    const rename = h("button", { type: "button", class: "link" }, "Rename");
    onAction(rename, fb, async () => {
      const name = prompt_("New name for this passkey", p.name);
      if (!name) return;
      await confirmItsYou(ctx, prompt, "Renaming a passkey needs a fresh confirmation.");
      await renamePasskey(ctx.client, p.id, name);
      await load();
    });
    const remove = h("button", { type: "button", class: "link danger" }, "Remove");
    onAction(remove, fb, async () => {
      // A passkey that unlocks leaves the key backup first (docs/threat-model.md, finding 21).
      if (unlocks) return showUnlockForm(p, unlocks, true);
      if (!confirm(`Remove the passkey "${p.name}"? It stops working as a second factor at once.`)) return;
      await confirmItsYou(ctx, prompt, "Removing a passkey needs a fresh confirmation.");
      await removePasskey(ctx.client, p.id);
      fb.status(`The passkey "${p.name}" was removed.`);
      await load();
    });
    const unlockToggle = p.prf ? h("button", { type: "button", class: "secondary" }, unlocks ? "Turn off unlock" : "Turn on unlock") : null;
    if (unlockToggle) onAction(unlockToggle, fb, async () => showUnlockForm(p, unlocks));
    return h(
      "li",
      { "data-passkey": p.id },
      h("strong", {}, p.name),
      " ",
      h("span", { class: "badge" }, label),
      p.backedUp ? h("span", { class: "badge" }, "synced") : null,
      h("br"),
      h("small", {}, `Added ${formatTime(p.createdAt)}${p.lastUsedAt ? `, last used ${formatTime(p.lastUsedAt)}` : ", never used"}.`),
      h("div", { class: "actions" }, unlockToggle, rename, remove),
    );
  }

  /** Turns unlock on or off for a passkey; with `removing`, turns it off and then removes the passkey. */
  function showUnlockForm(p: PasskeyListing, unlocks: boolean, removing = false) {
    const password = field("Your password", { type: "password", autocomplete: "current-password", required: true }, "It opens your key backup here, to re-seal it.");
    const { form } = actionForm(
      [
        h("h2", {}, removing ? `Remove "${p.name}"` : unlocks ? `Turn off unlock for "${p.name}"` : `Unlock with "${p.name}"`),
        removing
          ? h("p", {}, "This passkey can unlock your keys, so your key backup is saved again without it first. Then it is removed and stops working as a second factor.")
          : unlocks
            ? h("p", {}, "The passkey stays a second factor; it will no longer open your key backup.")
            : h("p", {}, "On a new device, this passkey alone (no password) will unlock your keys."),
        !unlocks && p.backedUp ? h("p", { class: "warning", role: "note" }, SYNCED_WARNING) : null,
        password.wrapper,
      ],
      {
        submit: removing ? "Remove" : unlocks ? "Turn off unlock" : "Turn on unlock",
        class: "card",
        async onSubmit(local) {
          if (!password.input.value) return local.error("Enter your password.");
          if (unlocks) {
            await confirmItsYou(ctx, prompt, "Changing your key backup needs a fresh confirmation.");
            await disablePasskeyUnlock(ctx.client, { id: p.id, password: password.input.value });
            if (removing) await removePasskey(ctx.client, p.id);
          } else {
            local.status("Touch the passkey when asked.");
            await enablePasskeyUnlock(ctx.client, { id: p.id, password: password.input.value, twoFactorOn: ctx.twoFactorOn });
          }
          replaceChildren(prompt);
          fb.status(
            removing ? `The passkey "${p.name}" was removed.` : unlocks ? `"${p.name}" no longer unlocks your keys.` : `"${p.name}" now unlocks your keys on a new device.`,
          );
          await load();
        },
      },
    );
    replaceChildren(prompt, form);
    password.input.focus();
  }

  const name = field("Name", { type: "text", maxlength: 100, placeholder: "Laptop, phone, security key…" });
  const { form: addForm } = actionForm([name.wrapper], {
    submit: "Add a passkey",
    feedback: fb,
    async onSubmit(local) {
      await confirmItsYou(ctx, prompt, "Adding a passkey needs a fresh confirmation.");
      local.status("Follow your browser's prompts (the second one checks whether the passkey can unlock your keys).");
      const added = await registerPasskey(ctx.client, { name: name.input.value.trim() || undefined });
      name.input.value = "";
      local.status(
        added.passkey.prf
          ? `Added "${added.passkey.name}". It can also unlock your keys: turn that on below if you want it.`
          : `Added "${added.passkey.name}" as a second factor only: it cannot unlock your keys.`,
      );
      if (added.backupCodes) {
        ctx.twoFactorOn = true;
        onBackupCodes(added.backupCodes);
      }
      // The list shows the new passkey whether or not this turned 2FA on.
      await load();
    },
  });

  load().catch((err) => fb.error(describeError(err)));
  return h("section", { class: "card", "aria-labelledby": "passkeys-h" }, h("h2", { id: "passkeys-h" }, "Passkeys"), h("p", {}, "A passkey can stand in for the code when you log in. One that supports PRF can also unlock your keys on a new device, without your password, if you turn that on."), ...fb.nodes, list, addForm, prompt);
}

/** window.prompt, trimmed; null when cancelled or empty. */
function prompt_(text: string, value: string): string | null {
  const answer = window.prompt(text, value);
  return answer && answer.trim() ? answer.trim().slice(0, 100) : null;
}
