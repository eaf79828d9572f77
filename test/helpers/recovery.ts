/**
 * A recovery verifier for the workers tests (docs/api.md §13): an Ed25519 key pair
 * made with jose, its public JWK shaped as PUT /api/recovery takes it (kid = RFC 7638
 * thumbprint, use "sig"), as client/recovery/recoveryKey.ts derives it. The client's
 * derivation runs in workerd too, but it is typed against the DOM, which the
 * Worker's tsconfig does not load; client/ tests cover that it yields such a JWK.
 */
import { makeKeyPair } from "./owner";

export interface RecoverySigner {
  privateKey: CryptoKey;
  kid: string;
}

export interface RecoveryVerifier extends RecoverySigner {
  publicJwk: { kty: "OKP"; crv: "Ed25519"; x: string; kid: string; use: "sig" };
}

export async function makeRecoveryVerifier(): Promise<RecoveryVerifier> {
  const { privateKey, publicJwk } = await makeKeyPair("sig");
  return {
    privateKey,
    kid: publicJwk.kid,
    publicJwk: { kty: "OKP", crv: "Ed25519", x: publicJwk.x!, kid: publicJwk.kid, use: "sig" },
  };
}
