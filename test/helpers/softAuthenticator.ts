/**
 * A test-only WebAuthn authenticator: fresh registration and authentication
 * responses over server-chosen challenges, for unit and workerd route tests, and
 * each way a response can be wrong (wrong origin, cross-origin, topOrigin, wrong RP
 * ID hash, UV unset, BS without BE, counter going backwards, an algorithm the server
 * does not take, an oversized credential id, the wrong ceremony type).
 *
 * CBOR comes from cbor2's encoder and keys and signatures from WebCrypto; only the
 * fixed byte layout of authenticator data (WebAuthn L3 §6.1) is written here. The
 * real-browser counterpart is test/fixtures/webauthn/ (Chromium's virtual authenticator).
 */
import { encode } from "cbor2";
import { decodeIEEEP1363ECDSASignature, p256, p384 } from "@oslojs/crypto/ecdsa";
import { base64urlDecode, base64urlEncode, randomBytes, sha256, utf8 } from "../../src/lib/bytes";

/** -8 EdDSA, -7 ES256, -257 RS256 (what the server takes), -35 ES384 (what it does not). */
export type SoftAlgorithm = -8 | -7 | -257 | -35;

/** A PublicKeyCredential as JSON around its `response`, as both ceremonies return it. */
interface CredentialJSON<R> {
  id: string;
  rawId: string;
  type: "public-key";
  response: R;
  authenticatorAttachment: "platform";
  clientExtensionResults: Record<string, unknown>;
}

export type RegistrationResponseJSON = CredentialJSON<{ clientDataJSON: string; attestationObject: string; transports: string[] }>;

export type AuthenticationResponseJSON = CredentialJSON<{
  clientDataJSON: string;
  authenticatorData: string;
  signature: string;
  userHandle?: string;
}>;

/** What the browser hands the authenticator in either ceremony, and what to get wrong. */
export interface CeremonyInput {
  challenge: Uint8Array;
  origin: string;
  rpId: string;
  tamper?: Tamper;
}

/** Ways to make one response wrong; absent fields take the honest value. */
export interface Tamper {
  type?: string;
  origin?: string;
  crossOrigin?: boolean;
  topOrigin?: string;
  /** Hash this RP ID into the authenticator data instead of the real one. */
  rpId?: string;
  up?: boolean;
  uv?: boolean;
  be?: boolean;
  bs?: boolean;
  /** Report this signature counter (and do not advance the authenticator's own). */
  signCount?: number;
  /** Authentication: send this userHandle (null: omit it). */
  userHandle?: string | null;
  /** Registration: attestation format and statement (default none / {}). */
  fmt?: string;
  attStmt?: Record<string, unknown>;
  /** Flip a bit of the signature. */
  badSignature?: boolean;
  /** ES256: send this re-encoding of the (valid) DER signature instead, e.g. a BER one. */
  reencodeSignature?: (der: Uint8Array) => Uint8Array;
  /** Extra clientData members (e.g. a challenge in another encoding). */
  clientData?: Record<string, unknown>;
}

export interface SoftAuthenticatorOptions {
  alg?: SoftAlgorithm;
  /** BE: a synced (backup-eligible) credential. Default false (device-bound). */
  backupEligible?: boolean;
  backedUp?: boolean;
  credentialIdBytes?: number;
  /** First counter value reported; each assertion adds 1. 0 with `fixedZeroCounter` stays 0. */
  signCount?: number;
  fixedZeroCounter?: boolean;
  /** RS256 modulus size (default 2048). */
  rsaModulusBits?: number;
  /** Write this COSE `alg` into the public key instead of the key's own. */
  coseAlg?: number;
}

const ALG_PARAMS = {
  [-8]: { gen: { name: "Ed25519" }, sign: { name: "Ed25519" } },
  [-7]: { gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  [-35]: { gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } },
  [-257]: {
    gen: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  },
} as const;

function b64(bytes: Uint8Array): string {
  return base64urlEncode(bytes);
}

function unb64(text: string): Uint8Array {
  const bytes = base64urlDecode(text);
  if (!bytes) throw new Error("bad base64url in a JWK");
  return bytes;
}

export class SoftAuthenticator {
  readonly credentialId: Uint8Array;
  signCount: number;

  private constructor(
    readonly alg: SoftAlgorithm,
    private readonly keys: CryptoKeyPair,
    private readonly options: SoftAuthenticatorOptions,
  ) {
    this.credentialId = randomBytes(options.credentialIdBytes ?? 32);
    this.signCount = options.signCount ?? 0;
  }

  static async create(options: SoftAuthenticatorOptions = {}): Promise<SoftAuthenticator> {
    const alg = options.alg ?? -7;
    const gen =
      alg === -257 && options.rsaModulusBits
        ? { ...ALG_PARAMS[-257].gen, modulusLength: options.rsaModulusBits }
        : ALG_PARAMS[alg].gen;
    const keys = (await crypto.subtle.generateKey(gen, true, ["sign", "verify"])) as CryptoKeyPair;
    return new SoftAuthenticator(alg, keys, options);
  }

  get credentialIdB64(): string {
    return b64(this.credentialId);
  }

  /** The public key as a JWK (e.g. to see its coordinates). */
  async publicJwk(): Promise<JsonWebKey> {
    return (await crypto.subtle.exportKey("jwk", this.keys.publicKey)) as JsonWebKey;
  }

  /** The COSE_Key (RFC 9053) of the public key, CBOR-encoded. */
  async coseKey(): Promise<Uint8Array> {
    const jwk = (await crypto.subtle.exportKey("jwk", this.keys.publicKey)) as JsonWebKey;
    const alg = this.options.coseAlg ?? this.alg;
    let map: Map<number, number | Uint8Array>;
    if (this.alg === -8) map = new Map<number, number | Uint8Array>([[1, 1], [3, alg], [-1, 6], [-2, unb64(jwk.x!)]]);
    else if (this.alg === -257) map = new Map<number, number | Uint8Array>([[1, 3], [3, alg], [-1, unb64(jwk.n!)], [-2, unb64(jwk.e!)]]);
    else {
      const crv = this.alg === -7 ? 1 : 2;
      map = new Map<number, number | Uint8Array>([[1, 2], [3, alg], [-1, crv], [-2, unb64(jwk.x!)], [-3, unb64(jwk.y!)]]);
    }
    return encode(map);
  }

  private clientDataJSON(
    type: string,
    challenge: Uint8Array,
    origin: string,
    tamper: Tamper,
  ): Uint8Array<ArrayBuffer> {
    const data: Record<string, unknown> = {
      type: tamper.type ?? type,
      challenge: b64(challenge),
      origin: tamper.origin ?? origin,
      crossOrigin: tamper.crossOrigin ?? false,
      ...(tamper.topOrigin !== undefined ? { topOrigin: tamper.topOrigin } : {}),
      ...tamper.clientData,
    };
    return utf8(JSON.stringify(data));
  }

  private async authenticatorData(
    rpId: string,
    tamper: Tamper,
    signCount: number,
    attested: Uint8Array | null,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const rpIdHash = await sha256(utf8(tamper.rpId ?? rpId));
    const be = tamper.be ?? this.options.backupEligible ?? false;
    const bs = tamper.bs ?? (be && (this.options.backedUp ?? true));
    const flags =
      ((tamper.up ?? true) ? 0x01 : 0) |
      ((tamper.uv ?? true) ? 0x04 : 0) |
      (be ? 0x08 : 0) |
      (bs ? 0x10 : 0) |
      (attested ? 0x40 : 0);
    const out = new Uint8Array(37 + (attested?.length ?? 0));
    out.set(rpIdHash, 0);
    out[32] = flags;
    new DataView(out.buffer).setUint32(33, signCount);
    if (attested) out.set(attested, 37);
    return out;
  }

  /** The credential's id twice, around `response`, as the browser serialises it. */
  private credentialJSON<R>(response: R, clientExtensionResults: Record<string, unknown>): CredentialJSON<R> {
    const id = this.credentialIdB64;
    return { id, rawId: id, type: "public-key", response, authenticatorAttachment: "platform", clientExtensionResults };
  }

  /** navigator.credentials.create() with attestation "none". */
  async register(input: CeremonyInput): Promise<RegistrationResponseJSON> {
    const tamper = input.tamper ?? {};
    const cose = await this.coseKey();
    // Attested credential data: AAGUID (zero for "none"), id length, id, key.
    const attested = new Uint8Array(18 + this.credentialId.length + cose.length);
    new DataView(attested.buffer).setUint16(16, this.credentialId.length);
    attested.set(this.credentialId, 18);
    attested.set(cose, 18 + this.credentialId.length);
    const signCount = tamper.signCount ?? this.signCount;
    const authData = await this.authenticatorData(input.rpId, tamper, signCount, attested);
    const attestationObject = encode(
      new Map<string, unknown>([
        ["fmt", tamper.fmt ?? "none"],
        ["attStmt", tamper.attStmt ?? {}],
        ["authData", authData],
      ]),
    );
    const response = {
      clientDataJSON: b64(this.clientDataJSON("webauthn.create", input.challenge, input.origin, tamper)),
      attestationObject: b64(attestationObject),
      transports: ["internal"],
    };
    return this.credentialJSON(response, { prf: { enabled: true } });
  }

  /** navigator.credentials.get(): the counter advances unless it is fixed at zero. */
  async authenticate(input: CeremonyInput & { userHandle: string }): Promise<AuthenticationResponseJSON> {
    const tamper = input.tamper ?? {};
    let signCount: number;
    if (tamper.signCount !== undefined) signCount = tamper.signCount;
    else {
      if (!this.options.fixedZeroCounter) this.signCount += 1;
      signCount = this.signCount;
    }
    const authData = await this.authenticatorData(input.rpId, tamper, signCount, null);
    const clientDataJSON = this.clientDataJSON("webauthn.get", input.challenge, input.origin, tamper);
    const message = new Uint8Array([...authData, ...(await sha256(clientDataJSON))]);
    let signature: Uint8Array = new Uint8Array(await crypto.subtle.sign(ALG_PARAMS[this.alg].sign, this.keys.privateKey, message));
    // Authenticators send ECDSA signatures DER-encoded (WebAuthn §6.5.5).
    if (this.alg === -7) signature = decodeIEEEP1363ECDSASignature(p256, signature).encodePKIX();
    if (this.alg === -7 && tamper.reencodeSignature) signature = tamper.reencodeSignature(signature);
    if (this.alg === -35) signature = decodeIEEEP1363ECDSASignature(p384, signature).encodePKIX();
    if (tamper.badSignature) signature[signature.length - 1] = signature[signature.length - 1]! ^ 0x01;
    const userHandle = tamper.userHandle === undefined ? input.userHandle : tamper.userHandle;
    const response = {
      clientDataJSON: b64(clientDataJSON),
      authenticatorData: b64(authData),
      signature: b64(signature),
      ...(userHandle !== null ? { userHandle } : {}),
    };
    return this.credentialJSON(response, {});
  }
}
