/**
 * KV cache of federation peers' public keys, by keyId (PROTOCOL.md §11: "fetches
 * the sender's key from keyId, caches it"). Only a cache: a miss or a KV failure
 * means one more fetch, and a key that no longer verifies is fetched again before
 * a request is refused (services/federationAuth.ts), so a peer's key rotation
 * costs it one refetch, not a day of refusals.
 */
import { sha256Base64url } from "../lib/bytes";

/** A day: long enough to spare peers a fetch per delivery, short enough to drop dead keys. */
const TTL_S = 86_400;

export interface PeerKey {
  keyId: string;
  /** The actor the key speaks for: the `from` of what it signs. */
  owner: string;
  publicKeyPem: string;
}

/** keyIds are URLs of any length; the KV key is their hash (KV keys stop at 512 bytes). */
const kvKey = async (keyId: string) => `fedkey:v1:${await sha256Base64url(keyId)}`;

export async function getCachedPeerKey(kv: KVNamespace, keyId: string): Promise<PeerKey | null> {
  const hit = await kv.get<PeerKey>(await kvKey(keyId), "json").catch(() => null);
  // A hash collision is not a practical worry, but the check is free.
  return hit && hit.keyId === keyId ? hit : null;
}

export async function cachePeerKey(kv: KVNamespace, key: PeerKey): Promise<void> {
  await kv
    .put(await kvKey(key.keyId), JSON.stringify(key), { expirationTtl: TTL_S })
    .catch((err: unknown) => console.warn(JSON.stringify({ event: "peer_key_cache_error", error: String(err) })));
}
