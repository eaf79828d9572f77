/**
 * Messages, decrypted in the browser, arriving live over the WebSocket.
 *
 * Anyone may send messages, as many as the rate limit lets through, so the cost of
 * opening the inbox must not grow with how many are stored:
 *  - it shows the newest page (GET /api/messages?before=), older pages on demand;
 *  - the live channel starts after the newest id it has, so its catch-up fetches
 *    only what arrived since, not every message ever stored;
 *  - a message is decrypted when it scrolls into view, a few at a time, with keys
 *    read from the device once for the screen's life;
 *  - several messages, or all those shown, can be deleted at once.
 */
import { isIndieError } from "../../client/errors";
import { createLiveChannel, type LiveChannel, type LiveStatus } from "../../client/live";
import type { AppContext, Screen } from "../context";
import { formatTime, h } from "../ui/dom";
import { describeError } from "../ui/messages";
import { displaySender } from "../ui/text";
import type { Message } from "../../src/schemas/messageResponses";

const STATUS_TEXT: Record<LiveStatus, string> = {
  connecting: "Connecting…",
  live: "Live: new messages appear here as they arrive.",
  offline: "Offline: reconnecting…",
  stopped: "Not connected.",
};

/** Messages per page. */
export const INBOX_PAGE_SIZE = 20;
/** Decryptions at once: enough to keep up with scrolling, never a flood. */
const DECRYPT_CONCURRENCY = 3;
/** Deletions in flight at once. */
const DELETE_CONCURRENCY = 4;

/** Runs tasks at most `max` at a time, in the order they were queued. */
function limiter(max: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}

interface Item {
  message: Message;
  node: HTMLLIElement;
  body: HTMLElement;
  select: HTMLInputElement;
}

export function inboxScreen(ctx: AppContext): Screen {
  const list = h("ol", { class: "messages", "aria-label": "Messages, newest first" });
  const empty = h("p", { class: "empty", hidden: true }, "No messages yet. Share your contact page: ", h("a", { href: "/contact" }, "/contact"));
  const status = h("p", { class: "live-status", role: "status" }, STATUS_TEXT.connecting);
  const progress = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const errors = h("p", { class: "error", role: "alert" });
  const older = h("button", { type: "button", class: "secondary", hidden: true }, "Load older messages");
  const deleteSelected = h("button", { type: "button", class: "secondary small", disabled: true }, "Delete selected");
  const deleteShown = h("button", { type: "button", class: "danger small", disabled: true }, "Delete all shown");
  const toolbar = h("div", { class: "toolbar", role: "group", "aria-label": "Delete several messages" }, deleteSelected, " ", deleteShown);

  const items = new Map<number, Item>();
  let disposed = false;
  let olderBefore: number | null = null;
  let channel: LiveChannel | null = null;
  const decrypting = limiter(DECRYPT_CONCURRENCY);
  const deleting = limiter(DELETE_CONCURRENCY);
  // The device's keys, read once (IndexedDB) and kept while the screen is shown.
  let opener: ReturnType<typeof ctx.client.messageOpener> | null = null;
  const openMessage = (message: Message) => (opener ??= ctx.client.messageOpener())
    .then((open) => open(message));

  async function decrypt(item: Item) {
    if (item.node.dataset.state !== "sealed") return;
    item.node.dataset.state = "opening";
    try {
      const text = await decrypting(() => openMessage(item.message));
      item.body.textContent = text;
      item.node.dataset.state = "open";
    } catch (err) {
      item.body.textContent = `This message could not be opened: ${describeError(err)}`;
      item.body.classList.add("error");
      item.node.dataset.state = "failed";
    }
  }

  // Decrypt what is (about to be) on screen; the rest waits until scrolled to.
  const observer =
    typeof IntersectionObserver === "function"
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting) continue;
              observer?.unobserve(entry.target);
              const item = items.get(Number((entry.target as HTMLElement).dataset.id));
              if (item) void decrypt(item);
            }
          },
          { rootMargin: "200px 0px" },
        )
      : null;

  function updateControls() {
    const selected = [...items.values()].filter((i) => i.select.checked).length;
    deleteSelected.disabled = selected === 0;
    deleteSelected.textContent = selected ? `Delete selected (${selected})` : "Delete selected";
    deleteShown.disabled = items.size === 0;
    resetConfirm();
    empty.hidden = items.size > 0 || olderBefore !== null;
    toolbar.hidden = items.size === 0;
  }

  function itemFor(message: Message): Item {
    const name = message.from === null ? "" : displaySender(message.from);
    const who = name || (message.from === null ? "Anonymous" : "(no name)");
    const when = formatTime(message.receivedAt);
    const body = h("p", { class: "body" }, "Decrypting…");
    // The verdict is the app's, so it comes first and apart; the sender's own text
    // follows, isolated (bdi) and stripped of control and bidi characters.
    const badge = message.verified
      ? h("span", { class: "badge verified", title: "The sending server signed this delivery" }, "Verified sender")
      : h("span", { class: "badge unverified", title: "Anyone can type any name here" }, "Unverified");
    const select = h("input", { type: "checkbox", "aria-label": `Select the message from ${who}, ${when}` });
    const del = h("button", { type: "button", class: "secondary small", "aria-label": `Delete the message from ${who}, ${when}` }, "Delete");
    const node = h(
      "li",
      { class: "message", "data-id": message.id, "data-state": "sealed" },
      h(
        "p",
        { class: "meta" },
        select,
        " ",
        badge,
        " ",
        h("bdi", { class: "from" }, who),
        " · ",
        h("time", { datetime: new Date(message.receivedAt).toISOString() }, when),
      ),
      body,
      del,
    );
    const item: Item = { message, node, body, select };
    select.addEventListener("change", updateControls);
    del.addEventListener("click", () => {
      del.disabled = true;
      void removeMessages([item]).finally(() => {
        del.disabled = false;
      });
    });
    return item;
  }

  function add(messages: Message[], where: "newer" | "older") {
    const fresh = messages.filter((m) => !items.has(m.id)).map(itemFor);
    for (const item of fresh) items.set(item.message.id, item);
    const nodes = fresh.map((i) => i.node);
    if (where === "newer") list.prepend(...nodes.reverse());
    else list.append(...nodes);
    for (const item of fresh) {
      if (observer) observer.observe(item.node);
      else void decrypt(item);
    }
    updateControls();
  }

  /** Deletes on the server, a few at a time; a message already gone counts as deleted. */
  async function removeMessages(targets: Item[]) {
    errors.textContent = "";
    let failed = 0;
    let lastError: unknown;
    if (targets.length > 1) progress.textContent = `Deleting ${targets.length} messages…`;
    await Promise.all(
      targets.map((item) =>
        deleting(async () => {
          try {
            await ctx.client.deleteMessage(item.message.id);
          } catch (err) {
            if (!isIndieError(err, "not_found")) {
              failed++;
              lastError = err;
              return;
            }
          }
          observer?.unobserve(item.node);
          item.node.remove();
          items.delete(item.message.id);
        }),
      ),
    );
    if (disposed) return;
    progress.textContent = targets.length > 1 ? `Deleted ${targets.length - failed} of ${targets.length} messages.` : "";
    if (failed) errors.textContent = `${failed === 1 ? "A message" : `${failed} messages`} could not be deleted: ${describeError(lastError)}`;
    updateControls();
  }

  deleteSelected.addEventListener("click", () => {
    const selected = [...items.values()].filter((i) => i.select.checked);
    if (!selected.length) return;
    deleteSelected.disabled = true;
    void removeMessages(selected);
  });

  // Deleting everything shown takes a second click, on a button that says how many.
  let confirming = false;
  function resetConfirm() {
    confirming = false;
    deleteShown.textContent = "Delete all shown";
  }
  deleteShown.addEventListener("click", () => {
    if (!items.size) return;
    if (!confirming) {
      confirming = true;
      deleteShown.textContent = `Really delete all ${items.size} shown?`;
      return;
    }
    deleteShown.disabled = true;
    void removeMessages([...items.values()]);
  });

  async function loadOlder() {
    if (olderBefore === null) return;
    older.disabled = true;
    older.setAttribute("aria-busy", "true");
    errors.textContent = "";
    try {
      const page = await ctx.client.listMessagesBefore(olderBefore, INBOX_PAGE_SIZE);
      if (disposed) return;
      olderBefore = page.next;
      add(page.messages, "older");
    } catch (err) {
      errors.textContent = describeError(err);
    } finally {
      older.disabled = false;
      older.removeAttribute("aria-busy");
      older.hidden = olderBefore === null;
      updateControls();
    }
  }
  older.addEventListener("click", () => void loadOlder());

  /** The newest page first; then the live channel, from the newest id seen. */
  async function start() {
    const retry = h("button", { type: "button", class: "secondary small" }, "Try again");
    try {
      const page = await ctx.client.listMessagesBefore(undefined, INBOX_PAGE_SIZE);
      if (disposed) return;
      olderBefore = page.next;
      older.hidden = olderBefore === null;
      add(page.messages, "older");
      channel = createLiveChannel({
        session: ctx.client.session,
        afterId: page.messages[0]?.id ?? 0,
        onMessage: (m) => add([m], "newer"),
        onRecoveryRequested: (readyAt) => ctx.recoveryRequested(readyAt),
        onStatus: (s) => {
          status.textContent = STATUS_TEXT[s];
          status.dataset.state = s;
        },
      });
      channel.start();
    } catch (err) {
      if (disposed) return;
      status.textContent = STATUS_TEXT.stopped;
      errors.replaceChildren(`The messages could not be loaded: ${describeError(err)} `, retry);
      retry.addEventListener("click", () => {
        errors.textContent = "";
        status.textContent = STATUS_TEXT.connecting;
        void start();
      });
    }
  }
  toolbar.hidden = true;
  void start();

  return {
    node: h("section", {}, h("h1", {}, "Inbox"), status, errors, progress, toolbar, empty, list, older),
    dispose: () => {
      disposed = true;
      channel?.stop();
      observer?.disconnect();
    },
  };
}
