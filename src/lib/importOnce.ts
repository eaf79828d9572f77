/**
 * Keys imported from secrets or JWKs are expensive to make and cheap to keep: each is
 * made once per isolate. Concurrent first callers share one promise; a failed import
 * is forgotten, so a corrected secret (or a transient failure) is tried again.
 */
export function importOnce<A, T>(keyOf: (input: A) => string, load: (input: A) => Promise<T>): (input: A) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (input) => {
    const key = keyOf(input);
    let hit = cache.get(key);
    if (!hit) {
      hit = load(input);
      hit.catch(() => cache.delete(key));
      cache.set(key, hit);
    }
    return hit;
  };
}

/** importOnce for a Worker secret named `name`, which must be set. */
export function importSecretOnce<T>(name: string, load: (secret: string) => Promise<T>): (secret: string | undefined) => Promise<T> {
  const once = importOnce((secret: string) => secret, load);
  return (secret) =>
    secret ? once(secret) : Promise.reject(new Error(`${name} is not set: run \`npm run dev\` or \`npm run deploy\``));
}
