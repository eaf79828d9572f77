/**
 * The owner's keys' epoch (in ctx.storage.kv): a number the object raises each time
 * the owner's public keys change in D1 (setup, a restore, a rotation), right after
 * D1 committed the change; a rotation also raises it just before its write. A
 * login's Worker checks the assertion against keys it keeps in its isolate,
 * labelled with the epoch it saw before reading them from D1
 * (src/services/ownerKeys.ts); the login's one object call compares that label with
 * this number in its transaction, and refuses a stale one before anything else
 * happens, so a rotated-out key stops working on the very next login everywhere
 * (docs/benchmarks.md, "No D1 read on a login", names the one narrow exception).
 * This holds only while D1 reads go to the primary: with D1 read replication (the
 * Sessions API) a copy could be read from a replica behind the epoch.
 */
const EPOCH_KEY = "owner:keysEpoch";

export class KeysEpochStore {
  constructor(private readonly kv: SyncKvStorage) {}

  current(): number {
    return this.kv.get<number>(EPOCH_KEY) ?? 0;
  }

  /** Inside a transaction, after D1 committed new keys: caches labelled earlier are stale. */
  raise(): number {
    const next = this.current() + 1;
    this.kv.put(EPOCH_KEY, next);
    return next;
  }
}
