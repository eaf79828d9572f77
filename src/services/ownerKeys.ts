/** Checks on the owner's public keys that several routes share. */
import { findThumbprintMismatch } from "../domain/publicKeys";
import type { Env } from "../env";
import { ApiError, notClaimed } from "../errors";
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
