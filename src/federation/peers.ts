/**
 * Talking to other servers (docs/api.md §11), for both the inbox (services/) and the
 * outbox (durable/outbox.ts): which peer URLs may be fetched, fetching a peer's
 * document within bounds, and signing an outgoing POST with the instance's key.
 */
import { ACTIVITY_JSON, LD_JSON_AS } from "../domain/actor";
import { checkPeerUrl, isActivityPubContentType, type PeerUrlPolicy } from "../domain/peerFetch";
import { buildSigningString, encodeBase64, formatSignatureHeader, REQUIRED_SIGNED_COMPONENTS } from "../domain/httpSignatures";
import { readBoundedResponse } from "../lib/boundedBody";
import { parseJsonUtf8, sha256, utf8 } from "../lib/bytes";
import { RSA_SHA256 } from "../lib/federationKey";

/** Peers' documents are a few KiB; this bounds what we read and parse. */
const MAX_PEER_DOCUMENT_BYTES = 256 * 1024;
const PEER_FETCH_TIMEOUT_MS = 10_000;

/** `selfOrigin`: the instance's own origin, never fetched (src/domain/peerFetch.ts). */
export type FederationPolicy = PeerUrlPolicy;

/**
 * Is `url` a peer URL we may fetch (src/domain/peerFetch.ts): https on the default
 * port with a host name, not this instance; loopback http too when
 * ALLOW_INSECURE_FEDERATION=1.
 */
export function isAllowedPeerUrl(url: string, policy: FederationPolicy): URL | null {
  const verdict = checkPeerUrl(url, policy);
  return verdict.ok ? verdict.url : null;
}

/**
 * Fetches a peer's JSON document (an actor, a key, a WebFinger JRD): at most
 * MAX_PEER_DOCUMENT_BYTES read (counted while reading), no redirects followed (a
 * redirect could move us to a URL the policy refuses). Any failure is null.
 */
export async function fetchPeerDocument(url: string, policy: FederationPolicy): Promise<Record<string, unknown> | null> {
  return await fetchPeerJson(url, policy, () => true);
}

/**
 * Like fetchPeerDocument, for a document that speaks for actors (a key or an actor):
 * its server must serve it as ActivityPub (application/activity+json, or ld+json
 * with the ActivityStreams profile), not as a file someone uploaded.
 */
export async function fetchActivityDocument(url: string, policy: FederationPolicy): Promise<Record<string, unknown> | null> {
  return await fetchPeerJson(url, policy, isActivityPubContentType);
}

async function fetchPeerJson(
  url: string,
  policy: FederationPolicy,
  acceptContentType: (contentType: string | null) => boolean,
): Promise<Record<string, unknown> | null> {
  const target = isAllowedPeerUrl(url, policy);
  if (!target) return null;
  target.hash = "";
  try {
    const res = await fetch(target.toString(), {
      headers: { accept: `${ACTIVITY_JSON}, ${LD_JSON_AS}` },
      redirect: "manual",
      signal: AbortSignal.timeout(PEER_FETCH_TIMEOUT_MS),
    });
    if (res.status !== 200 || !acceptContentType(res.headers.get("content-type"))) {
      await res.body?.cancel();
      return null;
    }
    // The stream is cancelled as soon as the count passes the bound, so a peer
    // cannot make us buffer more.
    const bytes = await readBoundedResponse(res, MAX_PEER_DOCUMENT_BYTES);
    if (!bytes) return null;
    const doc = parseJsonUtf8(bytes);
    return typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null;
  } catch (err) {
    console.warn(JSON.stringify({ event: "peer_fetch_failed", url: target.toString(), error: String(err) }));
    return null;
  }
}

/**
 * Signs an outgoing POST with the instance's federation key (draft-cavage-12,
 * rsa-sha256 over `(request-target) host date digest`): the headers to send.
 */
export async function signFederationPost(input: {
  url: URL;
  body: Uint8Array<ArrayBuffer>;
  keyId: string;
  privateKey: CryptoKey;
  nowMs: number;
}): Promise<Record<string, string>> {
  const headers: Record<string, string> = {
    host: input.url.host,
    date: new Date(input.nowMs).toUTCString(),
    digest: `SHA-256=${encodeBase64(await sha256(input.body))}`,
  };
  const base = buildSigningString(REQUIRED_SIGNED_COMPONENTS, {
    method: "POST",
    target: input.url.pathname + input.url.search,
    header: (name) => headers[name] ?? null,
  });
  if (!base.ok) throw new Error("signing string: " + base.reason);
  const signature = new Uint8Array(await crypto.subtle.sign(RSA_SHA256, input.privateKey, utf8(base.value)));
  return { ...headers, signature: formatSignatureHeader({ keyId: input.keyId, headers: REQUIRED_SIGNED_COMPONENTS, signature }) };
}
