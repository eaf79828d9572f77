/**
 * URL rules of IndieAuth (docs/api.md §14; IndieAuth Living Standard 2024-07-11
 * §3.2 profile URL, §3.3 client identifier, §4.2.2 redirect URL), pure.
 *
 * The Living Standard lets a client_id be http, carry a port, or name 127.0.0.1 /
 * [::1]. §14 is stricter, because this server fetches the client_id from inside
 * Cloudflare on the owner's behalf (SSRF) and shows what it finds on a consent page:
 * https only, a domain name, the default port, never the instance itself. Under
 * ALLOW_INSECURE_FEDERATION (development and tests only) a loopback client may be
 * plain http on any port, so that a test client can run next to `npm run dev`.
 */

export interface ClientIdPolicy {
  /** ALLOW_INSECURE_FEDERATION: loopback clients may be http, on any port. */
  allowInsecure: boolean;
  /** The instance's own `host` (hostname, and port if any, of ORIGIN): never a client. */
  ownHost: string;
}

export type ClientIdRejection =
  | "missing"
  | "not_a_url"
  | "scheme"
  | "fragment"
  | "credentials"
  | "dot_segment"
  | "ip_literal"
  | "port"
  | "not_a_domain"
  | "loopback"
  | "own_host"
  | "too_long";

export type Checked<T, R extends string> = { ok: true; value: T } | { ok: false; reason: R };

import { isIpLiteral, parseUrl } from "../../lib/url";
import { MAX_URL_CHARS } from "../../schemas/indieauth";

/**
 * Characters the URL parser would silently drop or reinterpret (whitespace, control
 * characters, and `\`, which special URLs read as `/`): a client_id holding one is
 * refused instead of being "fixed", so the string shown on the consent page and the
 * URL compared later are the same thing.
 */
const UNSAFE_URL_CHARS = /[\u0000-\u0020\u007f\\]/;

/** The loopback hosts IndieAuth names (LS §3.3): `localhost` (RFC 6761 names included), 127.0.0.1, [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost") || hostname === "127.0.0.1" || hostname === "[::1]";
}

/**
 * The raw path of an absolute http(s) URL string, before the parser resolves `.`
 * and `..` away (it would turn `/a/../b` into `/b`, hiding the segment the
 * standard forbids).
 */
function rawPath(raw: string): string {
  const afterScheme = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, "");
  return afterScheme.split(/[?#]/, 1)[0] ?? "";
}

/** `.` and `..` as the URL standard recognises them, percent-encoded dots included. */
const DOT_SEGMENT = /^(\.|%2e){1,2}$/i;

function hasDotSegment(raw: string): boolean {
  return rawPath(raw).split("/").some((segment) => DOT_SEGMENT.test(segment));
}

/**
 * What a client_id and a redirect_uri are checked for once present: within
 * MAX_URL_CHARS, free of UNSAFE_URL_CHARS, and an absolute URL.
 */
function parseSentUrl(raw: string): Checked<URL, "too_long" | "not_a_url"> {
  if (raw.length > MAX_URL_CHARS) return { ok: false, reason: "too_long" };
  const url = UNSAFE_URL_CHARS.test(raw) ? null : parseUrl(raw);
  return url ? { ok: true, value: url } : { ok: false, reason: "not_a_url" };
}

/**
 * Checks a client_id (LS §3.3 and §14) and returns its canonical form: the URL
 * parser's `href`, so the host is lowercase and an empty path is `/` (LS §3.4).
 * Everything later (the fetch, the stored request, the code, the token endpoint's
 * comparison) uses this canonical string.
 */
export function checkClientId(raw: string | null | undefined, policy: ClientIdPolicy): Checked<string, ClientIdRejection> {
  if (!raw) return { ok: false, reason: "missing" };
  const parsed = parseSentUrl(raw);
  if (!parsed.ok) return parsed;
  const url = parsed.value;
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "scheme" };
  // `#` alone parses to an empty hash; the standard forbids the component, not just a value.
  if (raw.includes("#")) return { ok: false, reason: "fragment" };
  if (url.username !== "" || url.password !== "" || /^[a-z]+:\/\/[^/?#]*@/i.test(raw)) return { ok: false, reason: "credentials" };
  if (hasDotSegment(raw)) return { ok: false, reason: "dot_segment" };

  const loopback = isLoopbackHost(url.hostname);
  if (loopback) {
    // LS §3.3 allows loopback clients; §14 only lets them in for local development,
    // where the instance itself runs on loopback and can reach them.
    if (!policy.allowInsecure) return { ok: false, reason: "loopback" };
  } else {
    if (isIpLiteral(url.hostname)) return { ok: false, reason: "ip_literal" };
    if (url.protocol !== "https:") return { ok: false, reason: "scheme" };
    if (url.port !== "") return { ok: false, reason: "port" };
    // A single-label name ("intranet") or a trailing dot is no public web site; both
    // would only reach something internal, or dodge the own-host comparison below.
    if (!url.hostname.includes(".") || url.hostname.endsWith(".")) return { ok: false, reason: "not_a_domain" };
  }
  if (url.host === policy.ownHost.toLowerCase()) return { ok: false, reason: "own_host" };
  return { ok: true, value: url.href };
}

export type RedirectUriRejection = "missing" | "not_a_url" | "fragment" | "credentials" | "too_long" | "scheme";

/**
 * The redirect_uri's syntax, before anyone knows whether the client allows it:
 * an absolute URL without a fragment (RFC 6749 §3.1.2) or credentials. Custom
 * schemes (native apps) pass here and are accepted later only if the client lists
 * them. Returns the canonical `href`, the form later compared and redirected to.
 */
export function checkRedirectUriSyntax(raw: string | null | undefined): Checked<string, RedirectUriRejection> {
  if (!raw) return { ok: false, reason: "missing" };
  const parsed = parseSentUrl(raw);
  if (!parsed.ok) return parsed;
  const url = parsed.value;
  if (raw.includes("#")) return { ok: false, reason: "fragment" };
  if (url.username !== "" || url.password !== "") return { ok: false, reason: "credentials" };
  // Schemes that run code or carry content in the browser are never a place to send a code.
  if (["javascript:", "data:", "vbscript:", "blob:", "file:", "about:"].includes(url.protocol)) return { ok: false, reason: "scheme" };
  return { ok: true, value: url.href };
}

/** How a redirect_uri was accepted: on the client's own origin, or listed by the client. */
export type RedirectAcceptance = "same_origin" | "listed";

/**
 * LS §5.2 and §14: a redirect_uri with the client_id's scheme, host and port is
 * accepted; any other must be listed, exactly, by the client's document
 * (`redirect_uris`, or `rel="redirect_uri"` links, resolved already). `listed` is
 * null when the client's document could not be fetched: then only the same origin
 * is accepted. Both arguments are canonical hrefs (checkClientId,
 * checkRedirectUriSyntax).
 */
export function acceptRedirectUri(clientId: string, redirectUri: string, listed: readonly string[] | null): RedirectAcceptance | null {
  const client = new URL(clientId);
  const redirect = new URL(redirectUri);
  if (redirect.protocol === client.protocol && redirect.host === client.host) return "same_origin";
  if (!listed) return null;
  return listed.some((entry) => canonicalHref(entry) === redirectUri) ? "listed" : null;
}

/** A URL's canonical href, or the string itself when it does not parse. */
export function canonicalHref(raw: string): string {
  return parseUrl(raw)?.href ?? raw;
}

export type ProfileUnavailable = "not_a_url" | "scheme" | "port" | "ip_literal";

/**
 * The owner's profile URL `me` (and the issuer, the same string: §14) for ORIGIN,
 * or why IndieAuth is unavailable there. LS §3.2 forbids a port or an IP address
 * in a profile URL, and RFC 9207 / LS §3.1 want an https issuer; such an ORIGIN
 * answers 404 on every IndieAuth route, unless `allowInsecure` (development).
 */
export function profileUrlFor(origin: string, policy: { allowInsecure: boolean }): Checked<string, ProfileUnavailable> {
  const url = parseUrl(origin);
  if (!url) return { ok: false, reason: "not_a_url" };
  // `new URL(ORIGIN).href`: ORIGIN is an origin, so this is `https://host/`.
  const me = new URL(url.origin).href;
  if (policy.allowInsecure) return url.protocol === "https:" || url.protocol === "http:" ? { ok: true, value: me } : { ok: false, reason: "scheme" };
  if (url.protocol !== "https:") return { ok: false, reason: "scheme" };
  if (url.port !== "") return { ok: false, reason: "port" };
  if (isIpLiteral(url.hostname)) return { ok: false, reason: "ip_literal" };
  return { ok: true, value: me };
}
