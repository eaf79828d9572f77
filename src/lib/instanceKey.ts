/**
 * The instance's own Ed25519 key (secret INSTANCE_SIGNING_KEY, a private JWK in
 * JSON). It signs access tokens. Imported once per isolate: every API request
 * verifies a JWT, and re-importing the key each time would waste CPU.
 */
import { calculateJwkThumbprint, importJWK, type JWK } from "jose";
import { importSecretOnce } from "./importOnce";

export interface InstanceKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export const loadInstanceKey = importSecretOnce("INSTANCE_SIGNING_KEY", importInstanceKey);

async function importInstanceKey(secret: string): Promise<InstanceKey> {
  const jwk = JSON.parse(secret) as JWK;
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.d || !jwk.x) {
    throw new Error("INSTANCE_SIGNING_KEY must be an Ed25519 private JWK");
  }
  const { d: _d, ...publicJwk } = jwk;
  const [privateKey, publicKey, kid] = await Promise.all([
    importJWK(jwk, "EdDSA") as Promise<CryptoKey>,
    importJWK(publicJwk, "EdDSA") as Promise<CryptoKey>,
    calculateJwkThumbprint(publicJwk, "sha256"),
  ]);
  return { kid, privateKey, publicKey };
}
