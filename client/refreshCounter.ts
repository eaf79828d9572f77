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

const DB_NAME = "indienet-session";
const STORE = "counters";

export interface RefreshCounter {
  /** The current value (0 before the first bump). */
  read(): Promise<number>;
  /** Adds one and resolves with the new value once it is committed. */
  bump(): Promise<number>;
}

function promisify<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function indexedDbRefreshCounter(key: string, factory: IDBFactory = indexedDB): RefreshCounter {
  async function run(mode: IDBTransactionMode, change: (value: number) => number | null): Promise<number> {
    const open = factory.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    const db = await promisify(open);
    try {
      const tx = db.transaction(STORE, mode);
      const store = tx.objectStore(STORE);
      const committed = new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
      });
      // If the read fails, the caller hears that; the transaction's own failure is the same one.
      committed.catch(() => {});
      // Only IndexedDB is awaited from here to the put: the transaction stays active
      // through a request's success callback and its microtasks, not across other awaits.
      const current = Number(await promisify(store.get(key))) || 0;
      const next = change(current);
      if (next !== null) store.put(next, key);
      await committed;
      return next ?? current;
    } finally {
      db.close();
    }
  }
  return {
    read: () => run("readonly", () => null),
    bump: () => run("readwrite", (value) => value + 1),
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
