/** Messages, decrypted in the browser, arriving live over the WebSocket. */
import { createLiveChannel, type LiveStatus } from "../../client/live";
import type { Message } from "../../src/schemas/messages";
import type { AppContext, Screen } from "../context";
import { formatTime, h } from "../ui/dom";
import { describeError } from "../ui/messages";

const STATUS_TEXT: Record<LiveStatus, string> = {
  connecting: "Connecting…",
  live: "Live: new messages appear here as they arrive.",
  offline: "Offline: reconnecting…",
  stopped: "Not connected.",
};

export function inboxScreen(ctx: AppContext): Screen {
  const list = h("ol", { class: "messages", reversed: true, "aria-label": "Messages, newest first" });
  const empty = h("p", { class: "empty" }, "No messages yet. Share your contact page: ", h("a", { href: "/contact" }, "/contact"));
  const status = h("p", { class: "live-status", role: "status" }, STATUS_TEXT.connecting);
  const errors = h("p", { class: "error", role: "alert" });

  const render = async (message: Message) => {
    const text = h("p", { class: "body" }, "Decrypting…");
    const from = message.from ?? "Anonymous";
    const del = h("button", { type: "button", class: "secondary small", "aria-label": `Delete the message from ${from}, ${formatTime(message.receivedAt)}` }, "Delete");
    const item = h(
      "li",
      { class: "message", "data-id": message.id },
      h(
        "p",
        { class: "meta" },
        h("strong", {}, from),
        message.verified ? " (verified sender)" : " (sender not verified)",
        " · ",
        h("time", { datetime: new Date(message.receivedAt).toISOString() }, formatTime(message.receivedAt)),
      ),
      text,
      del,
    );
    del.addEventListener("click", () => {
      del.disabled = true;
      ctx.client
        .deleteMessage(message.id)
        .then(() => {
          item.remove();
          empty.hidden = list.children.length > 0;
        })
        .catch((err) => {
          del.disabled = false;
          errors.textContent = describeError(err);
        });
    });
    list.prepend(item);
    empty.hidden = true;
    try {
      text.textContent = await ctx.client.open(message);
    } catch (err) {
      text.textContent = `This message could not be opened: ${describeError(err)}`;
      text.classList.add("error");
    }
  };

  const channel = createLiveChannel({
    session: ctx.client.session,
    onMessage: (m) => void render(m),
    onStatus: (s) => {
      status.textContent = STATUS_TEXT[s];
      status.dataset.state = s;
    },
  });
  channel.start();

  return {
    node: h("section", {}, h("h1", {}, "Inbox"), status, errors, empty, list),
    dispose: () => channel.stop(),
  };
}
