/**
 * Passkeys (docs/api.md §12): the verification policy of WebAuthn Level 3 §7.1
 * (registration) and §7.2 (authentication), and the options the browser gets.
 *
 * Parsing is @oslojs/webauthn's and @oslojs/cbor's; signatures are checked by
 * WebCrypto, which also makes every key's SPKI (from a JWK or raw key). An ES256
 * signature's DER is decoded by @noble/curves' ECDSA-Sig-Value codec (the one its
 * own P-256 verify uses; a few hundred bytes where @oslojs/crypto's
 * decodePKIXECDSASignature brought a whole ASN.1 parser and every named curve,
 * 24 KiB minified: docs/benchmarks.md, "Worker size") and re-encoded as the
 * IEEE P1363 r || s that WebCrypto's ECDSA verify takes.
 * What these functions decide is policy: they take the expected values as input
 * and return a typed verdict, never throw on bad input, and touch no storage. The
 * caller consumes the challenge atomically (it is single use), checks that a new
 * credential id is not registered yet, looks the stored passkey up by credential id,
 * and maps a failure to `400 invalid_request` (registration) or `401 invalid_code`
 * (a passkey standing in for a code).
 */
import { DER } from "@noble/curves/abstract/der.js";
import { concatBytes, numberToBytesBE } from "@noble/curves/utils.js";
import { decodeCBORToNativeValueNoLeftoverBytes } from "@oslojs/cbor";
import {
  type AuthenticatorData,
  ClientDataType,
  type COSEPublicKey,
  coseAlgorithmEdDSA,
  coseAlgorithmES256,
  coseAlgorithmRS256,
  coseEllipticCurveEd25519,
  coseEllipticCurveP256,
  COSEKeyType,
  createAssertionSignatureMessage,
  parseAuthenticatorData,
  parseClientDataJSON,
} from "@oslojs/webauthn";
import { base64urlDecode, base64urlEncode, sha256, utf8 } from "../lib/bytes";
import { isIpLiteral, parseUrl } from "../lib/url";
import { MAX_CREDENTIAL_ID_BYTES, PASSKEY_ALGORITHMS, type PasskeyAlgorithm } from "../schemas/passkeys";

// The limits the request schemas enforce too live with them (schemas sit below domain).
export { MAX_CREDENTIAL_ID_BYTES, MAX_PASSKEYS, PASSKEY_ALGORITHMS, type PasskeyAlgorithm } from "../schemas/passkeys";
/** §12: challenges are 32 random bytes, valid 300 s; the ceremony timeout matches. */
export const PASSKEY_CHALLENGE_BYTES = 32;
export const PASSKEY_CHALLENGE_TTL_MS = 300_000;
export const PASSKEY_TIMEOUT_MS = 300_000;
/** §12: the owner id (user handle) is 32 random bytes. */
export const OWNER_ID_BYTES = 32;

export type PasskeyFailure =
  /** clientDataJSON is not JSON, or lacks type/challenge/origin of the right types. */
  | "client_data_invalid"
  /** `type` is not webauthn.create (registration) / webauthn.get (authentication). */
  | "wrong_type"
  | "challenge_mismatch"
  | "origin_mismatch"
  /** clientData.crossOrigin is true: the ceremony ran in a cross-origin iframe. */
  | "cross_origin"
  /** clientData.topOrigin is present: the same, as WebAuthn L3 reports it. */
  | "top_origin"
  | "attestation_invalid"
  | "authenticator_data_invalid"
  | "rp_id_mismatch"
  | "user_not_present"
  | "user_not_verified"
  /** Registration authenticator data without attested credential data. */
  | "credential_missing"
  /** The response's id is not the credential id in the authenticator data / the stored one. */
  | "credential_id_mismatch"
  | "credential_id_too_long"
  | "unsupported_algorithm"
  | "public_key_invalid"
  /** BS (backed up) set while BE (backup eligible) is not. */
  | "backup_state_invalid"
  /** BE differs from the value stored at registration. */
  | "backup_eligibility_changed"
  | "user_handle_mismatch"
  | "signature_invalid"
  /** The signature counter did not increase on a device-bound (BE = 0) credential. */
  | "counter_not_increased";

/** The human sentence of each failure, for the `message` of the wire error. */
export const PASSKEY_FAILURE_MESSAGES: Record<PasskeyFailure, string> = {
  client_data_invalid: "The passkey response's client data is malformed.",
  wrong_type: "The passkey response is for another ceremony.",
  challenge_mismatch: "The passkey response answers another challenge.",
  origin_mismatch: "The passkey response was made for another origin.",
  cross_origin: "The passkey response was made in a cross-origin frame.",
  top_origin: "The passkey response was made in an embedded frame.",
  attestation_invalid: "The passkey's attestation object is malformed.",
  authenticator_data_invalid: "The passkey's authenticator data is malformed.",
  rp_id_mismatch: "The passkey belongs to another site.",
  user_not_present: "The authenticator did not confirm user presence.",
  user_not_verified: "The authenticator did not verify the user (a PIN or biometric is required).",
  credential_missing: "The registration response carries no credential.",
  credential_id_mismatch: "The passkey response names another credential.",
  credential_id_too_long: "The credential id is longer than 1,023 bytes.",
  unsupported_algorithm: "The passkey's algorithm is not one of EdDSA, ES256 and RS256.",
  public_key_invalid: "The passkey's public key is invalid.",
  backup_state_invalid: "The authenticator reports a backed-up credential that cannot be backed up.",
  backup_eligibility_changed: "The passkey's backup eligibility changed since it was registered.",
  user_handle_mismatch: "The passkey belongs to another user.",
  signature_invalid: "The passkey's signature is invalid.",
  counter_not_increased: "The passkey's signature counter did not increase: the authenticator may have been cloned.",
};

export type PasskeyVerdict<T> = ({ ok: true } & T) | { ok: false; reason: PasskeyFailure };

/** §4, §12: the amr value a passkey adds: device-bound `hwk`, synced `swk`. */
export type PasskeyAmr = "hwk" | "swk";
export function passkeyAmr(backupEligible: boolean): PasskeyAmr {
  return backupEligible ? "swk" : "hwk";
}

// --- relying party ---------------------------------------------------------------

export type RpIdVerdict =
  | { ok: true; rpId: string; host: string }
  | { ok: false; reason: "invalid_origin" | "ip_address_host" | "insecure_origin" };

/**
 * §12: the RP ID is ORIGIN's hostname, without the port. Browsers refuse an IP
 * address as an RP ID, so such an origin cannot use passkeys at all; `localhost` can.
 * Plain http is accepted only on a loopback name and only when the caller allows it
 * (ALLOW_INSECURE_FEDERATION, local development): browsers treat those as secure.
 * `host` (with the port, if any) is what the options name the RP and the user after.
 */
export function rpIdFor(origin: string, options: { allowInsecureLoopback?: boolean } = {}): RpIdVerdict {
  const url = parseUrl(origin);
  if (!url || url.hostname === "") return { ok: false, reason: "invalid_origin" };
  const hostname = url.hostname;
  if (isIpLiteral(hostname)) return { ok: false, reason: "ip_address_host" };
  const loopbackName = hostname === "localhost" || hostname.endsWith(".localhost");
  if (url.protocol === "http:") {
    if (!(options.allowInsecureLoopback && loopbackName)) return { ok: false, reason: "insecure_origin" };
  } else if (url.protocol !== "https:") {
    return { ok: false, reason: "invalid_origin" };
  }
  return { ok: true, rpId: hostname, host: url.host };
}

// --- options ---------------------------------------------------------------------

export interface CreationOptionsJSON {
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  challenge: string;
  pubKeyCredParams: { type: "public-key"; alg: PasskeyAlgorithm }[];
  timeout: number;
  excludeCredentials: { type: "public-key"; id: string }[];
  authenticatorSelection: { residentKey: "required"; requireResidentKey: true; userVerification: "required" };
  attestation: "none";
  extensions: { prf: Record<string, never> };
}

/**
 * The options of `POST /api/passkeys/options` (§12): rp {id, name: host}, user
 * {id: owner id, name and displayName "<OWNER_HANDLE>@<host>"}, every registered
 * passkey excluded, a discoverable credential with user verification, no attestation,
 * and PRF asked for so the client learns whether the passkey can unlock the escrow.
 */
export function registrationOptions(input: {
  rpId: string;
  host: string;
  ownerHandle: string;
  ownerId: Uint8Array;
  challenge: Uint8Array;
  /** Credential ids of the registered passkeys, base64url (as stored and listed). */
  excludeCredentialIds: readonly string[];
}): CreationOptionsJSON {
  const userName = `${input.ownerHandle}@${input.host}`;
  return {
    rp: { id: input.rpId, name: input.host },
    user: { id: base64urlEncode(input.ownerId), name: userName, displayName: userName },
    challenge: base64urlEncode(input.challenge),
    pubKeyCredParams: PASSKEY_ALGORITHMS.map((alg) => ({ type: "public-key" as const, alg })),
    timeout: PASSKEY_TIMEOUT_MS,
    excludeCredentials: input.excludeCredentialIds.map((id) => ({ type: "public-key" as const, id })),
    authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
    attestation: "none",
    extensions: { prf: {} },
  };
}

export interface RequestOptionsJSON {
  challenge: string;
  rpId: string;
  timeout: number;
  userVerification: "required";
  allowCredentials: never[];
}

/**
 * The options of `POST /auth/passkey/options` (§12). allowCredentials stays empty:
 * passkeys are discoverable, and listing their ids on a public route would leak them.
 */
export function authenticationOptions(input: { rpId: string; challenge: Uint8Array }): RequestOptionsJSON {
  return {
    challenge: base64urlEncode(input.challenge),
    rpId: input.rpId,
    timeout: PASSKEY_TIMEOUT_MS,
    userVerification: "required",
    allowCredentials: [],
  };
}

// --- shared checks ---------------------------------------------------------------

/** What both ceremonies expect; `origin` is ORIGIN serialised (`new URL(ORIGIN).origin`). */
export interface CeremonyExpectations {
  challenge: Uint8Array;
  origin: string;
  rpId: string;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** §7.1 steps 5-11 / §7.2 steps 10-16: the collected client data (base64url), and its bytes (the signature covers them). */
function readClientData(
  clientDataB64: string,
  type: ClientDataType,
  expected: CeremonyExpectations,
): PasskeyVerdict<{ bytes: Uint8Array }> {
  const bytes = base64urlDecode(clientDataB64);
  if (!bytes) return { ok: false, reason: "client_data_invalid" };
  const failure = checkClientData(bytes, type, expected);
  return failure ? { ok: false, reason: failure } : { ok: true, bytes };
}

function checkClientData(
  clientDataJSON: Uint8Array,
  type: ClientDataType,
  expected: CeremonyExpectations,
): PasskeyFailure | null {
  let clientData: ReturnType<typeof parseClientDataJSON>;
  let topOriginPresent: boolean;
  try {
    clientData = parseClientDataJSON(clientDataJSON);
    // The library does not surface L3's topOrigin; its presence alone is the refusal.
    const raw = JSON.parse(new TextDecoder().decode(clientDataJSON)) as Record<string, unknown>;
    topOriginPresent = raw.topOrigin !== undefined;
  } catch {
    // An unknown `type` is a parse error in the library; report it by name.
    return clientDataTypeIsWrong(clientDataJSON) ? "wrong_type" : "client_data_invalid";
  }
  if (clientData.type !== type) return "wrong_type";
  if (!bytesEqual(clientData.challenge, expected.challenge)) return "challenge_mismatch";
  if (clientData.origin !== expected.origin) return "origin_mismatch";
  if (clientData.crossOrigin === true) return "cross_origin";
  if (topOriginPresent) return "top_origin";
  return null;
}

function clientDataTypeIsWrong(clientDataJSON: Uint8Array): boolean {
  try {
    const raw = JSON.parse(new TextDecoder().decode(clientDataJSON)) as { type?: unknown };
    return typeof raw.type === "string" && raw.type !== "webauthn.create" && raw.type !== "webauthn.get";
  } catch {
    return false;
  }
}

/**
 * BE (bit 3) and BS (bit 4) of the flags byte (WebAuthn L3 §6.1): @oslojs/webauthn
 * 1.0 parses UP and UV only. Byte 32 is the flags byte in every authenticator data
 * the library accepted (it checked the 37-byte minimum).
 */
function backupFlags(authenticatorData: Uint8Array): { backupEligible: boolean; backedUp: boolean } {
  const flags = authenticatorData[32]!;
  return { backupEligible: (flags & 0x08) !== 0, backedUp: (flags & 0x10) !== 0 };
}

/**
 * §7.1 steps 13-18 / §7.2 steps 15-19: the authenticator data parses, and then the
 * RP ID hash, UP, UV, and BS only with BE.
 */
async function readAuthenticatorData(raw: Uint8Array, rpId: string): Promise<PasskeyVerdict<{ parsed: AuthenticatorData }>> {
  let parsed: AuthenticatorData;
  try {
    parsed = parseAuthenticatorData(raw);
  } catch {
    return { ok: false, reason: "authenticator_data_invalid" };
  }
  if (!bytesEqual(parsed.relyingPartyIdHash, await sha256(utf8(rpId)))) return { ok: false, reason: "rp_id_mismatch" };
  if (!parsed.userPresent) return { ok: false, reason: "user_not_present" };
  if (!parsed.userVerified) return { ok: false, reason: "user_not_verified" };
  const { backupEligible, backedUp } = backupFlags(raw);
  if (backedUp && !backupEligible) return { ok: false, reason: "backup_state_invalid" };
  return { ok: true, parsed };
}

// --- public keys -----------------------------------------------------------------

type ImportParams = { name: "ECDSA"; namedCurve: "P-256" } | { name: "Ed25519" } | { name: "RSASSA-PKCS1-v1_5"; hash: "SHA-256" };

function importParams(alg: PasskeyAlgorithm): ImportParams {
  switch (alg) {
    case coseAlgorithmES256:
      return { name: "ECDSA", namedCurve: "P-256" };
    case coseAlgorithmEdDSA:
      return { name: "Ed25519" };
    case coseAlgorithmRS256:
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  }
}

function isPasskeyAlgorithm(alg: number): alg is PasskeyAlgorithm {
  return (PASSKEY_ALGORITHMS as readonly number[]).includes(alg);
}

/**
 * The credential public key as SPKI DER, the one form WebCrypto imports for all
 * three algorithms, after checking that the COSE key's type and curve fit its
 * algorithm and that WebCrypto accepts it (a P-256 point must be on the curve).
 */
async function credentialKeyToSpki(key: COSEPublicKey, alg: PasskeyAlgorithm): Promise<Uint8Array | null> {
  try {
    let spki: Uint8Array;
    if (alg === coseAlgorithmES256) {
      const ec2 = key.ec2();
      if (ec2.curve !== coseEllipticCurveP256) return null;
      // Not ECDSAPublicKey.encodePKIXUncompressed(): @oslojs/crypto 1.0 writes a y
      // coordinate with leading zero bytes unpadded (about 1 key in 128), which
      // WebCrypto then refuses. WebCrypto makes the SPKI from the JWK instead.
      const jwk = { kty: "EC", crv: "P-256", x: coordinate(ec2.x), y: coordinate(ec2.y), ext: true };
      const imported = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
      spki = new Uint8Array((await crypto.subtle.exportKey("spki", imported)) as ArrayBuffer);
    } else if (alg === coseAlgorithmEdDSA) {
      const okp = key.okp();
      if (okp.curve !== coseEllipticCurveEd25519) return null;
      const imported = await crypto.subtle.importKey("raw", okp.x, { name: "Ed25519" }, true, ["verify"]);
      spki = new Uint8Array((await crypto.subtle.exportKey("spki", imported)) as ArrayBuffer);
    } else {
      // @oslojs/webauthn 1.0 takes a 2048-bit modulus and a 3-byte exponent only,
      // what RS256 authenticators (Windows Hello's TPM keys) use; others are refused.
      // WebCrypto makes the SPKI from the JWK, as for ES256.
      const rsa = key.rsa();
      const jwk = { kty: "RSA", n: unsignedInteger(rsa.n), e: unsignedInteger(rsa.e), ext: true };
      const imported = await crypto.subtle.importKey("jwk", jwk, importParams(alg), true, ["verify"]);
      spki = new Uint8Array((await crypto.subtle.exportKey("spki", imported)) as ArrayBuffer);
    }
    await crypto.subtle.importKey("spki", spki, importParams(alg), false, ["verify"]);
    return spki;
  } catch {
    return null;
  }
}

/** A P-256 coordinate as the 32-byte big-endian base64url a JWK holds. */
function coordinate(value: bigint): string {
  const hex = value.toString(16).padStart(64, "0");
  if (hex.length !== 64) throw new Error("coordinate out of range");
  return base64urlEncode(Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16)));
}

/** A JWK's unsigned big-endian integer (an RSA `n` or `e`): no leading zero bytes, base64url. */
function unsignedInteger(value: bigint): string {
  const hex = value.toString(16);
  return base64urlEncode(Uint8Array.from((hex.length % 2 ? "0" + hex : hex).match(/../g)!, (h) => parseInt(h, 16)));
}

/** The size of a P-256 scalar (r and s of an ES256 signature), in bytes. */
const P256_SCALAR_BYTES = 32;

/** §7.2 step 21: the signature over authenticatorData || SHA-256(clientDataJSON). */
async function signatureValid(
  stored: { publicKeySpki: Uint8Array; algorithm: number },
  authenticatorData: Uint8Array,
  clientDataJSON: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (!isPasskeyAlgorithm(stored.algorithm)) return false;
  const alg = stored.algorithm;
  const message = createAssertionSignatureMessage(authenticatorData, clientDataJSON);
  try {
    const key = await crypto.subtle.importKey("spki", stored.publicKeySpki, importParams(alg), false, ["verify"]);
    if (alg === coseAlgorithmES256) {
      // Authenticators send ECDSA signatures DER-encoded (WebAuthn §6.5.5);
      // WebCrypto verifies the fixed-size r || s form. DER.toSig refuses anything but
      // SEQUENCE { INTEGER r, INTEGER s } in strict DER (minimal lengths, no leading
      // zero, no negative, nothing left over), each at most 33 bytes (32 and the
      // sign byte), so both fit the 32 bytes of a P-256 scalar.
      const { r, s } = DER.toSig(signature, P256_SCALAR_BYTES + 1);
      const raw = concatBytes(numberToBytesBE(r, P256_SCALAR_BYTES), numberToBytesBE(s, P256_SCALAR_BYTES));
      return await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, message);
    }
    return await crypto.subtle.verify(importParams(alg).name, key, signature, message);
  } catch {
    return false;
  }
}

// --- registration (WebAuthn L3 §7.1) ----------------------------------------------

/** The fields of a RegistrationResponseJSON that verification reads (base64url). */
export interface RegistrationResponseInput {
  rawId: string;
  response: { clientDataJSON: string; attestationObject: string };
}

export interface RegistrationExpectations extends CeremonyExpectations {
  /** The algorithms offered in the options; defaults to all of PASSKEY_ALGORITHMS. */
  algorithms?: readonly number[];
}

/** What to store for a new passkey (binary values base64url, as the listing shows the id). */
export interface NewPasskey {
  credentialId: string;
  publicKeySpki: string;
  algorithm: PasskeyAlgorithm;
  signCount: number;
  backupEligible: boolean;
  backedUp: boolean;
}

export async function verifyRegistration(
  credential: RegistrationResponseInput,
  expected: RegistrationExpectations,
): Promise<PasskeyVerdict<{ passkey: NewPasskey }>> {
  const clientData = readClientData(credential.response.clientDataJSON, ClientDataType.Create, expected);
  if (!clientData.ok) return clientData;

  // The attestation object is decoded here rather than with the library's
  // parseAttestationObject, which refuses formats it does not know: with attestation
  // "none" requested, the statement of any format is ignored (§7.1 step 21 and
  // §5.4.7 "none"), so only its shape matters.
  const attestationObject = base64urlDecode(credential.response.attestationObject);
  if (!attestationObject) return { ok: false, reason: "attestation_invalid" };
  let authDataBytes: Uint8Array;
  try {
    const decoded = decodeCBORToNativeValueNoLeftoverBytes(attestationObject, 4) as Record<string, unknown> | null;
    if (typeof decoded !== "object" || decoded === null) return { ok: false, reason: "attestation_invalid" };
    const { fmt, attStmt, authData } = decoded;
    if (typeof fmt !== "string" || typeof attStmt !== "object" || attStmt === null || !(authData instanceof Uint8Array)) {
      return { ok: false, reason: "attestation_invalid" };
    }
    authDataBytes = authData;
  } catch {
    return { ok: false, reason: "attestation_invalid" };
  }
  const authenticatorData = await readAuthenticatorData(authDataBytes, expected.rpId);
  if (!authenticatorData.ok) return authenticatorData;
  const authData = authenticatorData.parsed;

  const attested = authData.credential;
  if (!attested) return { ok: false, reason: "credential_missing" };
  if (attested.id.length > MAX_CREDENTIAL_ID_BYTES) return { ok: false, reason: "credential_id_too_long" };
  const rawId = base64urlDecode(credential.rawId);
  if (!rawId || !bytesEqual(rawId, attested.id)) return { ok: false, reason: "credential_id_mismatch" };

  let alg: number;
  try {
    alg = attested.publicKey.algorithm();
  } catch {
    return { ok: false, reason: "public_key_invalid" };
  }
  const offered = expected.algorithms ?? PASSKEY_ALGORITHMS;
  if (!isPasskeyAlgorithm(alg) || !offered.includes(alg)) return { ok: false, reason: "unsupported_algorithm" };
  const spki = await credentialKeyToSpki(attested.publicKey, alg);
  if (!spki) return { ok: false, reason: "public_key_invalid" };

  const { backupEligible, backedUp } = backupFlags(authDataBytes);
  return {
    ok: true,
    passkey: {
      credentialId: base64urlEncode(attested.id),
      publicKeySpki: base64urlEncode(spki),
      algorithm: alg,
      signCount: authData.signatureCounter,
      backupEligible,
      backedUp,
    },
  };
}

// --- signature counter (WebAuthn L3 §6.1.1) ------------------------------------------

export type SignCountVerdict =
  | { ok: true; signCount: number; cloneSuspected: boolean }
  | { ok: false; reason: "counter_not_increased"; cloneSuspected: true };

/**
 * §12: when either counter is non-zero and the new one is not greater, a clone is
 * suspected (the caller logs `passkey_clone_suspected`). Only a device-bound
 * credential (BE = 0) is refused for it: a synced passkey's copies legitimately
 * disagree. The stored counter is never lowered, so a replayed low counter cannot
 * reset it. Synced passkeys that always report 0 pass without suspicion.
 */
export function checkSignCount(stored: number, received: number, backupEligible: boolean): SignCountVerdict {
  const suspicious = (stored !== 0 || received !== 0) && received <= stored;
  if (suspicious && !backupEligible) return { ok: false, reason: "counter_not_increased", cloneSuspected: true };
  return { ok: true, signCount: Math.max(stored, received), cloneSuspected: suspicious };
}

// --- authentication (WebAuthn L3 §7.2) ------------------------------------------------

/** The fields of an AuthenticationResponseJSON that verification reads (base64url). */
export interface AuthenticationResponseInput {
  rawId: string;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string | null };
}

/** A registered passkey as stored (the fields verification needs). */
export interface StoredPasskey {
  credentialId: string;
  publicKeySpki: string;
  algorithm: number;
  signCount: number;
  backupEligible: boolean;
}

export interface AuthenticationExpectations extends CeremonyExpectations {
  /** The owner id (user handle), base64url. */
  ownerId: string;
}

/** What to update on the stored passkey, and what the login records. */
export interface PasskeyUse {
  signCount: number;
  backedUp: boolean;
  /** Log `passkey_clone_suspected` (the assertion may still have been accepted). */
  cloneSuspected: boolean;
  amr: PasskeyAmr;
}

/** A signed assertion, before the counter rule. */
export interface VerifiedAssertion {
  /** The counter the authenticator reported. */
  receivedSignCount: number;
  backedUp: boolean;
  amr: PasskeyAmr;
}

/**
 * §7.2 whole: `verifyAssertion`, then the counter rule against `stored.signCount`.
 * The caller found `stored` by the response's credential id (an unknown id is a
 * failure the caller reports without calling this). On `counter_not_increased`
 * the caller also logs `passkey_clone_suspected`.
 */
export async function verifyAuthentication(
  credential: AuthenticationResponseInput,
  stored: StoredPasskey,
  expected: AuthenticationExpectations,
): Promise<PasskeyVerdict<{ use: PasskeyUse }>> {
  const verdict = await verifyAssertion(credential, stored, expected);
  if (!verdict.ok) return verdict;
  const { receivedSignCount, backedUp, amr } = verdict.assertion;
  const counter = checkSignCount(stored.signCount, receivedSignCount, stored.backupEligible);
  if (!counter.ok) return { ok: false, reason: counter.reason };
  return { ok: true, use: { signCount: counter.signCount, backedUp, cloneSuspected: counter.cloneSuspected, amr } };
}

/**
 * §7.2 without the counter rule (steps 5-21): everything the signature and the
 * expectations decide. A caller that holds the counter in storage applies
 * `checkSignCount` where it spends the challenge, against the counter as it is
 * then: only the request that spent it reaches a counter verdict (and logs a
 * suspected clone), and concurrent uses cannot both pass on one old counter.
 */
export async function verifyAssertion(
  credential: AuthenticationResponseInput,
  stored: Omit<StoredPasskey, "signCount">,
  expected: AuthenticationExpectations,
): Promise<PasskeyVerdict<{ assertion: VerifiedAssertion }>> {
  const rawId = base64urlDecode(credential.rawId);
  const storedId = base64urlDecode(stored.credentialId);
  if (!rawId || !storedId || !bytesEqual(rawId, storedId)) return { ok: false, reason: "credential_id_mismatch" };
  const { userHandle } = credential.response;
  if (userHandle !== undefined && userHandle !== null) {
    const received = base64urlDecode(userHandle);
    const ownerId = base64urlDecode(expected.ownerId);
    if (!received || !ownerId || !bytesEqual(received, ownerId)) return { ok: false, reason: "user_handle_mismatch" };
  }
  const clientData = readClientData(credential.response.clientDataJSON, ClientDataType.Get, expected);
  if (!clientData.ok) return clientData;

  const authDataBytes = base64urlDecode(credential.response.authenticatorData);
  if (!authDataBytes) return { ok: false, reason: "authenticator_data_invalid" };
  const authenticatorData = await readAuthenticatorData(authDataBytes, expected.rpId);
  if (!authenticatorData.ok) return authenticatorData;
  const { backupEligible, backedUp } = backupFlags(authDataBytes);
  if (backupEligible !== stored.backupEligible) return { ok: false, reason: "backup_eligibility_changed" };

  const signature = base64urlDecode(credential.response.signature);
  const publicKeySpki = base64urlDecode(stored.publicKeySpki);
  if (!signature || !publicKeySpki) return { ok: false, reason: "signature_invalid" };
  const valid = await signatureValid(
    { publicKeySpki, algorithm: stored.algorithm },
    authDataBytes,
    clientData.bytes,
    signature,
  );
  if (!valid) return { ok: false, reason: "signature_invalid" };

  // The counter is reported only now, after the signature: an unsigned one would say nothing.
  const receivedSignCount = authenticatorData.parsed.signatureCounter;
  return { ok: true, assertion: { receivedSignCount, backedUp, amr: passkeyAmr(backupEligible) } };
}
