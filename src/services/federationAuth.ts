/**
 * Authenticating a federation request (docs/api.md §11): the draft-cavage HTTP
 * signature is parsed and checked in domain/httpSignatures.ts; here the body's
 * digest is computed, the sender's key is fetched from its keyId (cached in KV),
 * and the RSA signature is verified, with one refetch when a cached key fails
 * (the peer may have rotated it).
 */
import {
  checkDateWindow,
  checkDigest,
  checkSignedRequest,
  parseSignatureHeader,
  REQUIRED_SIGNED_COMPONENTS,
  encodeBase64,
  type SignatureRejection,
} from "../domain/httpSignatures";
import { checkMessageSignature, parseMessageSignature, sha256FromContentDigest } from "../domain/messageSignatures";
import { STORED_MESSAGE_LIMITS } from "../schemas/messageLimits";
import {
  checkPeerUrl,
  isActivityPubContentType,
  isDocumentAt,
  keyDocumentUrl,
  MAX_PEER_KEY_PEM_CHARS,
  mayRefetchPeerKey,
  sameUrl,
  type PeerUrlPolicy,
} from "../domain/peerFetch";
import { ApiError } from "../errors";
import { sha256, utf8 } from "../lib/bytes";
import { pemToDer, RSA_SHA256 } from "../lib/federationKey";
import { fetchActivityDocument, fetchPeerDocument, isAllowedPeerUrl, type FederationPolicy } from "../federation/peers";
import { cachePeerKey, cachePeerKeyMiss, getCachedPeerKey, isPeerKeyMissCached, type PeerKey } from "../storage/peerKeyCache";

export const SIGNATURE_CHALLENGE = `Signature realm="inbox", headers="${REQUIRED_SIGNED_COMPONENTS.join(" ")}"`;

const REJECTION_MESSAGES: Record<SignatureRejection | "key_unavailable" | "bad_signature" | "insecure_key" | "replayed", string> = {
  missing: "The request must carry an HTTP signature (draft-cavage-12 Signature, or RFC 9421 Signature-Input and Signature).",
  malformed: "The Signature header is malformed.",
  unsupported_algorithm: "The signature algorithm must be rsa-sha256 or hs2019 with an RSA key.",
  missing_component: `The signature must cover ${REQUIRED_SIGNED_COMPONENTS.join(" ")} (RFC 9421: @method, the target, content-digest, and a created parameter).`,
  missing_header: "A header the signature covers is missing from the request.",
  bad_date: "The Date header is not an HTTP date.",
  date_out_of_window: "The Date header must be at most 1 h in the future and 12 h in the past.",
  expired: "The signature has expired.",
  digest_missing: "The request must carry a Digest (or, with RFC 9421, Content-Digest) header with a SHA-256 value.",
  digest_mismatch: "The digest header does not match the body.",
  key_unavailable: "The signature's keyId could not be fetched as an actor or key document.",
  insecure_key: "The signature's keyId must be an https:// URL on the default port, with a host name (no IP address), not this instance.",
  bad_signature: "The signature does not verify with the sender's key.",
  replayed: "This signed request was already received; a new delivery needs a new signature.",
};

export function unauthorized(reason: keyof typeof REJECTION_MESSAGES, detail?: string): ApiError {
  return new ApiError("unauthorized", REJECTION_MESSAGES[reason], {
    reason: `http signature: ${reason}${detail ? ` (${detail})` : ""}`,
    headers: { "WWW-Authenticate": SIGNATURE_CHALLENGE },
  });
}

const idOf = (v: unknown): string | null =>
  typeof v === "string" ? v : typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string" ? (v as { id: string }).id : null;

/**
 * Finds key `keyId` in a fetched document: an actor whose `publicKey` (one or a
 * list) has that id, or a key document itself (`id`, `owner`, `publicKeyPem`).
 * The owner must be on the keyId's own origin: a document may only speak for
 * actors of the server that serves it, so nobody can publish a key "owned" by
 * someone else's actor.
 */
export function peerKeyFromDocument(doc: Record<string, unknown>, keyId: string): PeerKey | null {
  let entry: Record<string, unknown> | null = null;
  let owner: string | null = null;
  if (doc.publicKey !== undefined) {
    const keys = Array.isArray(doc.publicKey) ? doc.publicKey : [doc.publicKey];
    for (const k of keys) {
      if (typeof k === "object" && k !== null && (k as { id?: unknown }).id === keyId) entry = k as Record<string, unknown>;
    }
    owner = entry ? (idOf(entry.owner) ?? idOf(doc.id)) : null;
  } else if (doc.id === keyId && typeof doc.publicKeyPem === "string") {
    entry = doc;
    owner = idOf(doc.owner);
  }
  if (!entry || !owner || typeof entry.publicKeyPem !== "string" || entry.publicKeyPem.length > MAX_PEER_KEY_PEM_CHARS) return null;
  // The owner becomes the stored message's `from`: no longer than a restore takes back.
  if (owner.length > STORED_MESSAGE_LIMITS.fromChars) return null;
  try {
    if (new URL(owner).origin !== new URL(keyId).origin) return null;
  } catch {
    return null;
  }
  return { keyId, owner, publicKeyPem: entry.publicKeyPem };
}

/**
 * The document at `url` that is what it says it is: served as ActivityPub with `id`
 * = `url` (or a fragment of it). A document that names another id on the same origin
 * is not believed, but followed once, as Mastodon does since CVE-2024-23832: the
 * document at that id must then carry that id itself. (GoToSocial serves a key at
 * `…/users/x/main-key` as a stub whose id is the actor `…/users/x`.)
 */
async function fetchAuthoritativeDocument(
  url: string,
  policy: FederationPolicy,
): Promise<{ doc: Record<string, unknown>; url: string } | null> {
  const doc = await fetchActivityDocument(url, policy);
  if (!doc) return null;
  if (isDocumentAt(doc.id, url)) return { doc, url };
  if (typeof doc.id !== "string") return null;
  let idUrl: string;
  try {
    idUrl = keyDocumentUrl(doc.id);
    if (new URL(idUrl).origin !== new URL(url).origin) return null;
  } catch {
    return null;
  }
  const named = await fetchActivityDocument(idUrl, policy);
  return named && isDocumentAt(named.id, idUrl) ? { doc: named, url: idUrl } : null;
}

/**
 * The key `keyId` names, fetched and checked (the class of Mastodon's
 * CVE-2024-23832, where a document could vouch for any actor of its origin):
 *
 * 1. the document holding the key is one whose `id` is the URL it was fetched from
 *    (fetchAuthoritativeDocument), served as ActivityPub;
 * 2. it lists the key under `keyId` and names the key's owner (peerKeyFromDocument:
 *    same origin);
 * 3. if the owner is another document (a separate key document, or an actor listing
 *    a key it says someone else owns), the owner's actor is fetched the same way and
 *    must list the same key: an actor vouches for its keys, nothing else does.
 */
async function fetchPeerKey(keyId: string, policy: FederationPolicy): Promise<PeerKey | null> {
  let url: string;
  try {
    url = keyDocumentUrl(keyId);
  } catch {
    return null;
  }
  const found = await fetchAuthoritativeDocument(url, policy);
  if (!found) return null;
  const key = peerKeyFromDocument(found.doc, keyId);
  if (!key) return null;
  if (isDocumentAt(key.owner, found.url)) return key;

  const owner = await fetchAuthoritativeDocument(keyDocumentUrl(key.owner), policy);
  if (!owner || !isDocumentAt(key.owner, owner.url)) return null;
  const listed = peerKeyFromDocument(owner.doc, keyId);
  const samePem = (a: string, b: string) => a.replace(/\s+/g, "") === b.replace(/\s+/g, "");
  if (!listed || !sameUrl(listed.owner, key.owner) || !samePem(listed.publicKeyPem, key.publicKeyPem)) return null;
  return key;
}

async function verifyRsaSha256(publicKeyPem: string, signingString: string, signature: Uint8Array<ArrayBuffer>): Promise<boolean> {
  const spki = pemToDer(publicKeyPem, "PUBLIC KEY");
  if (!spki) return false;
  try {
    const key = await crypto.subtle.importKey("spki", spki, RSA_SHA256, false, ["verify"]);
    return await crypto.subtle.verify(RSA_SHA256, key, signature, utf8(signingString));
  } catch {
    // Not an RSA key (hs2019 with Ed25519 exists, but docs/api.md §11 is RSA).
    return false;
  }
}

export interface InboxRequest {
  method: string;
  /** Path and query. */
  target: string;
  /** The full URL (RFC 9421's @target-uri). */
  url: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
}

/** A verified request: the sender's key, and what its signature covered (for replay protection). */
export interface VerifiedRequest extends PeerKey {
  /** The signing string (draft-cavage) or signature base (RFC 9421) the signature verified over. */
  signatureBase: string;
  /** The signed time: the Date header (draft-cavage) or `created` (RFC 9421). */
  signedAtMs: number;
}

/**
 * Returns the verified sender (the key's owner actor) or throws 401 unauthorized
 * with `WWW-Authenticate: Signature`. Cheap checks (header shape, covered
 * components, Date window, digest) run before any fetch, so an unsigned or stale
 * request never makes us fetch anything. A request with `Signature-Input` is read
 * as RFC 9421 (with `Content-Digest`); otherwise as draft-cavage (with `Digest`).
 */
export async function authenticateFederationRequest(
  request: InboxRequest,
  deps: { kv: KVNamespace; policy: FederationPolicy; nowMs: number },
): Promise<VerifiedRequest> {
  const signed = request.headers.has("signature-input") ? await checkRfc9421(request, deps.nowMs) : await checkCavage(request, deps.nowMs);
  const keyUrl = checkPeerUrl(signed.keyId, deps.policy);
  if (!keyUrl.ok) throw unauthorized("insecure_key", keyUrl.reason);
  const key = await verifyWithPeerKey(signed, deps);
  return { ...key, signatureBase: signed.base, signedAtMs: signed.signedAtMs };
}

interface SignedBase {
  keyId: string;
  base: string;
  signature: Uint8Array<ArrayBuffer>;
  signedAtMs: number;
}

async function checkCavage(request: InboxRequest, nowMs: number): Promise<SignedBase> {
  const headers = request.headers;
  const authorization = headers.get("authorization");
  const parsed = parseSignatureHeader(
    headers.get("signature") ?? (authorization && /^Signature\s/i.test(authorization) ? authorization : null),
  );
  if (!parsed.ok) throw unauthorized(parsed.reason);
  const sig = parsed.value;
  const facts = { method: request.method, target: request.target, header: (name: string) => headers.get(name) };
  const signingString = checkSignedRequest(sig, facts, nowMs);
  if (!signingString.ok) throw unauthorized(signingString.reason);
  const digest = checkDigest(headers.get("digest"), await sha256(request.body));
  if (!digest.ok) throw unauthorized(digest.reason);
  // checkSignedRequest checked the Date already; this only reads it back.
  const date = checkDateWindow(headers.get("date"), nowMs);
  if (!date.ok) throw unauthorized(date.reason);
  return { keyId: sig.keyId, base: signingString.value, signature: sig.signature, signedAtMs: date.value };
}

async function checkRfc9421(request: InboxRequest, nowMs: number): Promise<SignedBase> {
  const headers = request.headers;
  const parsed = parseMessageSignature(headers.get("signature-input"), headers.get("signature"));
  if (!parsed.ok) throw unauthorized(parsed.reason);
  const url = new URL(request.url);
  const base = checkMessageSignature(
    parsed.value,
    { method: request.method, url, authority: headers.get("host") ?? url.host, header: (name) => headers.get(name) },
    nowMs,
  );
  if (!base.ok) throw unauthorized(base.reason);
  const claimed = sha256FromContentDigest(headers.get("content-digest"));
  if (!claimed) throw unauthorized("digest_missing");
  const digest = checkDigest(`SHA-256=${encodeBase64(claimed)}`, await sha256(request.body));
  if (!digest.ok) throw unauthorized(digest.reason);
  return { keyId: parsed.value.keyId, base: base.value, signature: parsed.value.signature, signedAtMs: parsed.value.created * 1000 };
}

/**
 * The cached key, or the fetched one. Before any signature is verified anyone can
 * name any keyId, so fetches are rationed: a keyId that could not be fetched is not
 * fetched again for a minute (the negative cache), and a cached key that fails to
 * verify is fetched again (the peer may have rotated it) at most once a minute per
 * key. A fetched key is cached even when the signature then fails: the document
 * was valid, and the next bad signature must not fetch it again.
 */
async function verifyWithPeerKey(
  signed: SignedBase,
  deps: { kv: KVNamespace; policy: FederationPolicy; nowMs: number },
): Promise<PeerKey> {
  const cached = await getCachedPeerKey(deps.kv, signed.keyId);
  if (cached) {
    if (await verifyRsaSha256(cached.publicKeyPem, signed.base, signed.signature)) return cached;
    if (!mayRefetchPeerKey(cached.fetchedAtMs, deps.nowMs)) throw unauthorized("bad_signature", "refetch cooldown");
  }
  if (await isPeerKeyMissCached(deps.kv, signed.keyId)) throw unauthorized("key_unavailable", "negative cache");
  const fresh = await fetchPeerKey(signed.keyId, deps.policy);
  if (!fresh) {
    await cachePeerKeyMiss(deps.kv, signed.keyId);
    throw unauthorized("key_unavailable");
  }
  const stamped: PeerKey = { ...fresh, fetchedAtMs: deps.nowMs };
  await cachePeerKey(deps.kv, stamped);
  if (!(await verifyRsaSha256(fresh.publicKeyPem, signed.base, signed.signature))) throw unauthorized("bad_signature");
  return stamped;
}
