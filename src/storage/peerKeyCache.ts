/**
 * KV cache of federation peers' public keys, by keyId (docs/api.md §11: "fetches
 * the sender's key from keyId, caches it"). Only a cache: a miss or a KV failure
 * means one more fetch, and a key that no longer verifies is fetched again before
 * a request is refused (services/federationAuth.ts), at most once a minute per key
 * (PEER_KEY_REFETCH_COOLDOWN_MS), so a peer's key rotation costs it a minute of
 * refusals at most (its retries then get through), not a day.
 */
import { PEER_KEY_MISS_TTL_S } from "../domain/peerFetch";
import { sha256Base64url } from "../lib/bytes";

/** A day: long enough to spare peers a fetch per delivery, short enough to drop dead keys. */
const TTL_S = 86_400;

export interface PeerKey {
  keyId: string;
  /** The actor the key speaks for: the `from` of what it signs. */
  owner: string;
  publicKeyPem: string;
  /** When it was fetched (absent in entries cached before the refetch cooldown existed). */
  fetchedAtMs?: number;
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

/**
 * The negative cache: a keyId whose document could not be fetched or did not hold a
 * usable key is not fetched again for PEER_KEY_MISS_TTL_S (src/domain/peerFetch.ts),
 * so unsigned-in-effect requests naming it cost one fetch a minute, not one each.
 */
const missKey = async (keyId: string) => `fedkey-miss:v1:${await sha256Base64url(keyId)}`;

export async function isPeerKeyMissCached(kv: KVNamespace, keyId: string): Promise<boolean> {
  const hit = await kv.get(await missKey(keyId)).catch(() => null);
  return hit === keyId;
}

export async function cachePeerKeyMiss(kv: KVNamespace, keyId: string): Promise<void> {
  await kv
    .put(await missKey(keyId), keyId, { expirationTtl: PEER_KEY_MISS_TTL_S })
    .catch((err: unknown) => console.warn(JSON.stringify({ event: "peer_key_cache_error", error: String(err) })));
}

