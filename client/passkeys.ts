/**
 * Passkeys in the owner's client (docs/api.md §12, docs/passkeys.md): registration,
 * the listing, a passkey as the second factor, and unlock without the password
 * through the PRF extension. The PRF output and everything derived from it stay in
 * this page: the output is consumed at once by deriveUnlockKeyFromPrf, which leaves
 * only a non-extractable X25519 key; the server never sees an extension result.
 */
import type * as z from "zod/mini";
import {
  creationOptionsResponseSchema,
  passkeySchema,
  passkeysResponseSchema,
  registerResponseSchema,
  requestOptionsResponseSchema,
  type PasskeyListing,
} from "./passkeySchemas";
import { base64urlDecode } from "../src/lib/bytes";
import { IndieError } from "./errors";
import { openEscrowWith } from "./escrow/escrow";
import { EscrowError } from "./escrow/errors";
import { PASSKEY_KID_PREFIX } from "./escrow/format";
import { deriveUnlockKeyFromPrf, PRF_EVAL_INPUT, type UnlockKey } from "./escrow/unlockKeys";
import type { EscrowBundle, OwnerClient, Progress, SecondFactor } from "./owner";
import {
  authenticationToJSON,
  ceremony,
  creationOptionsFromJSON,
  localChallenge,
  prfFirst,
  prfResults,
  registrationToJSON,
  requestOptionsFromJSON,
  type CredentialsLike,
} from "./webauthn";

export type { PasskeyListing };

function credentialsOf(client: OwnerClient): CredentialsLike {
  if (!client.credentials) throw new IndieError("passkey_unsupported", "This browser cannot use passkeys here.");
  return client.credentials;
}

const prfEval = { eval: { first: PRF_EVAL_INPUT } };

/** The credential id's bytes (the HKDF salt of the unlock key). */
function idBytes(id: string): Uint8Array<ArrayBuffer> {
  const bytes = base64urlDecode(id);
  if (!bytes) throw new IndieError("bad_response", "A passkey id is not base64url.");
  return bytes;
}

/**
 * A get() ceremony asking for the PRF output of one passkey (or any, when `id` is
 * omitted), and the unlock key derived from it: null when the passkey gave no PRF
 * output. `options` are the server's (the response is then also a second factor) or
 * null for a ceremony the server never sees.
 */
async function prfCeremony(
  client: OwnerClient,
  input: { id?: string; serverOptions: z.infer<typeof requestOptionsResponseSchema>["options"] | null },
): Promise<{ credential: PublicKeyCredential; unlockKey: UnlockKey | null }> {
  const credentials = credentialsOf(client);
  const publicKey = input.serverOptions
    ? requestOptionsFromJSON(input.serverOptions, { allowCredentialIds: input.id ? [input.id] : [], prf: prfEval })
    : {
        challenge: localChallenge(),
        rpId: new URL(client.origin).hostname,
        userVerification: "required" as const,
        timeout: 300_000,
        allowCredentials: input.id ? [{ type: "public-key" as const, id: idBytes(input.id) }] : [],
        extensions: { prf: prfEval } as AuthenticationExtensionsClientInputs,
      };
  const credential = await ceremony<PublicKeyCredential>(() => credentials.get({ publicKey }));
  const first = prfFirst(credential);
  return { credential, unlockKey: first ? await deriveUnlockKeyFromPrf(first, new Uint8Array(credential.rawId)) : null };
}

const noPrf = () =>
  new IndieError("passkey_no_prf", "This passkey did not give the PRF output: it can be a second factor, but it cannot unlock your keys.");

// --- the listing ------------------------------------------------------------------------

export function listPasskeys(client: OwnerClient): Promise<PasskeyListing[]> {
  return client.api("/api/passkeys", passkeysResponseSchema).then((b) => b.passkeys);
}

/** PATCH /api/passkeys/:id (step-up). */
export function renamePasskey(client: OwnerClient, id: string, name: string): Promise<PasskeyListing> {
  return client.api(`/api/passkeys/${encodeURIComponent(id)}`, passkeySchema, { method: "PATCH", body: { name } });
}

/**
 * DELETE /api/passkeys/:id (step-up). The last factor (no TOTP, no other passkey)
 * also needs a factor in the body. A passkey that unlocks the escrow stays its
 * recipient until the next re-seal (OwnerClient.keptRecipients drops it): call
 * disablePasskeyUnlock first, as the web app does, or 2FA cannot be turned off
 * until a re-seal (docs/threat-model.md, finding 21).
 */
export function removePasskey(client: OwnerClient, id: string, factor?: { code: string } | { backupCode: string } | SecondFactor) {
  const body = factor && "totp" in factor ? { code: factor.totp } : factor;
  return client.apiNoContent(`/api/passkeys/${encodeURIComponent(id)}`, { method: "DELETE", ...(body ? { body } : {}) });
}

// --- registration ----------------------------------------------------------------------

export interface RegisteredPasskey {
  passkey: PasskeyListing;
  /** When this passkey turned two-factor authentication on: the new backup codes (other sessions were ended). */
  backupCodes?: string[];
}

/**
 * Registers a passkey (step-up): POST /api/passkeys/options → create() asking
 * whether PRF is supported → when it says so (or says nothing), a test get() with
 * a local challenge confirms the passkey really gives a PRF output (its output is
 * zeroed unused) → POST /api/passkeys with the credential, the name and `prf`.
 */
export async function registerPasskey(client: OwnerClient, input: { name?: string } = {}): Promise<RegisteredPasskey> {
  const credentials = credentialsOf(client);
  const { options } = await client.api("/api/passkeys/options", creationOptionsResponseSchema, { method: "POST" });
  const credential = await ceremony<PublicKeyCredential>(() => credentials.create({ publicKey: creationOptionsFromJSON(options) }));
  const registration = registrationToJSON(credential);
  let prf = false;
  if (prfResults(credential)?.enabled !== false) {
    try {
      const { unlockKey } = await prfCeremony(client, { id: registration.id, serverOptions: null });
      prf = unlockKey?.kid === PASSKEY_KID_PREFIX + registration.id;
    } catch (err) {
      // The test prompt was dismissed: a second factor only, as without PRF (PATCH can say otherwise later).
      if (!(err instanceof IndieError && err.code === "passkey_cancelled")) throw err;
    }
  }
  return client.api("/api/passkeys", registerResponseSchema, {
    method: "POST",
    body: { credential: registration, prf, ...(input.name ? { name: input.name } : {}) },
  });
}

// --- a passkey as the second factor -------------------------------------------------------

function requestOptions(client: OwnerClient) {
  return client.publicRequest("/auth/passkey/options", requestOptionsResponseSchema).then((b) => b.options);
}

/**
 * POST /auth/passkey/options → get() → the `passkey` member that /auth/login,
 * /auth/escrow, /auth/reauth and the 2FA routes take instead of a code.
 */
export async function passkeyFactor(client: OwnerClient): Promise<{ passkey: ReturnType<typeof authenticationToJSON> }> {
  const credentials = credentialsOf(client);
  const options = await requestOptions(client);
  const credential = await ceremony<PublicKeyCredential>(() => credentials.get({ publicKey: requestOptionsFromJSON(options) }));
  return { passkey: authenticationToJSON(credential) };
}

// --- unlock with a passkey ----------------------------------------------------------------

/**
 * Turns on unlock for one PRF passkey (step-up, and the password to open the escrow):
 * a get() with PRF → its unlock key → the escrow re-sealed with that recipient added
 * (PUT /api/escrow, reason passkey_unlock_added). When step-up is needed, the same
 * ceremony's assertion is the factor of POST /auth/reauth, so the passkey is touched
 * once.
 */
export async function enablePasskeyUnlock(
  client: OwnerClient,
  input: { id: string; password: string; twoFactorOn: boolean; onProgress?: (p: Progress) => void },
): Promise<number> {
  const opened = await client.openCurrentEscrow(input.password, input.onProgress);
  const stepUp = !client.stepUpFresh(input.twoFactorOn);
  const { credential, unlockKey } = await prfCeremony(client, {
    id: input.id,
    serverOptions: stepUp ? await requestOptions(client) : null,
  });
  if (!unlockKey) throw noPrf();
  if (unlockKey.kid !== PASSKEY_KID_PREFIX + input.id) {
    throw new IndieError("invalid_request", "A different passkey was used than the one chosen.");
  }
  if (stepUp) await client.reauth({ passkey: authenticationToJSON(credential) });
  input.onProgress?.({ stage: "seal" });
  const recipients = [...opened.recipients.filter((r) => r.kid !== unlockKey.kid), unlockKey.publicJwk];
  return client.resealEscrow(opened, input.password, recipients, "passkey_unlock_added");
}

/**
 * Turns unlock off for a passkey (it stays a second factor): the escrow is re-sealed
 * without its recipient. Needs the password and a fresh step-up.
 */
export async function disablePasskeyUnlock(client: OwnerClient, input: { id: string; password: string; onProgress?: (p: Progress) => void }) {
  const opened = await client.openCurrentEscrow(input.password, input.onProgress);
  const kid = PASSKEY_KID_PREFIX + input.id;
  input.onProgress?.({ stage: "seal" });
  return client.resealEscrow(opened, input.password, opened.recipients.filter((r) => r.kid !== kid));
}

/** Which passkeys (by id) can unlock the current escrow: its recipients, read from the blob. */
export function unlockPasskeyIds(recipientKids: readonly string[]): Set<string> {
  return new Set(recipientKids.filter((k) => k.startsWith(PASSKEY_KID_PREFIX)).map((k) => k.slice(PASSKEY_KID_PREFIX.length)));
}

/** What `unlockWithPasskey` did. */
export type PasskeyUnlock =
  | { unlocked: true }
  | {
      /**
       * The passkey was the second factor, but it cannot open the key backup: it gave
       * no PRF output (`passkey_no_prf`), unlock is not turned on for it
       * (`not_a_recipient`), or its PRF answers differently now (`wrong_key`).
       * `bundle` carries an mfaTicket valid 300 s: `client.unlock(bundle, password)`
       * finishes without a code.
       */
      unlocked: false;
      reason: "passkey_no_prf" | "not_a_recipient" | "wrong_key";
      bundle: EscrowBundle;
    };

/**
 * A new device without the keys: one get() ceremony whose assertion is the second
 * factor of POST /auth/escrow and whose PRF output opens the blob; the login uses
 * the returned mfaTicket, and the keys are kept on this device once it is accepted
 * (`OwnerClient.logInWithKeyring`). A passkey that cannot
 * open the blob is still the factor: the result hands back the bundle, so the
 * password finishes with no code (the owner touches one passkey, whichever it is).
 */
export async function unlockWithPasskey(
  client: OwnerClient,
  input: { deviceName?: string; onProgress?: (p: Progress) => void } = {},
): Promise<PasskeyUnlock> {
  const options = await requestOptions(client);
  const { credential, unlockKey } = await prfCeremony(client, { serverOptions: options });
  const bundle = await client.fetchEscrow({ passkey: authenticationToJSON(credential) });
  if (!unlockKey) return { unlocked: false, reason: "passkey_no_prf", bundle };
  let opened: Awaited<ReturnType<typeof openEscrowWith>>;
  try {
    opened = await openEscrowWith(bundle.blob, { key: unlockKey }, client.openOptions(input.onProgress));
  } catch (err) {
    if (err instanceof EscrowError && (err.reason === "not_a_recipient" || err.reason === "wrong_key")) {
      return { unlocked: false, reason: err.reason, bundle };
    }
    throw err;
  }
  await client.logInWithKeyring(bundle, opened.keyring, input);
  return { unlocked: true };
}
