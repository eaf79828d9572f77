/**
 * The device's keys, in IndexedDB. Only non-extractable CryptoKeys are stored (a
 * CryptoKey is structured-cloneable, and IndexedDB keeps its non-extractable flag),
 * so a script running in this origin later can use the keys but cannot read them
 * out: crypto.subtle.exportKey on them fails.
 */
import { IndieError } from "./errors";
import type { DeviceKey } from "./keys";

const DB_NAME = "indienet";
const DB_VERSION = 1;
const STORE = "device";
const RECORD_KEY = "keys";

/** What the device keeps: the current signing key and every encryption key it was given. */
export interface DeviceKeys {
  format: 1;
  sig: DeviceKey;
  /** Current first, then retired ones, for opening old messages. */
  enc: DeviceKey[];
  /** The escrow version these keys came from. */
  escrowVersion: number;
  savedAt: number;
}

export interface KeyStore {
  load(): Promise<DeviceKeys | null>;
  save(keys: DeviceKeys): Promise<void>;
  clear(): Promise<void>;
}

function promisify<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function openDb(factory: IDBFactory): Promise<IDBDatabase> {
  const request = factory.open(DB_NAME, DB_VERSION);
  request.onupgradeneeded = () => {
    if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
  };
  return promisify(request);
}

async function withStore<T>(factory: IDBFactory, mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb(factory);
  try {
    const tx = db.transaction(STORE, mode);
    const result = promisify(fn(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
    return await result;
  } finally {
    db.close();
  }
}

export function indexedDbKeyStore(factory: IDBFactory = indexedDB): KeyStore {
  return {
    async load() {
      const record = (await withStore(factory, "readonly", (s) => s.get(RECORD_KEY))) as DeviceKeys | undefined;
      if (!record || record.format !== 1) return null;
      return record;
    },
    async save(keys) {
      for (const key of [keys.sig, ...keys.enc]) {
        // Never persist anything that could be read back out.
        if (key.privateKey.extractable) throw new Error("refusing to store an extractable private key");
      }
      await withStore(factory, "readwrite", (s) => s.put(keys, RECORD_KEY));
    },
    async clear() {
      await withStore(factory, "readwrite", (s) => s.delete(RECORD_KEY));
    },
  };
}

/** For tests and for contexts without IndexedDB: the keys live as long as the page. */
export function memoryKeyStore(): KeyStore {
  let keys: DeviceKeys | null = null;
  return {
    load: async () => keys,
    save: async (k) => {
      keys = k;
    },
    clear: async () => {
      keys = null;
    },
  };
}

export async function requireDeviceKeys(store: KeyStore): Promise<DeviceKeys> {
  const keys = await store.load();
  if (!keys) throw new IndieError("no_device_keys", "This device has no keys yet: unlock it with your password.");
  return keys;
}
