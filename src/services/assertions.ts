/**
 * Checking a signed-challenge assertion end to end: consume the challenge it names
 * (single use, in the Durable Object), then verify signature and claims against
 * the given key: the owner's signing key, or the recovery verifier (PROTOCOL.md
 * §13). Every failure is `401 invalid_assertion` and is written to the activity log
 * as `login_failed`.
 */
import { importJWK } from "jose";
import { AssertionError, readAssertionNonce, verifyAssertion } from "../domain/assertion";
import type { InstanceStub } from "../durable/stub";
import { ApiError } from "../errors";
import { systemClock } from "../lib/clock";
import { importOnce } from "../lib/importOnce";
import type { PublicKeys } from "../schemas/api";

/** Owner signing keys, imported once per isolate and kid (a kid is a thumbprint). */
const importSigningKey = importOnce(
  (jwk: PublicKeys["sig"]) => jwk.kid,
  (jwk) => importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "Ed25519") as Promise<CryptoKey>,
);

/** Where an assertion is checked: the object that holds the challenges, and the audience (ORIGIN). */
export interface AssertionContext {
  instance: InstanceStub;
  origin: string;
}

export async function checkAssertion(
  ctx: AssertionContext,
  assertion: string,
  signingJwk: PublicKeys["sig"],
  purpose: "setup" | "login" | "reauth" | "key_rotation" | "restore" | "recovery",
): Promise<void> {
  const refuse = (reason: string) => new ApiError("invalid_assertion", "The signed challenge is not valid.", { reason });

  // Without a live challenge an attempt is noise anyone can make at will: refuse it
  // without writing to the activity log. With one (also free to get), a failure is
  // logged, and the log keeps only the newest 1,000 login_failed entries
  // (ACTIVITY_RETENTION_BY_TYPE), so a flood of them cannot push out anything else.
  const nonce = readAssertionNonce(assertion);
  if (!nonce) throw refuse("malformed assertion");
  if (!(await ctx.instance.consumeChallenge(nonce))) throw refuse("unknown, used or expired challenge");
  try {
    let key: CryptoKey;
    try {
      key = await importSigningKey(signingJwk);
    } catch {
      throw new AssertionError("the public key does not import");
    }
    await verifyAssertion(assertion, key, { audience: ctx.origin, kid: signingJwk.kid, nonce, nowMs: systemClock.nowMs() });
  } catch (err) {
    if (!(err instanceof AssertionError)) throw err;
    await ctx.instance.recordActivity("login_failed", null, { purpose, reason: err.reason });
    throw refuse(err.reason);
  }
}
