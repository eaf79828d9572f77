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

/** The object's answer to a copy of the keys whose label is stale: nothing happened; read them again. */
export type KeysChanged = { ok: false; error: "keys_changed"; keysEpoch: number };

export class KeysEpochStore {
  /**
   * The stored epoch as last read, so that a login or message reads no storage for
   * it: raise() is its only writer and drops this copy, so the copy is never behind
   * a committed raise (which would let a stale key in). A copy read after a raise
   * that then rolled back is ahead of storage; the next raise counts on from it, so
   * no epoch is handed out for two different sets of keys while the object lives
   * (today no caller reads the epoch between a raise and its commit at all).
   */
  private copy: number | undefined;

  constructor(private readonly kv: SyncKvStorage) {}

  current(): number {
    return (this.copy ??= this.kv.get<number>(EPOCH_KEY) ?? 0);
  }

  /**
   * A Worker's copy of the keys labelled `label` (undefined: read for this request
   * alone, so current) is stale: the refusal to answer with, or null if it is current.
   */
  refuseStale(label: number | undefined): KeysChanged | null {
    const keysEpoch = this.current();
    return label === undefined || label === keysEpoch ? null : { ok: false, error: "keys_changed", keysEpoch };
  }

  /** Inside a transaction, after D1 committed new keys: caches labelled earlier are stale. */
  raise(): number {
    const next = this.current() + 1;
    this.kv.put(EPOCH_KEY, next);
    this.copy = undefined;
    return next;
  }
}
