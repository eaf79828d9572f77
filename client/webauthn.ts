/**
 * The browser half of WebAuthn ceremonies (docs/api.md §12): the server's options
 * JSON → navigator.credentials → the response JSON the server verifies. Written out
 * by hand rather than with PublicKeyCredential.toJSON() for two reasons: toJSON()
 * would serialize the PRF output into `clientExtensionResults`, and §12 says extension
 * results never reach the server; and the SDK's unit tests run in Node, where a
 * fake CredentialsContainer returns plain objects.
 *
 * No WebAuthn check happens here: the server verifies everything (src/domain/passkeys.ts).
 */
import type * as z from "zod/mini";
import type { AuthenticationResponse, RegistrationResponse } from "../src/schemas/passkeys";
import type { creationOptionsSchema, requestOptionsSchema } from "./passkeySchemas";
import { base64urlDecode, base64urlEncode, randomBytes } from "../src/lib/bytes";
import { IndieError } from "./errors";

export type CreationOptionsJSON = z.infer<typeof creationOptionsSchema>;
export type RequestOptionsJSON = z.infer<typeof requestOptionsSchema>;

/** The part of `navigator.credentials` the SDK uses (tests pass a fake). */
export interface CredentialsLike {
  create(options: CredentialCreationOptions): Promise<Credential | null>;
  get(options: CredentialRequestOptions): Promise<Credential | null>;
}

export function defaultCredentials(): CredentialsLike | null {
  const nav = globalThis.navigator as Navigator | undefined;
  if (!nav?.credentials || typeof globalThis.PublicKeyCredential !== "function") return null;
  return nav.credentials;
}

function bytes(b64: string): Uint8Array<ArrayBuffer> {
  const out = base64urlDecode(b64);
  if (!out) throw new IndieError("bad_response", "The server sent passkey options that are not base64url.");
  return out;
}

const b64 = (buf: ArrayBuffer | ArrayBufferView) =>
  base64urlEncode(buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));

/** The PRF extension input for unlock: `eval.first` (docs/api.md §12). */
export type PrfInput = { eval: { first: BufferSource } };

export function creationOptionsFromJSON(json: CreationOptionsJSON): PublicKeyCredentialCreationOptions {
  return {
    rp: json.rp,
    user: { id: bytes(json.user.id), name: json.user.name, displayName: json.user.displayName },
    challenge: bytes(json.challenge),
    pubKeyCredParams: json.pubKeyCredParams,
    timeout: json.timeout,
    excludeCredentials: json.excludeCredentials.map((c) => ({ type: c.type, id: bytes(c.id) })),
    authenticatorSelection: json.authenticatorSelection,
    attestation: json.attestation,
    // `prf: {}` asks whether the passkey supports PRF (results.enabled).
    extensions: { prf: {} } as AuthenticationExtensionsClientInputs,
  };
}

export function requestOptionsFromJSON(
  json: RequestOptionsJSON,
  input: { allowCredentialIds?: string[]; prf?: PrfInput } = {},
): PublicKeyCredentialRequestOptions {
  return {
    challenge: bytes(json.challenge),
    rpId: json.rpId,
    timeout: json.timeout,
    userVerification: json.userVerification,
    allowCredentials: (input.allowCredentialIds ?? []).map((id) => ({ type: "public-key", id: bytes(id) })),
    ...(input.prf ? { extensions: { prf: input.prf } as AuthenticationExtensionsClientInputs } : {}),
  };
}

/** Runs a ceremony; a dismissed or timed-out prompt becomes `passkey_cancelled`. */
export async function ceremony<T extends Credential>(run: () => Promise<Credential | null>): Promise<T> {
  let credential: Credential | null;
  try {
    credential = await run();
  } catch (err) {
    const name = (err as { name?: string } | null)?.name;
    if (name === "NotAllowedError" || name === "AbortError") {
      throw new IndieError("passkey_cancelled", "The passkey prompt was closed or timed out, or no passkey was chosen.", { cause: err });
    }
    if (name === "InvalidStateError") {
      throw new IndieError("invalid_request", "This authenticator already holds a passkey for this instance.", { cause: err });
    }
    if (name === "NotSupportedError" || name === "SecurityError") {
      throw new IndieError("passkey_unsupported", "Passkeys cannot be used here (this browser, or this address).", { cause: err });
    }
    throw err;
  }
  if (!credential) throw new IndieError("passkey_cancelled", "No passkey was chosen.");
  return credential as T;
}

interface PrfResults {
  enabled?: boolean;
  results?: { first?: BufferSource };
}

/** The PRF results of a ceremony, if any. The caller consumes (and zeroes) `first`. */
export function prfResults(credential: PublicKeyCredential): PrfResults | undefined {
  return (credential.getClientExtensionResults() as { prf?: PrfResults }).prf;
}

/** `first` as a fresh Uint8Array (the caller zeroes it), or null. */
export function prfFirst(credential: PublicKeyCredential): Uint8Array<ArrayBuffer> | null {
  const first = prfResults(credential)?.results?.first;
  if (!first) return null;
  const view = first instanceof ArrayBuffer ? new Uint8Array(first) : new Uint8Array(first.buffer, first.byteOffset, first.byteLength);
  const copy = new Uint8Array(view);
  // Zero the browser's buffer too: only our copy, about to be consumed, remains.
  view.fill(0);
  return copy;
}

export function registrationToJSON(credential: PublicKeyCredential): RegistrationResponse {
  const response = credential.response as AuthenticatorAttestationResponse;
  const id = b64(credential.rawId);
  const transports = typeof response.getTransports === "function" ? response.getTransports() : undefined;
  return {
    id,
    rawId: id,
    type: "public-key",
    response: {
      clientDataJSON: b64(response.clientDataJSON),
      attestationObject: b64(response.attestationObject),
      ...(transports ? { transports } : {}),
    },
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    // Always empty: PRF results never leave the page (§12), and the server drops
    // every other extension result unread.
    clientExtensionResults: {},
  };
}

export function authenticationToJSON(credential: PublicKeyCredential): AuthenticationResponse {
  const response = credential.response as AuthenticatorAssertionResponse;
  const id = b64(credential.rawId);
  return {
    id,
    rawId: id,
    type: "public-key",
    response: {
      clientDataJSON: b64(response.clientDataJSON),
      authenticatorData: b64(response.authenticatorData),
      signature: b64(response.signature),
      userHandle: response.userHandle ? b64(response.userHandle) : null,
    },
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    // Always empty: PRF results never leave the page (§12), and the server drops
    // every other extension result unread.
    clientExtensionResults: {},
  };
}

/** A challenge for a ceremony the server never sees (the PRF test after registration). */
export function localChallenge(): Uint8Array<ArrayBuffer> {
  return randomBytes(32);
}
