/**
 * A few DOM helpers instead of a framework (the app has a 100 KiB JavaScript budget).
 * Text always goes in as text nodes: nothing from the server or from a message is
 * ever parsed as HTML.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (event: Event) => void;
export type Props = Record<string, string | number | boolean | Handler | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value as Handler);
    } else if (name === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

let idCounter = 0;
export const uid = (prefix: string) => `${prefix}-${++idCounter}`;

export interface Field {
  wrapper: HTMLElement;
  input: HTMLInputElement;
  hint: HTMLElement;
}

/** A labelled input with a hint line that screen readers read with it. */
export function field(label: string, attrs: Props = {}, hintText = ""): Field {
  const id = uid("f");
  const hintId = `${id}-hint`;
  const input = h("input", { id, "aria-describedby": hintId, ...attrs });
  const hint = h("p", { class: "hint", id: hintId }, hintText);
  const wrapper = h("div", { class: "field" }, h("label", { for: id }, label), input, hint);
  return { wrapper, input, hint };
}

export function textarea(label: string, attrs: Props = {}): { wrapper: HTMLElement; input: HTMLTextAreaElement } {
  const id = uid("f");
  const input = h("textarea", { id, ...attrs });
  return { wrapper: h("div", { class: "field" }, h("label", { for: id }, label), input), input };
}

/** A status line (polite) and an alert line (assertive) for a form. */
export function feedback() {
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const alert = h("p", { class: "error", role: "alert" });
  return {
    nodes: [status, alert],
    status(text: string) {
      status.textContent = text;
      if (text) alert.textContent = "";
    },
    error(text: string) {
      alert.textContent = text;
      if (text) status.textContent = "";
    },
    clear() {
      status.textContent = "";
      alert.textContent = "";
    },
  };
}

/** A session as the Sessions and Activity screens name it: the first 8 characters of its id. */
export function shortSessionId(id: string): string {
  return id.slice(0, 8);
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Moves focus to a screen's heading, so keyboard and screen-reader users land on it. */
export function focusHeading(root: ParentNode): void {
  const heading = root.querySelector<HTMLElement>("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}
