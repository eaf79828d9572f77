/**
 * The cross-tab refresh counter (client/session.ts): a number every tab of this
 * origin can read and bump, counting the refreshes done under the refresh lock.
 * Never a token.
 *
 * It lives in IndexedDB, not localStorage, for one property: a read started after a
 * bump has finished sees that bump. IndexedDB transactions are ordered by the one
 * database behind every tab, so a tab that is granted the lock after another tab
 * bumped (and only then let go) reads the new value. localStorage gives no such
 * order: each tab reads its own copy, updated by a message from the browser that
 * can arrive after the lock is granted (CI saw a second rotation 15 ms after the
 * first through exactly that gap).
 */

import { promisify, withStore, type StoreName } from "./idb";

const COUNTER_DB: StoreName = { db: "indienet-session", version: 1, store: "counters" };

export interface RefreshCounter {
  /** The current value (0 before the first bump). */
  read(): Promise<number>;
  /** Adds one and resolves with the new value once it is committed. */
  bump(): Promise<number>;
}

export function indexedDbRefreshCounter(key: string, factory: IDBFactory = indexedDB): RefreshCounter {
  return {
    read: () => withStore(factory, COUNTER_DB, "readonly", async (store) => Number(await promisify(store.get(key))) || 0),
    bump: () =>
      withStore(factory, COUNTER_DB, "readwrite", async (store) => {
        const next = (Number(await promisify(store.get(key))) || 0) + 1;
        store.put(next, key);
        return next;
      }),
  };
}

/** One counter shared by the sessions given it (tests: tabs in one process). */
export function memoryRefreshCounter(): RefreshCounter {
  let value = 0;
  return {
    read: async () => value,
    bump: async () => ++value,
  };
}
