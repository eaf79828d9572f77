/**
 * IndexedDB, the little this client needs of it: open a database with one object
 * store, run one transaction on that store, and resolve once it has committed.
 * Used by the device keystore (./keystore.ts) and the cross-tab refresh counter
 * (./refreshCounter.ts), each with its own database.
 */

export interface StoreName {
  db: string;
  version: number;
  store: string;
}

export function promisify<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function openDb(factory: IDBFactory, name: StoreName): Promise<IDBDatabase> {
  const request = factory.open(name.db, name.version);
  request.onupgradeneeded = () => {
    if (!request.result.objectStoreNames.contains(name.store)) request.result.createObjectStore(name.store);
  };
  return promisify(request);
}

/**
 * Runs `fn` in one transaction on the store and resolves with its result once the
 * transaction has committed (a read-write transaction's writes are then seen by any
 * transaction started later, in any tab). `fn` may await only IndexedDB requests:
 * the transaction stays active through a request's success callback and its
 * microtasks, not across other awaits.
 */
export async function withStore<T>(factory: IDBFactory, name: StoreName, mode: IDBTransactionMode, fn: (store: IDBObjectStore) => Promise<T>): Promise<T> {
  const db = await openDb(factory, name);
  try {
    const tx = db.transaction(name.store, mode);
    const committed = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
    // Both are awaited together: a failed request also fails the transaction, and
    // neither rejection is left unobserved.
    const [result] = await Promise.all([fn(tx.objectStore(name.store)), committed]);
    return result;
  } finally {
    db.close();
  }
}
