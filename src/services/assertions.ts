/**
 * Checking a signed-challenge assertion end to end: consume the challenge it names
 * (single use, in the Durable Object), then verify signature and claims against
 * the given owner key. Every failure is `401 invalid_assertion` and is written to
 * the activity log as `login_failed`.
 */
import type { Context } from "hono";
import { importJWK } from "jose";
import { AssertionError, readAssertionNonce, verifyAssertion } from "../domain/assertion";
import { ApiError } from "../errors";
import { instanceStub } from "../http/instance";
import { importOnce } from "../lib/importOnce";
import type { AppEnv } from "../http/types";
import type { PublicKeys } from "../schemas/api";

/** Owner signing keys, imported once per isolate and kid (a kid is a thumbprint). */
const importSigningKey = importOnce(
  (jwk: PublicKeys["sig"]) => jwk.kid,
  (jwk) => importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "Ed25519") as Promise<CryptoKey>,
);

export async function checkAssertion(
  c: Context<AppEnv>,
  assertion: string,
  signingJwk: PublicKeys["sig"],
  purpose: "setup" | "login" | "reauth" | "key_rotation" | "restore",
): Promise<void> {
  const refuse = (reason: string) => new ApiError("invalid_assertion", "The signed challenge is not valid.", { reason });

  // Without a live challenge an attempt is noise anyone can make at will: refuse it
  // without writing to the activity log. With one (also free to get), a failure is
  // logged, and the log keeps only the newest 1,000 login_failed entries
  // (ACTIVITY_RETENTION_BY_TYPE), so a flood of them cannot push out anything else.
  const nonce = readAssertionNonce(assertion);
  if (!nonce) throw refuse("malformed assertion");
  if (!(await instanceStub(c.env).consumeChallenge(nonce))) throw refuse("unknown, used or expired challenge");
  try {
    let key: CryptoKey;
    try {
      key = await importSigningKey(signingJwk);
    } catch {
      throw new AssertionError("the public key does not import");
    }
    await verifyAssertion(assertion, key, { audience: c.get("origin"), kid: signingJwk.kid, nonce, nowMs: Date.now() });
  } catch (err) {
    if (!(err instanceof AssertionError)) throw err;
    await instanceStub(c.env).recordActivity("login_failed", null, { purpose, reason: err.reason });
    throw refuse(err.reason);
  }
}
