/**
 * KV read-through cache of the public JWKS document. KV is eventually consistent,
 * so it only ever serves this public, already-cacheable document (the response
 * says max-age=300 anyway); every decision that needs the current keys (login,
 * message acceptance) reads D1.
 */
import type { Env } from "../env";
import { listKeys } from "./ownerStore";

const KEY = "jwks:v1";
const TTL_S = 300;

export interface JwksDocument {
  keys: Array<Record<string, unknown>>;
}

/** Returns null before the instance is claimed. */
export async function getJwks(env: Env): Promise<JwksDocument | null> {
  const cached = await env.CACHE.get<JwksDocument>(KEY, "json");
  if (cached) return cached;
  const keys = await listKeys(env.DB);
  if (keys.length === 0) return null;
  const doc: JwksDocument = {
    keys: keys.map((k) => (k.status === "retired" ? { ...k.jwk, status: "retired" } : { ...k.jwk })),
  };
  await env.CACHE.put(KEY, JSON.stringify(doc), { expirationTtl: TTL_S });
  return doc;
}

export async function invalidateJwks(env: Env): Promise<void> {
  await env.CACHE.delete(KEY);
}
