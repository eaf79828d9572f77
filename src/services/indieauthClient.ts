/**
 * Client information discovery (docs/api.md §14, IndieAuth LS §4.2): what the
 * consent page shows about a client (name, URL, logo) and the redirect URIs it
 * vouches for. Runs only for the logged-in owner (POST /api/indieauth/requests),
 * never for an anonymous GET of the authorization endpoint, so nobody can make the
 * instance fetch URLs of their choosing.
 *
 * The fetch is bounded the way federation fetches are (services/federationAuth.ts):
 *  - only a client_id that passes checkClientId (https, a public domain name, the
 *    default port, never this instance; http on loopback only in insecure mode);
 *  - redirects are followed by hand, at most 3, and only within the client_id's
 *    origin: a cross-origin hop could lead anywhere (an internal name, another
 *    scheme), and a document served elsewhere does not speak for the client;
 *  - 5 s for the whole discovery, headers and body; 64 KiB, counted while reading.
 *
 * Two document kinds: a JSON client metadata document (draft-parecki-oauth-client-
 * id-metadata-document; its `client_id` must equal the URL exactly), or an HTML page
 * with an `h-app` / `h-x-app` microformat and `rel="redirect_uri"` links (also as
 * `Link` headers), read with workerd's streaming HTMLRewriter, not regexes.
 *
 * Cache: in memory, per isolate, successes only, for at most 5 minutes (less when
 * the client's Cache-Control says so). A consent flow makes one discovery, and the
 * owner may reload the page or retry within minutes; that is what the cache is for.
 * KV was not chosen: it would add a write (and a cross-colo propagation of up to a
 * minute) per authorization for a one-owner server, and a stale entry would outlive
 * a client's fix of its own redirect URIs for longer than the owner would expect.
 */
import { readBoundedResponse } from "../lib/boundedBody";
import { parseJsonUtf8 } from "../lib/bytes";
import { parseUrl } from "../lib/url";
import { checkClientId, checkRedirectUriSyntax, isLoopbackHost, type ClientIdPolicy } from "../domain/indieauth/urls";

export const MAX_CLIENT_DOCUMENT_BYTES = 64 * 1024;
export const CLIENT_FETCH_TIMEOUT_MS = 5_000;
export const MAX_CLIENT_REDIRECTS = 3;
/** "Cached briefly" (§14): the longest any client document is reused. */
export const CLIENT_CACHE_MAX_TTL_MS = 5 * 60_000;
/** Bounds on what a client document may make us keep and show. */
export const MAX_CLIENT_NAME_CHARS = 100;
export const MAX_CLIENT_REDIRECT_URIS = 20;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface ClientInfo {
  /** The canonical client_id. */
  id: string;
  name?: string;
  /** The client's home page (`client_uri`, or the h-app's `url`). */
  url?: string;
  logo?: string;
  /** Redirect URIs the client lists, absolute and canonical. */
  redirectUris: string[];
  source: "metadata" | "h-app";
}

export type ClientFetchFailure =
  | "refused_url"
  | "timeout"
  | "network"
  | "status"
  | "too_large"
  | "cross_origin_redirect"
  | "too_many_redirects"
  | "unsupported_type"
  | "invalid_document"
  | "client_id_mismatch";

export type ClientDiscovery = { ok: true; client: ClientInfo; cached: boolean } | { ok: false; reason: ClientFetchFailure };

/**
 * The `client` of POST /api/indieauth/requests' answer: what discovery found, or
 * only the id when it found nothing (the page then shows the bare client_id, which
 * LS §10.1 asks it to show anyway).
 */
export function clientForConsent(clientId: string, discovery: ClientDiscovery): { id: string; name?: string; url?: string; logo?: string } {
  if (!discovery.ok) return { id: clientId };
  const { name, url, logo } = discovery.client;
  // An absent part is `undefined`, which JSON leaves out (the answer is c.json's).
  return { id: clientId, name, url, logo };
}

/** A small in-memory cache with a lifetime per entry, the oldest dropped first when full. */
export class ClientInfoCache {
  private readonly entries = new Map<string, { client: ClientInfo; expiresAtMs: number }>();

  constructor(private readonly maxEntries = 100) {}

  get(clientId: string, nowMs: number): ClientInfo | null {
    const hit = this.entries.get(clientId);
    if (!hit) return null;
    if (nowMs >= hit.expiresAtMs) {
      this.entries.delete(clientId);
      return null;
    }
    return hit.client;
  }

  set(client: ClientInfo, expiresAtMs: number): void {
    this.entries.delete(client.id);
    this.entries.set(client.id, { client, expiresAtMs });
    // Map iteration is insertion order: the first key is the oldest entry.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** The isolate's cache, used unless a caller (a test) brings its own. */
export const clientInfoCache = new ClientInfoCache();

/**
 * How long a response may be cached: no-store / no-cache / private / max-age=0 say
 * not at all; max-age=N at most N seconds; never longer than CLIENT_CACHE_MAX_TTL_MS.
 */
export function clientCacheTtlMs(cacheControl: string | null): number {
  if (!cacheControl) return CLIENT_CACHE_MAX_TTL_MS;
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim());
  if (directives.some((d) => d === "no-store" || d === "no-cache" || d === "private")) return 0;
  const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)?.[1]).find((v) => v !== undefined);
  return maxAge === undefined ? CLIENT_CACHE_MAX_TTL_MS : Math.min(Number(maxAge) * 1000, CLIENT_CACHE_MAX_TTL_MS);
}

export interface ClientDiscoveryOptions {
  policy: ClientIdPolicy;
  nowMs: number;
  cache?: ClientInfoCache;
  /** Tests shorten it; the protocol's bound is CLIENT_FETCH_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Fetches and reads the client's document. Never throws: any failure is a reason,
 * and the caller then accepts only a redirect_uri on the client_id's own origin
 * (`acceptRedirectUri(…, null)`).
 */
export async function discoverClient(clientId: string, options: ClientDiscoveryOptions): Promise<ClientDiscovery> {
  const checked = checkClientId(clientId, options.policy);
  // Only canonical client_ids: the cache key and the JSON client_id comparison use this string.
  if (!checked.ok || checked.value !== clientId) return { ok: false, reason: "refused_url" };
  const cache = options.cache ?? clientInfoCache;
  const hit = cache.get(clientId, options.nowMs);
  if (hit) return { ok: true, client: hit, cached: true };

  const result = await fetchClientDocument(clientId, options);
  if (!result.ok) {
    console.warn(JSON.stringify({ event: "indieauth_client_fetch_failed", clientId, reason: result.reason }));
    return result;
  }
  const ttlMs = clientCacheTtlMs(result.cacheControl);
  if (ttlMs > 0) cache.set(result.client, options.nowMs + ttlMs);
  return { ok: true, client: result.client, cached: false };
}

type Fetched = { ok: true; client: ClientInfo; cacheControl: string | null } | { ok: false; reason: ClientFetchFailure };

async function fetchClientDocument(clientId: string, options: ClientDiscoveryOptions): Promise<Fetched> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? CLIENT_FETCH_TIMEOUT_MS);
  const origin = new URL(clientId).origin;
  let target = clientId;
  try {
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, {
        headers: { accept: "application/json, text/html;q=0.9" },
        redirect: "manual",
        signal,
      });
      if (REDIRECT_STATUSES.has(res.status)) {
        await res.body?.cancel();
        const location = res.headers.get("location");
        const next = location ? parseUrl(location, target) : null;
        if (!next) return { ok: false, reason: "status" };
        if (next.origin !== origin || next.username !== "" || next.password !== "") return { ok: false, reason: "cross_origin_redirect" };
        if (hop + 1 > MAX_CLIENT_REDIRECTS) return { ok: false, reason: "too_many_redirects" };
        next.hash = "";
        target = next.href;
        continue;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return { ok: false, reason: "status" };
      }
      const bytes = await readBoundedResponse(res, MAX_CLIENT_DOCUMENT_BYTES, (body) => untilDeadline(body, signal));
      if (!bytes) return { ok: false, reason: "too_large" };
      const parsed = await readClientDocument(bytes, res.headers, { clientId, documentUrl: target, policy: options.policy });
      return parsed.ok ? { ok: true, client: parsed.client, cacheControl: res.headers.get("cache-control") } : parsed;
    }
  } catch (err) {
    if (signal.aborted) return { ok: false, reason: "timeout" };
    console.warn(JSON.stringify({ event: "indieauth_client_fetch_error", clientId, error: String(err) }));
    return { ok: false, reason: "network" };
  }
}

/**
 * `body`, erroring as soon as `signal` aborts: a body that trickles in must not hold
 * the request past the deadline (workerd does not abort a piped body for us). On
 * abort the source is cancelled, which ends the pending read; the wrapper then
 * errors instead of reporting a clean (truncated) end.
 */
function untilDeadline(body: ReadableStream<Uint8Array> | null, signal: AbortSignal): ReadableStream<Uint8Array> | null {
  if (!body) return null;
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal.reason).catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  const done = () => signal.removeEventListener("abort", onAbort);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read();
      if (signal.aborted) {
        done();
        controller.error(signal.reason);
      } else if (chunk.done) {
        done();
        controller.close();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason);
    },
  });
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

interface DocumentContext {
  clientId: string;
  /** Where the document was finally served (after same-origin redirects): relative URLs resolve here. */
  documentUrl: string;
  policy: ClientIdPolicy;
}

type ReadResult = { ok: true; client: ClientInfo } | { ok: false; reason: ClientFetchFailure };

/** Reads fetched bytes as a client metadata document (JSON) or an h-app page (HTML), by media type. */
export async function readClientDocument(bytes: Uint8Array<ArrayBuffer>, headers: Headers, context: DocumentContext): Promise<ReadResult> {
  const type = mediaType(headers);
  if (type === "application/json" || type.endsWith("+json")) {
    let doc: unknown;
    try {
      doc = parseJsonUtf8(bytes);
    } catch {
      return { ok: false, reason: "invalid_document" };
    }
    return clientFromMetadata(doc, context);
  }
  if (type === "text/html" || type === "application/xhtml+xml") {
    return { ok: true, client: await clientFromHtml(bytes, headers, context) };
  }
  return { ok: false, reason: "unsupported_type" };
}

/** Collapses whitespace and bounds a display name; empty is no name. */
function cleanName(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  // Control and bidirectional-override characters could make a name display as
  // something else on the consent page ("ppA dooG" reversed into "Good App").
  const name = raw
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, MAX_CLIENT_NAME_CHARS);
  return name === "" ? undefined : name;
}

/**
 * A URL the consent page may link to or load as an image: absolute, https (http
 * only in insecure mode, and then only on loopback), no credentials. Anything else
 * (`javascript:`, `data:`) is dropped, not refused: it is display information.
 */
function displayUrl(raw: unknown, base: string, policy: ClientIdPolicy): string | undefined {
  const url = typeof raw === "string" && raw !== "" ? parseUrl(raw, base) : null;
  if (!url) return undefined;
  if (url.username !== "" || url.password !== "") return undefined;
  if (url.protocol === "https:") return url.href;
  if (url.protocol === "http:" && policy.allowInsecure && isLoopbackHost(url.hostname)) return url.href;
  return undefined;
}

/** Listed redirect URIs, resolved (LS §4.2.2), canonical, deduplicated, bounded; malformed ones dropped. */
function redirectUris(raws: readonly unknown[], base: string): string[] {
  const out = new Set<string>();
  for (const raw of raws) {
    const checked = checkRedirectUriSyntax(typeof raw === "string" ? parseUrl(raw, base)?.href : null);
    if (checked.ok) out.add(checked.value);
    if (out.size >= MAX_CLIENT_REDIRECT_URIS) break;
  }
  return [...out];
}

function clientFromMetadata(doc: unknown, context: DocumentContext): ReadResult {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return { ok: false, reason: "invalid_document" };
  const d = doc as Record<string, unknown>;
  // Simple string comparison with the URL the document was fetched for (LS §4.2.1).
  if (d.client_id !== context.clientId) return { ok: false, reason: "client_id_mismatch" };
  // LS §4.2.1: client_uri MUST be a prefix of client_id. One that is not is dropped:
  // it would show the owner a home page the client_id does not vouch for. Compared
  // as parsed (a parsed URL's host ends at a "/"), so `https://app.example.com` is
  // not taken as a prefix of `https://app.example.com.evil.example/`.
  const clientUri = displayUrl(d.client_uri, context.clientId, context.policy);
  const url = clientUri && context.clientId.startsWith(clientUri) ? clientUri : undefined;
  return {
    ok: true,
    client: {
      id: context.clientId,
      name: cleanName(d.client_name),
      url,
      logo: displayUrl(d.logo_uri, context.clientId, context.policy),
      redirectUris: Array.isArray(d.redirect_uris) ? redirectUris(d.redirect_uris, context.clientId) : [],
      source: "metadata" as const,
    },
  };
}

/** RFC 8288 Link header values whose rel list includes `rel` (case-insensitive), as written. */
export function linkHeaderTargets(header: string | null, rel: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  // <uri-reference> then ;-separated parameters, up to the next link's `<`.
  for (const match of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,<]*)*)/g)) {
    const params = match[2] ?? "";
    for (const p of params.matchAll(/;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/gi)) {
      const rels = (p[1] ?? p[2] ?? "").toLowerCase().split(/\s+/);
      if (rels.includes(rel)) out.push(match[1]!);
    }
  }
  return out;
}

const hasRel = (el: Element, rel: string) => (el.getAttribute("rel") ?? "").toLowerCase().split(/\s+/).includes(rel);

/** mf2 u-* value of an element: the URL attribute its tag carries (microformats2 parsing, "parsing a u- property"). */
function urlAttribute(el: Element): string | null {
  switch (el.tagName) {
    case "a":
    case "area":
    case "link":
      return el.getAttribute("href");
    case "img":
    case "audio":
    case "video":
    case "source":
    case "iframe":
      return el.getAttribute("src");
    case "object":
      return el.getAttribute("data");
    default:
      return el.getAttribute("value");
  }
}

/**
 * Reads an HTML client page with HTMLRewriter: the first `h-app` (or legacy
 * `h-x-app`) gives name (`p-name`, else the app's own text), url (`u-url`, else an
 * `<a class="h-app" href>`) and logo (`u-logo`); `<link>`/`<a>` with
 * `rel="redirect_uri"`, and `Link` headers, give the redirect URIs. Relative URLs
 * resolve against `<base href>` if the page has one, else the document URL.
 * A simplification of microformats2 parsing: properties of an item nested inside
 * the h-app (an h-card's p-name) are not told apart from the app's own.
 */
async function clientFromHtml(bytes: Uint8Array<ArrayBuffer>, headers: Headers, context: DocumentContext): Promise<ClientInfo> {
  const state = {
    base: null as string | null,
    redirects: [] as string[],
    appStarted: false,
    inApp: false,
    appText: "",
    impliedUrl: null as string | null,
    name: null as string | null,
    nameStarted: false,
    inName: false,
    nameText: "",
    url: null as string | null,
    logo: null as string | null,
  };
  const TEXT_CAP = 4 * MAX_CLIENT_NAME_CHARS;

  const onApp = {
    element(el: Element) {
      if (state.appStarted) return;
      state.appStarted = true;
      if (el.tagName === "a" || el.tagName === "area") state.impliedUrl = el.getAttribute("href");
      if (el.tagName === "img" || el.tagName === "area") {
        state.name = el.getAttribute("alt");
        return;
      }
      state.inApp = true;
      try {
        el.onEndTag(() => {
          state.inApp = false;
          state.inName = false;
        });
      } catch {
        // A void element has no end tag, and nothing inside it.
        state.inApp = false;
      }
    },
  };
  const onName = {
    element(el: Element) {
      if (!state.inApp || state.nameStarted) return;
      // `class="h-app p-name"` on one element: its text is the app's text, read already;
      // a second end-tag handler on the same element is not something to rely on.
      if (/(^|\s)h-(x-)?app(\s|$)/.test(el.getAttribute("class") ?? "")) return;
      state.nameStarted = true;
      const attribute = el.tagName === "img" || el.tagName === "area" ? "alt" : el.tagName === "abbr" ? "title" : el.tagName === "data" || el.tagName === "input" ? "value" : null;
      if (attribute) {
        state.name = el.getAttribute(attribute);
        return;
      }
      state.inName = true;
      try {
        el.onEndTag(() => {
          state.inName = false;
          state.name = state.nameText;
        });
      } catch {
        state.inName = false;
      }
    },
  };

  const rewriter = new HTMLRewriter()
    .on("base[href]", {
      element(el) {
        state.base ??= el.getAttribute("href");
      },
    })
    .on("link[rel], a[rel]", {
      element(el) {
        const href = el.getAttribute("href");
        if (href !== null && hasRel(el, "redirect_uri")) state.redirects.push(href);
      },
    })
    .on(".h-app", onApp)
    .on(".h-x-app", onApp)
    .on(".p-name", onName)
    .on(".u-url", {
      element(el) {
        if (state.inApp && state.url === null) state.url = urlAttribute(el);
      },
    })
    .on(".u-logo", {
      element(el) {
        if (state.inApp && state.logo === null) state.logo = urlAttribute(el);
      },
    })
    .onDocument({
      text(chunk) {
        if (state.inName && state.nameText.length < TEXT_CAP) state.nameText += chunk.text;
        if (state.inApp && state.appText.length < TEXT_CAP) state.appText += chunk.text;
      },
    });

  // The bytes are already bounded; the rewriter only reads them (charset from Content-Type).
  await rewriter.transform(new Response(bytes, { headers: { "content-type": headers.get("content-type") ?? "text/html" } })).arrayBuffer();

  // An unparsable <base href> is ignored, as browsers do.
  const base = (state.base !== null && parseUrl(state.base, context.documentUrl)?.href) || context.documentUrl;
  // A p-name left open at the end of the page still names the app.
  const name = state.name ?? (state.nameStarted ? state.nameText : null) ?? (state.appStarted ? state.appText : null);
  const url = displayUrl(state.url ?? state.impliedUrl, base, context.policy);
  return {
    id: context.clientId,
    name: cleanName(name),
    // Only a prefix of the client_id, as a client_uri (LS §4.2.1): any other page is a
    // home page the client_id does not vouch for (another user's, on a shared origin).
    url: url && context.clientId.startsWith(url) ? url : undefined,
    logo: displayUrl(state.logo, base, context.policy),
    // Link headers resolve against the document's URL (RFC 8288 §3.2), <link>s against its base.
    redirectUris: redirectUris([...linkHeaderTargets(headers.get("link"), "redirect_uri").map((u) => parseUrl(u, context.documentUrl)?.href), ...state.redirects], base),
    source: "h-app" as const,
  };
}

