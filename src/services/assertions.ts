/**
 * Checking a signed-challenge assertion end to end: verify signature and claims
 * against the given key (the owner's signing key, or the recovery verifier of
 * docs/api.md §13), and consume the challenge it names (single use, in the Durable
 * Object). Every failure is `401 invalid_assertion` and is written to the activity
 * log as `login_failed`.
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
  // Without a live challenge an attempt is noise anyone can make at will: refuse it
  // without writing to the activity log. With one (also free to get), a failure is
  // logged (in the call that consumes the challenge), and the log keeps only the
  // newest 1,000 login_failed entries (ACTIVITY_RETENTION_BY_TYPE), so a flood of
  // them cannot push out anything else.
  const checked = await verifyAssertionSignature(assertion, signingJwk, ctx.origin);
  await consumeAssertionChallenge(ctx, checked, purpose);
}

/**
 * Spends the challenge an assertion names and, when its check failed, logs the
 * failure in the same object call; throws `invalid_assertion` unless both held.
 * One call either way, so a failure takes no more round trips than a success's
 * consumption (docs/api.md §13: a stranger cannot tell from them whether recovery
 * is set up).
 */
export async function consumeAssertionChallenge(
  ctx: AssertionContext,
  checked: { nonce: string; failure: string | null },
  purpose: string,
): Promise<void> {
  const failure = checked.failure === null ? null : { purpose, reason: checked.failure };
  if (!(await ctx.instance.consumeChallenge(checked.nonce, failure))) throw invalidAssertion("unknown, used or expired challenge");
  if (checked.failure !== null) throw invalidAssertion(checked.failure);
}

/**
 * The half of the check that needs no state: the challenge the assertion names,
 * and whether its signature and claims hold (`failure` says why not). Whoever calls
 * this must still consume the challenge, and log a failure only once it did (a
 * login does both in its one object call: InstanceDO.login). Throws
 * `invalid_assertion` for an assertion that names no challenge at all.
 */
export async function verifyAssertionSignature(
  assertion: string,
  signingJwk: PublicKeys["sig"],
  origin: string,
): Promise<{ nonce: string; failure: string | null }> {
  const nonce = readAssertionNonce(assertion);
  if (!nonce) throw invalidAssertion("malformed assertion");
  try {
    let key: CryptoKey;
    try {
      key = await importSigningKey(signingJwk);
    } catch {
      throw new AssertionError("the public key does not import");
    }
    await verifyAssertion(assertion, key, { audience: origin, kid: signingJwk.kid, nonce, nowMs: systemClock.nowMs() });
    return { nonce, failure: null };
  } catch (err) {
    if (!(err instanceof AssertionError)) throw err;
    return { nonce, failure: err.reason };
  }
}

/** Every refused assertion: `401 invalid_assertion`; the reason is for logs only. */
export function invalidAssertion(reason: string): ApiError {
  return new ApiError("invalid_assertion", "The signed challenge is not valid.", { reason });
}
