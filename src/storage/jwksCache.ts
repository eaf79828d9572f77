/**
 * KV read-through cache of the public JWKS document. KV is eventually consistent,
 * so it only ever serves this public, already-cacheable document; every decision
 * that needs the current keys (login, accepting a message) reads D1.
 *
 * Staleness is bounded, not prevented: rotation deletes the entry, but a reader
 * that loaded the old keys just before the rotation committed may write them back,
 * and KV's edge caches lag too. The entry lives TTL_S seconds, less than the
 * five minutes the response itself allows any HTTP cache (Cache-Control:
 * max-age=300), so the cache adds no staleness a sender must not already expect.
 * Cache writes are best effort: a KV failure never fails a request.
 */
import type { Env } from "../env";
import { listKeys } from "./ownerStore";
import type { JwksResponse } from "../schemas/responses";

const KEY = "jwks:v1";
const TTL_S = 60;

/** What GET /.well-known/jwks.json serves (docs/api.md §2). */
export type JwksDocument = JwksResponse;

/** Returns null before the instance is claimed. */
export async function getJwks(env: Env, waitUntil: (p: Promise<unknown>) => void): Promise<JwksDocument | null> {
  const cached = await env.CACHE.get<JwksDocument>(KEY, "json").catch(() => null);
  if (cached) return cached;
  const keys = await listKeys(env.DB);
  if (keys.length === 0) return null;
  const doc: JwksDocument = {
    keys: keys.map((k) => (k.status === "retired" ? { ...k.jwk, status: "retired" } : { ...k.jwk })),
  };
  waitUntil(env.CACHE.put(KEY, JSON.stringify(doc), { expirationTtl: TTL_S }).catch(logCacheError));
  return doc;
}

export async function invalidateJwks(env: Env): Promise<void> {
  await env.CACHE.delete(KEY).catch(logCacheError);
}

function logCacheError(err: unknown): void {
  console.warn(JSON.stringify({ event: "jwks_cache_error", error: String(err) }));
}
