/**
 * Delivering one outbox row (docs/api.md §11): resolve the recipient to an inbox
 * (an actor URL directly; `acct:user@host` through the host's WebFinger), wrap the
 * owner's JWE in an EncryptedMessage `Create`, sign the POST with the instance's
 * federation key (draft-cavage-12) and send it. Throws nothing: every failure is
 * returned as a short sentence for `lastError`.
 */
import { ACTIVITY_JSON, actorUrl, AS_PROFILE, federationKeyId, LD_JSON_AS } from "../domain/actor";
import { JOSE_MEDIA_TYPE } from "../domain/inboxActivity";
import { utf8 } from "../lib/bytes";
import { loadFederationKey } from "../lib/federationKey";
import type { OutboxRow } from "../storage/outboxStore";
import { fetchPeerDocument, isAllowedPeerUrl, signFederationPost, type FederationPolicy } from "./peers";

const DELIVERY_TIMEOUT_MS = 15_000;

export type DeliveryResult = { ok: true; inbox: string } | { ok: false; error: string; inbox: string | null };

const ACCT = /^acct:([^@\s/]+)@([^@\s/]+)$/i;

/** Is `to` something POST /api/outbox accepts: an allowed actor URL or acct:user@host. */
export function isValidRecipient(to: string, policy: FederationPolicy): boolean {
  return ACCT.test(to) || isAllowedPeerUrl(to, policy) !== null;
}

export async function resolveRecipient(to: string, policy: FederationPolicy): Promise<{ actor: string; inbox: string } | string> {
  let actor = to;
  const acct = to.match(ACCT);
  if (acct) {
    // RFC 7033 is https; plain http only for local peers (ALLOW_INSECURE_FEDERATION).
    const scheme = policy.allowInsecure ? "http" : "https";
    const jrd = await fetchPeerDocument(`${scheme}://${acct[2]}/.well-known/webfinger?resource=${encodeURIComponent(to)}`, policy);
    const links = Array.isArray(jrd?.links) ? (jrd.links as Array<Record<string, unknown>>) : [];
    const self = links.find(
      (l) => l.rel === "self" && typeof l.href === "string" && (l.type === ACTIVITY_JSON || (typeof l.type === "string" && l.type.startsWith("application/ld+json"))),
    );
    if (!self) return `WebFinger for ${to} names no ActivityPub actor`;
    actor = self.href as string;
  }
  const doc = await fetchPeerDocument(actor, policy);
  if (!doc) return `could not fetch the actor ${actor}`;
  const inbox = typeof doc.inbox === "string" ? doc.inbox : null;
  if (!inbox || !isAllowedPeerUrl(inbox, policy)) return `the actor ${actor} has no usable inbox`;
  return { actor: typeof doc.id === "string" ? doc.id : actor, inbox };
}

export function encryptedMessageActivity(row: Pick<OutboxRow, "id" | "origin" | "jwe">, recipientActor: string) {
  const self = actorUrl(row.origin);
  const id = `${row.origin}/outbox/${row.id}`;
  return {
    "@context": AS_PROFILE,
    id,
    type: "Create",
    actor: self,
    to: [recipientActor],
    object: { id: `${id}#message`, type: "Note", attributedTo: self, to: [recipientActor], mediaType: JOSE_MEDIA_TYPE, content: row.jwe },
  };
}

export async function deliverOutboxRow(row: OutboxRow, deps: { federationKey: string | undefined; policy: FederationPolicy; nowMs: number }): Promise<DeliveryResult> {
  const resolved = await resolveRecipient(row.recipient, deps.policy);
  if (typeof resolved === "string") return { ok: false, error: resolved, inbox: null };
  const body = utf8(JSON.stringify(encryptedMessageActivity(row, resolved.actor)));
  const url = new URL(resolved.inbox);
  try {
    const key = await loadFederationKey(deps.federationKey);
    const signed = await signFederationPost({ url, body, keyId: federationKeyId(row.origin), privateKey: key.privateKey, nowMs: deps.nowMs });
    // Host is signed but not sent by hand: the runtime sets it from the URL (same value).
    const { host: _host, ...sent } = signed;
    const res = await fetch(url.toString(), {
      method: "POST",
      headers: { ...sent, "content-type": ACTIVITY_JSON, accept: `${ACTIVITY_JSON}, ${LD_JSON_AS}` },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.body?.cancel();
    if (res.status >= 200 && res.status < 300) return { ok: true, inbox: resolved.inbox };
    return { ok: false, error: `the inbox answered HTTP ${res.status}`, inbox: resolved.inbox };
  } catch (err) {
    return { ok: false, error: `delivery failed: ${String(err).slice(0, 200)}`, inbox: resolved.inbox };
  }
}
