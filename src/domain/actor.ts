/**
 * The instance's federation identity (docs/api.md §11), pure: the WebFinger answer
 * (RFC 7033) for `acct:<OWNER_HANDLE>@<host of ORIGIN>` and the ActivityPub actor
 * it points to. The actor is the owner; its key is the instance's federation key.
 */

export const ACTIVITY_JSON = "application/activity+json";
export const AS_PROFILE = "https://www.w3.org/ns/activitystreams";
export const LD_JSON_AS = `application/ld+json; profile="${AS_PROFILE}"`;
export const JRD_JSON = "application/jrd+json";

export const actorUrl = (origin: string) => `${origin}/actor`;
export const inboxUrl = (origin: string) => `${origin}/inbox`;
export const federationKeyId = (origin: string) => `${origin}/actor#main-key`;

export type WebfingerLookup = { ok: true } | { ok: false; reason: "malformed" | "unknown" };

/**
 * Is `resource` this instance's owner? `acct:` URIs (RFC 7565) compare the user
 * part exactly and the host case-insensitively, port included (ORIGIN's host is
 * what `<host>` means). The actor's own URL is accepted too: some servers look
 * an actor up by it to find its acct: name.
 */
export function matchWebfingerResource(resource: string | undefined, origin: string, handle: string): WebfingerLookup {
  if (!resource || resource.length > 512) return { ok: false, reason: "malformed" };
  if (resource === actorUrl(origin)) return { ok: true };
  const m = resource.match(/^acct:([^@\s/]+)@([^@\s/]+)$/i);
  if (!m) {
    return /^https?:\/\//i.test(resource) ? { ok: false, reason: "unknown" } : { ok: false, reason: "malformed" };
  }
  let user: string;
  try {
    user = decodeURIComponent(m[1]!);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const host = new URL(origin).host;
  return user === handle && m[2]!.toLowerCase() === host.toLowerCase() ? { ok: true } : { ok: false, reason: "unknown" };
}

export function webfingerDocument(origin: string, handle: string) {
  return {
    subject: `acct:${handle}@${new URL(origin).host}`,
    aliases: [actorUrl(origin)],
    links: [
      { rel: "self", type: ACTIVITY_JSON, href: actorUrl(origin) },
      { rel: "jwks_uri", type: "application/jwk-set+json", href: `${origin}/.well-known/jwks.json` },
    ],
  };
}

/**
 * The actor. `Service`, not `Person`: the instance speaks for its owner, and the
 * key that signs its requests is the instance's, not the owner's. `jwks_uri` (an
 * extension member; ActivityPub ignores what it does not know) and the matching
 * attachment link name the owner's own keys, which are what a peer seals to.
 */
export function actorDocument(origin: string, handle: string, publicKeyPem: string) {
  const id = actorUrl(origin);
  const jwksUri = `${origin}/.well-known/jwks.json`;
  return {
    "@context": [AS_PROFILE, "https://w3id.org/security/v1"],
    id,
    type: "Service",
    preferredUsername: handle,
    url: origin,
    inbox: inboxUrl(origin),
    publicKey: { id: federationKeyId(origin), owner: id, publicKeyPem },
    jwks_uri: jwksUri,
    attachment: [{ type: "Link", name: "jwks", mediaType: "application/jwk-set+json", href: jwksUri }],
  };
}

/** Which media type the actor is served as: ld+json only when the client asked for it. */
export function actorContentType(accept: string | undefined): string {
  if (accept && /application\/ld\+json/i.test(accept) && !/application\/activity\+json/i.test(accept)) return LD_JSON_AS;
  return ACTIVITY_JSON;
}
