/** Checks on the owner's public keys that several routes share. */
import { findThumbprintMismatch } from "../domain/publicKeys";
import type { Env } from "../env";
import { ApiError, notClaimed } from "../errors";
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
 * How long an isolate may keep the owner's keys for logins without reading D1
 * again. The keys' epoch is what makes a rotation take effect at once (below); this
 * only bounds the case where the object could not be told of a rotation that D1
 * committed (routes/escrow.ts logs `activity_write_failed` then).
 */
export const LOGIN_KEYS_MAX_AGE_MS = 60_000;

/** The owner's keys as a login checks them, labelled with the keys' epoch seen before they were read. */
export interface LoginKeys {
  /** Undefined when the object could not say (below): these keys were read from D1 for this login alone. */
  epoch: number | undefined;
  keys: PublicKeys;
  readAtMs: number;
}

let loginKeys: LoginKeys | null = null;

/**
 * The owner's keys for POST /auth/login, kept in the isolate so that a login reads
 * nothing from D1 (docs/benchmarks.md: that read was half a login's cost). Safe
 * because the login's object call compares the label with the object's keys' epoch
 * (src/durable/keysEpoch.ts), raised after every change of keys committed in D1:
 * the epoch is read *before* the keys, so a label is never newer than its keys.
 * `staleEpoch` is the epoch the object answered with when it refused a label: the
 * keys are read again under it, without asking the object a second time.
 */
export async function keysForLogin(env: Env, nowMs: number, staleEpoch?: number): Promise<LoginKeys> {
  if (staleEpoch === undefined && loginKeys && nowMs - loginKeys.readAtMs < LOGIN_KEYS_MAX_AGE_MS) return loginKeys;
  const epoch = staleEpoch ?? (await askKeysEpoch(env));
  const read = { epoch, keys: await requireClaimedKeys(env), readAtMs: nowMs };
  // Unlabelled keys are for this login alone.
  if (epoch !== undefined) loginKeys = read;
  return read;
}

/**
 * The object's keys' epoch, or undefined from an object that predates it (during a
 * deploy's rollout) or is unavailable: the keys are then read for one login only.
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
export function rememberLoginKeys(keys: PublicKeys, epoch: number, nowMs: number): void {
  loginKeys = { epoch, keys, readAtMs: nowMs };
}

/** This isolate rotated the keys, or a test wants a cold isolate: the next login reads them again. */
export function forgetLoginKeys(): void {
  loginKeys = null;
}
