/** The public contact page: a visitor seals a message to the owner, in the browser. */
import "./zodConfig";
import { sendMessage } from "../client/messages";
import { field, h, textarea } from "./ui/dom";
import { actionForm } from "./ui/form";

const root = document.getElementById("app")!;
const from = field("Your name or address (optional)", { type: "text", autocomplete: "name", maxlength: 200 }, "Shown to the owner as you typed it; it is not verified.");
const message = textarea("Message", { rows: 8, required: true, maxlength: 20000 });
const { form } = actionForm([from.wrapper, message.wrapper], {
  submit: "Send sealed message",
  async onSubmit(fb) {
    const text = message.input.value.trim();
    if (!text) return fb.error("Write a message first.");
    fb.status("Encrypting…");
    await sendMessage(location.origin, text, { from: from.input.value });
    form.reset();
    fb.status("Sent. It was encrypted before it left your browser: only the owner can read it.");
  },
});

root.replaceChildren(
  h(
    "section",
    { class: "card" },
    h("h1", {}, `Write to the owner of ${location.host}`),
    h("p", {}, "Your message is encrypted in this browser with the owner's public key before it is sent. The server stores only ciphertext it cannot read."),
    form,
  ),
);
