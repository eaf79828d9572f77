/**
 * Recovery in the owner's client (docs/api.md §13, docs/recovery-format.md): set up
 * a recovery key (its verifier on the server, its X25519 key one more escrow
 * recipient), start a recovery on a device with nothing, complete it after the
 * waiting period, and set a new password at once.
 */
import { IndieError } from "../errors";
import { currentEntry, openEscrowWith, sealEscrow } from "../escrow/escrow";
import { RECOVERY_KID_PREFIX } from "../escrow/format";
import type { OwnerClient, Progress } from "../owner";
import { recoveryStartedSchema } from "./status";
import { deriveRecoveryKeys, generateRecoveryKey, signRecoveryAssertion, type RecoveryKeys } from "./recoveryKey";
import { escrowResponseSchema } from "../../src/schemas/apiResponses";

export { cancelRecoveryRequest, recoveryStatus, recoveryStatusSchema, recoveryStartedSchema, type RecoveryStatus } from "./status";

/**
 * Why a recovery key needs two-factor authentication on (docs/recovery.md, "The wait
 * needs two-factor authentication"). With 2FA off, POST /auth/escrow hands the
 * escrow to anyone with no factor (docs/api.md §4), the recovery key is one of its
 * recipients, and the keys inside log in with a signature alone: whoever holds the
 * sheet or k shares is in at once, without POST /auth/recovery, so there is no
 * request, no wait, no `recovery_requested` for the owner's sessions to see, and
 * nothing for them to cancel.
 */
export const RECOVERY_NEEDS_TWO_FACTOR =
  "Turn on two-factor authentication first. While it is off, anyone can download your key backup without a code, and the recovery key opens it at once: whoever has the sheet (or enough shares) would have your keys and could log in with them, without starting a recovery, so there would be no waiting period for you to notice and cancel.";

/**
 * Makes a new recovery key and sets it up (step-up, and the password to open the
 * escrow): the escrow is re-sealed with its X25519 key as a recipient, replacing any
 * earlier recovery recipient (reason recovery_configured), then its verifier is
 * stored (PUT /api/recovery). In that order: a failure in between leaves the old
 * verifier, which can no longer open what was just sealed, never a verifier whose
 * key cannot open the blob. Returns the key: the caller turns it into the sheet or
 * the shares, then zeroes it.
 *
 * Refused (`two_factor_off`, before anything changes) while two-factor
 * authentication is off: see RECOVERY_NEEDS_TWO_FACTOR.
 */
export async function setUpRecovery(
  client: OwnerClient,
  input: { password: string; onProgress?: (p: Progress) => void },
): Promise<{ key: Uint8Array<ArrayBuffer>; keys: RecoveryKeys; version: number }> {
  if (!(await client.twoFactorStatus()).enabled) throw new IndieError("two_factor_off", RECOVERY_NEEDS_TWO_FACTOR);
  const opened = await client.openCurrentEscrow(input.password, input.onProgress);
  const key = generateRecoveryKey();
  const keys = await deriveRecoveryKeys(key);
  input.onProgress?.({ stage: "seal" });
  const recipients = [...opened.recipients.filter((r) => !r.kid.startsWith(RECOVERY_KID_PREFIX)), keys.unlockKey.publicJwk];
  const version = await client.resealEscrow(opened, input.password, recipients, "recovery_configured");
  await client.apiNoContent("/api/recovery", { method: "PUT", body: { verifier: keys.verifier.publicJwk } });
  return { key, keys, version };
}

/**
 * Removes the recovery key (step-up): with the password, a re-seal without its
 * recipient, so it opens nothing written from now on, then PUT /api/recovery
 * {verifier: null}. In that order, so that a failure between the two never leaves the
 * newest escrow opening with a recovery key that is no longer set up (2FA could then
 * be turned off while it still opens it: docs/threat-model.md, finding 21). Earlier
 * escrow versions still open with it (§13): rotate the keys if shares may be
 * compromised.
 */
export async function removeRecovery(client: OwnerClient, input: { password: string; onProgress?: (p: Progress) => void }): Promise<void> {
  const opened = await client.openCurrentEscrow(input.password, input.onProgress);
  const recipients = opened.recipients.filter((r) => !r.kid.startsWith(RECOVERY_KID_PREFIX));
  await client.resealEscrow(opened, input.password, recipients);
  await client.apiNoContent("/api/recovery", { method: "PUT", body: { verifier: null } });
}

async function verifierAssertion(client: OwnerClient, keys: RecoveryKeys): Promise<string> {
  const { challenge } = await client.challenge();
  return signRecoveryAssertion(keys.verifier, { aud: client.origin, nonce: challenge });
}

/**
 * Starts a recovery on a device with nothing: POST /auth/recovery with an assertion
 * by the recovery verifier. Returns when it becomes usable (a second start while one
 * is open returns the same time).
 */
export async function startRecovery(client: OwnerClient, key: Uint8Array<ArrayBuffer>): Promise<{ readyAt: number }> {
  const keys = await deriveRecoveryKeys(key);
  return client.publicRequest("/auth/recovery", recoveryStartedSchema, {
    body: { assertion: await verifierAssertion(client, keys) },
  });
}

/** What completing a recovery needs besides the recovery key. */
export interface RecoveryCompletion {
  key: Uint8Array<ArrayBuffer>;
  newPassword: string;
  deviceName?: string;
  endOtherSessions?: boolean;
  onProgress?: (p: Progress) => void;
}

/**
 * Completes a recovery after its readyAt: POST /auth/escrow {recovery} (the second
 * factor), the blob opened with the recovery key's unlock key, a login with the
 * mfaTicket signed by its keys (amr pop + rcv, which step-up accepts), the keys kept
 * on this device once the login is accepted, then `finishRecovery`'s steps: with
 * `endOtherSessions` every other session ended, and the escrow re-sealed under the
 * new password for the unlock methods still set up (PUT /api/escrow, reason
 * recovered). If a step after the login fails, this device is logged in with its
 * keys and the recovery is spent: `finishRecovery` with the same key retries the rest.
 */
export async function completeRecovery(client: OwnerClient, input: RecoveryCompletion): Promise<{ version: number }> {
  // Checked first: a weak password is refused before the single-use request is spent.
  await client.assertStrongPassword(input.newPassword);
  const keys = await deriveRecoveryKeys(input.key);
  const bundle = await client.publicRequest("/auth/escrow", escrowResponseSchema, {
    body: { recovery: await verifierAssertion(client, keys) },
  });
  const opened = await openEscrowWith(bundle.blob, { key: keys.unlockKey }, client.openOptions(input.onProgress));
  await client.logInWithKeyring(bundle, opened.keyring, input);
  return resealAfterRecovery(client, { ...opened, version: bundle.version }, input);
}

/**
 * The rest of a recovery on a device its recovery login got into (`completeRecovery`
 * failed after the login: a network error, a 5xx): the session reads the current
 * escrow, the recovery key opens it, and the steps after the login run again. It
 * re-seals only what that login proved: the session must be the recovery's (amr
 * `rcv`), the opened keys must be the ones this device logged in with, and the PUT
 * expects the escrow version the device got them from, so an escrow changed since
 * (by a session the recovery did not end) is refused (`version_conflict`), never
 * re-sealed under the new password. Step-up must still be fresh (the recovery login's,
 * 5 minutes); after that, a new recovery is the way.
 */
export async function finishRecovery(client: OwnerClient, input: Omit<RecoveryCompletion, "deviceName">): Promise<{ version: number }> {
  await client.assertStrongPassword(input.newPassword);
  const device = await client.keyStore.load();
  if (!device || !client.session.claims()?.amr.includes("rcv")) {
    throw new IndieError("no_recovery_login", "This device's session did not come from a recovery: start a recovery to set a new password with the recovery key.");
  }
  const keys = await deriveRecoveryKeys(input.key);
  const escrow = await client.getEscrow();
  const opened = await openEscrowWith(escrow.blob, { key: keys.unlockKey }, client.openOptions(input.onProgress));
  if (currentEntry(opened.keyring, "sig").kid !== device.sig.kid || currentEntry(opened.keyring, "enc").kid !== device.enc[0]?.kid) {
    throw new IndieError("escrow_mismatch", "The key backup no longer holds the keys this device recovered: it was changed after the recovery's login.");
  }
  return resealAfterRecovery(client, { ...opened, version: device.escrowVersion }, input);
}

/**
 * Other sessions are ended first (when asked): whoever made a recovery necessary
 * should not keep a session while the new password is set.
 */
async function resealAfterRecovery(
  client: OwnerClient,
  opened: Pick<Awaited<ReturnType<typeof openEscrowWith>>, "keyring" | "recipients"> & { version: number },
  input: Omit<RecoveryCompletion, "deviceName" | "key">,
): Promise<{ version: number }> {
  if (input.endOtherSessions) await client.revokeOtherSessions();
  input.onProgress?.({ stage: "seal" });
  const recipients = await client.keptRecipients(opened.recipients);
  const blob = await sealEscrow(opened.keyring, input.newPassword, await client.sealOptions(recipients));
  const { version } = await client.putEscrow({ expectedVersion: opened.version, blob, reason: "recovered" });
  const device = await client.keyStore.load();
  if (device) await client.keyStore.save({ ...device, escrowVersion: version });
  return { version };
}
