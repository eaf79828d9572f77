/**
 * The device's keys, in IndexedDB. Only non-extractable CryptoKeys are stored (a
 * CryptoKey is structured-cloneable, and IndexedDB keeps its non-extractable flag),
 * so a script running in this origin later can use the keys but cannot read them
 * out: crypto.subtle.exportKey on them fails.
 */
import { IndieError } from "./errors";
import { promisify, withStore, type StoreName } from "./idb";
import type { DeviceKey } from "./keys";

const DEVICE_DB: StoreName = { db: "indienet", version: 1, store: "device" };
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

export function indexedDbKeyStore(factory: IDBFactory = indexedDB): KeyStore {
  return {
    async load() {
      const record = (await withStore(factory, DEVICE_DB, "readonly", (s) => promisify(s.get(RECORD_KEY)))) as DeviceKeys | undefined;
      if (!record || record.format !== 1) return null;
      return record;
    },
    async save(keys) {
      for (const key of [keys.sig, ...keys.enc]) {
        // Never persist anything that could be read back out.
        if (key.privateKey.extractable) throw new Error("refusing to store an extractable private key");
      }
      await withStore(factory, DEVICE_DB, "readwrite", (s) => promisify(s.put(keys, RECORD_KEY)));
    },
    async clear() {
      await withStore(factory, DEVICE_DB, "readwrite", (s) => promisify(s.delete(RECORD_KEY)));
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
