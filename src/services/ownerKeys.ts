/** Checks on the owner's public keys that several routes share. */
import { findThumbprintMismatch } from "../domain/publicKeys";
import type { Env } from "../env";
import { ApiError, notClaimed } from "../errors";
import type { KeysChanged } from "../durable/keysEpoch";
import { instanceStub } from "../durable/stub";
import type { PublicKeys } from "../schemas/api";
import { currentKeys } from "../storage/ownerStore";

/** The owner's current public keys, or `404 not_claimed`. */
export async function requireClaimedKeys(env: Env): Promise<PublicKeys> {
  const keys = await currentKeys(env.DB);
  if (!keys) throw notClaimed();
  return keys;
}

/** docs/api.md §1: every kid must be its key's RFC 7638 thumbprint, else `400`. */
export async function requireThumbprintKids(keys: PublicKeys): Promise<void> {
  const mismatch = await findThumbprintMismatch(keys);
  if (mismatch) throw new ApiError("invalid_request", `publicKeys.${mismatch}.kid must be its RFC 7638 thumbprint.`);
}

/**
 * How long an isolate may keep the owner's keys for logins and messages without
 * reading D1 again. The keys' epoch is what makes a rotation take effect at once (below); this
 * only bounds the case where the object could not be told of a rotation that D1
 * committed (routes/escrow.ts logs `activity_write_failed` then).
 */
export const OWNER_KEYS_MAX_AGE_MS = 60_000;

/** The owner's keys as a login or a message checks them, labelled with the keys' epoch seen before they were read. */
export interface LabelledKeys {
  /** Undefined when the object could not say (below): these keys were read from D1 for this request alone. */
  epoch: number | undefined;
  keys: PublicKeys;
  readAtMs: number;
}

let cachedKeys: LabelledKeys | null = null;

/**
 * The owner's keys for POST /auth/login (the signing key) and for storing a private
 * message (the encryption key's kid), kept in the isolate so that neither reads D1
 * (docs/benchmarks.md: that read was half a login's cost). Safe because their one
 * object call compares the label with the object's keys' epoch
 * (src/durable/keysEpoch.ts), raised after every change of keys committed in D1:
 * the epoch is read *before* the keys, so a label is never newer than its keys.
 * `staleEpoch` is the epoch the object answered with when it refused a label: the
 * keys are read again under it, without asking the object a second time.
 */
export async function labelledOwnerKeys(env: Env, nowMs: number, staleEpoch?: number): Promise<LabelledKeys> {
  if (staleEpoch === undefined && cachedKeys && nowMs - cachedKeys.readAtMs < OWNER_KEYS_MAX_AGE_MS) return cachedKeys;
  const epoch = staleEpoch ?? (await askKeysEpoch(env));
  const read = { epoch, keys: await requireClaimedKeys(env), readAtMs: nowMs };
  // Unlabelled keys are for this request alone.
  if (epoch !== undefined) cachedKeys = read;
  return read;
}

/**
 * The object's keys' epoch, or undefined from an object that predates it (during a
 * deploy's rollout) or is unavailable: the keys are then read for one request only.
 */
async function askKeysEpoch(env: Env): Promise<number | undefined> {
  try {
    return await instanceStub(env).currentKeysEpoch();
  } catch (err) {
    console.warn(JSON.stringify({ event: "keys_epoch_unavailable", error: String(err) }));
    return undefined;
  }
}

/** This isolate changed the keys (setup): keep the new ones under the epoch the object raised. */
export function rememberOwnerKeys(keys: PublicKeys, epoch: number, nowMs: number): void {
  cachedKeys = { epoch, keys, readAtMs: nowMs };
}

/** This isolate rotated the keys, or a test wants a cold isolate: the next request reads them again. */
export function forgetOwnerKeys(): void {
  cachedKeys = null;
}

/** Tries of a request whose keys changed under it, before giving up (each re-reads the keys). */
export const OWNER_KEY_TRIES = 3;


/**
 * Runs an object call made with the owner's labelled keys, and again with keys read
 * anew each time the object refuses their label (at most OWNER_KEY_TRIES calls; then
 * `409 version_conflict`; nothing was counted or spent, so the same request may
 * simply be sent again). Reading the keys and giving up happen
 * inside `beforeCall`, the caller's wrapper for failures the object did not count
 * (services take no hono Context: routes pass http/rateLimit.ts's countingFailures).
 */
export async function withOwnerKeys<R extends { ok: boolean }>(
  env: Env,
  nowMs: number,
  beforeCall: <T>(work: () => Promise<T>) => Promise<T>,
  call: (keys: LabelledKeys) => Promise<R | KeysChanged>,
): Promise<Exclude<R, KeysChanged>> {
  let keys = await beforeCall(() => labelledOwnerKeys(env, nowMs));
  for (let tries = 1; ; tries++) {
    const result = await call(keys);
    if (result.ok || (result as { error?: string }).error !== "keys_changed") return result as Exclude<R, KeysChanged>;
    const stale = (result as KeysChanged).keysEpoch;
    keys = await beforeCall(async () => {
      if (tries >= OWNER_KEY_TRIES) {
        throw new ApiError("version_conflict", "The owner's keys changed while this request was checked; send it again.");
      }
      return await labelledOwnerKeys(env, nowMs, stale);
    });
  }
}
