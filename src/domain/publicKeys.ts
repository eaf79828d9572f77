/**
 * docs/api.md §1: each public JWK carries `kid` = its RFC 7638 SHA-256 thumbprint.
 * The shape (OKP, curve, `use`, no private members) is checked by the zod schemas;
 * this checks what a schema cannot: that each kid really is the key's thumbprint.
 */
import { calculateJwkThumbprint } from "jose";
import type { PublicKeys } from "../schemas/api";

export async function findThumbprintMismatch(keys: PublicKeys): Promise<"sig" | "enc" | null> {
  for (const use of ["sig", "enc"] as const) {
    const { kty, crv, x, kid } = keys[use];
    if ((await calculateJwkThumbprint({ kty, crv, x }, "sha256")) !== kid) return use;
  }
  return null;
}

/** One key: is its kid the RFC 7638 thumbprint (the recovery verifier, docs/api.md §13)? */
export async function isThumbprintKid(jwk: { kty: string; crv: string; x: string; kid: string }): Promise<boolean> {
  const { kty, crv, x, kid } = jwk;
  return (await calculateJwkThumbprint({ kty, crv, x }, "sha256")) === kid;
}
