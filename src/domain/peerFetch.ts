/**
 * Which federation peer URLs the server may fetch, and what a fetched key document
 * must look like before it may vouch for an actor (docs/api.md §11), pure.
 *
 * A keyId comes from a request nobody has verified yet (verifying needs the key), so
 * anyone can make the server fetch it. It must therefore name a public ActivityPub
 * server: https on the default port, a host name, not this instance. IP literals and
 * odd ports are how a request is aimed at a cloud metadata service, a router, or an
 * internal port; the own origin is how the server is made to call itself. Under
 * ALLOW_INSECURE_FEDERATION (local development and tests) loopback peers may also be
 * plain http on any port, as two `npm run dev` instances are; nothing else changes.
 */
import { isIpLiteral, parseUrl } from "../lib/url";

/** Longer URLs are refused unparsed: a 2,048-character actor URL plus its key fragment fits. */
export const MAX_PEER_URL_CHARS = 4096;

export interface PeerUrlPolicy {
  allowInsecure: boolean;
  /** The instance's own origin: never fetched as a peer. */
  selfOrigin?: string | null;
}

export type PeerUrlRefusal = "malformed" | "too_long" | "scheme" | "credentials" | "ip_literal" | "port" | "own_origin";

export type PeerUrlVerdict = { ok: true; url: URL } | { ok: false; reason: PeerUrlRefusal };

/** localhost, *.localhost (RFC 6761), 127.0.0.0/8 and [::1]. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || (isIpLiteral(host) && host.startsWith("127."));
}

/**
 * Whether `raw` may be fetched as a peer. The WHATWG parser has already turned every
 * spelling of an IPv4 address (`2130706433`, `0x7f.1`, `127.1`) into dotted form, and
 * an IPv6 one into `[…]`, so checking the parsed hostname catches them all; the
 * default port is parsed to "".
 */
export function checkPeerUrl(raw: string, policy: PeerUrlPolicy): PeerUrlVerdict {
  if (raw.length > MAX_PEER_URL_CHARS) return { ok: false, reason: "too_long" };
  const url = parseUrl(raw);
  if (!url) return { ok: false, reason: "malformed" };
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "scheme" };
  if (url.username !== "" || url.password !== "") return { ok: false, reason: "credentials" };
  if (policy.selfOrigin && url.origin === new URL(policy.selfOrigin).origin) return { ok: false, reason: "own_origin" };
  if (policy.allowInsecure && isLoopbackHost(url.hostname)) return { ok: true, url };
  if (url.protocol !== "https:") return { ok: false, reason: "scheme" };
  if (isIpLiteral(url.hostname)) return { ok: false, reason: "ip_literal" };
  if (url.port !== "") return { ok: false, reason: "port" };
  return { ok: true, url };
}

/** The URL a keyId's document is fetched from: the keyId without its fragment. */
export function keyDocumentUrl(keyId: string): string {
  const url = new URL(keyId);
  url.hash = "";
  return url.href;
}

/**
 * Is this document the one at `fetchedUrl`: its `id` is that URL, or a fragment of
 * it (a document speaks for the fragments of its own URL, which is how a Mastodon
 * actor at /users/x serves its key /users/x#main-key). A document at one URL that
 * claims another id is a document someone uploaded (an attachment, a profile field,
 * a user's file on a shared host): it may not vouch for anything.
 */
export function isDocumentAt(id: unknown, fetchedUrl: string): boolean {
  if (typeof id !== "string") return false;
  try {
    return keyDocumentUrl(id) === keyDocumentUrl(fetchedUrl);
  } catch {
    return false;
  }
}

/** Same resource, spelled perhaps differently (host case, default port). */
export function sameUrl(a: string, b: string): boolean {
  const href = parseUrl(a)?.href;
  return href !== undefined && href === parseUrl(b)?.href;
}

/**
 * ActivityPub's media types (ActivityPub §3.2): `application/activity+json`, or
 * `application/ld+json` with the ActivityStreams profile. A key served as text/html,
 * application/json or an image is not a document its server meant as an actor.
 */
export function isActivityPubContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  const [type, ...params] = contentType.split(";").map((p) => p.trim());
  const media = type!.toLowerCase();
  if (media === "application/activity+json") return true;
  if (media !== "application/ld+json") return false;
  return params.some((p) => {
    const eq = p.indexOf("=");
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== "profile") return false;
    const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    return value.split(/\s+/).includes("https://www.w3.org/ns/activitystreams");
  });
}

/**
 * A key's PEM longer than this is no key this server takes (an RSA key of 16,384 bits,
 * far past any in use, is about 2,900 characters). Anyone can make the server fetch a
 * key document, and a fetched key is cached before its signature is checked, so this
 * also bounds what one request can make the server store.
 */
export const MAX_PEER_KEY_PEM_CHARS = 8192;

/** After a keyId could not be fetched, it is not fetched again for this long (the KV minimum TTL). */
export const PEER_KEY_MISS_TTL_S = 60;
/**
 * A cached key that fails to verify is fetched again (the peer may have rotated it),
 * but at most once per this long per keyId: a stream of bad signatures naming a real
 * peer's key must not turn into a stream of fetches to that peer.
 */
export const PEER_KEY_REFETCH_COOLDOWN_MS = 60_000;

/** May a cached key fetched at `fetchedAtMs` (unknown for entries older than this rule) be fetched again. */
export function mayRefetchPeerKey(fetchedAtMs: number | undefined, nowMs: number): boolean {
  return fetchedAtMs === undefined || nowMs - fetchedAtMs >= PEER_KEY_REFETCH_COOLDOWN_MS;
}
