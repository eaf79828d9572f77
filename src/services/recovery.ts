/**
 * Recovery (docs/api.md §13) steps that several routes share: checking an assertion
 * by the recovery verifier (POST /auth/recovery, POST /auth/escrow {recovery}),
 * completing a ready request (POST /auth/escrow) and redeeming the ticket that
 * completion issued (POST /auth/login {mfaTicket}).
 */
import { ApiError } from "../errors";
import { randomToken, sha256Base64url } from "../lib/bytes";
import type { PublicKeys } from "../schemas/api";
import { consumeAssertionChallenge, verifyAssertionSignature, type AssertionContext } from "./assertions";

const RECOVERY_TICKET_BYTES = 32;

/**
 * Stands in for the verifier while none is configured, so that the refusal does the
 * same work: the signature is checked against it (the same Ed25519 verification)
 * and then refused whatever the outcome. It is RFC 8037's example key (A.1), whose
 * private half is published: a signature that verifies is still refused.
 */
const NO_VERIFIER: PublicKeys["sig"] = {
  kty: "OKP",
  crv: "Ed25519",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  // Not its thumbprint: a name no verifier has (a kid is a 43-character thumbprint).
  kid: "none",
  use: "sig",
};

/**
 * Checks an assertion by the configured recovery verifier (consuming its challenge,
 * as a login does) and returns the verifier's kid. With no verifier configured the
 * answer is the same `401 invalid_assertion`, reached by the same steps and object
 * calls (the verifier's read, then one call that consumes the challenge and logs the
 * failure), so a stranger learns nothing about whether recovery is set up, neither
 * from the answer nor from its timing.
 */
export async function checkRecoveryAssertion(ctx: AssertionContext, assertion: string): Promise<string> {
  const verifier = await ctx.instance.recoveryVerifier();
  const checked = await verifyAssertionSignature(assertion, verifier?.jwk ?? NO_VERIFIER, ctx.origin);
  const failure = verifier ? checked.failure : (checked.failure ?? "no recovery verifier");
  await consumeAssertionChallenge(ctx, { nonce: checked.nonce, failure }, "recovery");
  // A failure threw above, and without a verifier there is always one.
  return verifier!.jwk.kid;
}

/**
 * POST /auth/escrow {recovery}: the verifier's assertion spends the ready request
 * and returns a fresh mfa ticket whose login gets amr ["pop", "rcv"]. Before
 * readyAt: `403 forbidden`, naming readyAt; more than `windowMs` (RECOVERY_WINDOW_S)
 * after it, or without an open request: `403 forbidden`.
 */
export async function completeRecovery(ctx: AssertionContext, assertion: string, windowMs: number): Promise<string> {
  const kid = await checkRecoveryAssertion(ctx, assertion);
  const ticket = randomToken(RECOVERY_TICKET_BYTES);
  const result = await ctx.instance.completeRecovery(kid, await sha256Base64url(ticket), windowMs);
  if (result.ok) return ticket;
  if (result.error === "expired") {
    throw new ApiError("forbidden", "The recovery request expired: start a new one.");
  }
  if (result.error === "not_ready") {
    throw new ApiError(
      "forbidden",
      `The recovery request is still waiting: it can be completed from ${new Date(result.readyAtMs).toISOString()} (readyAt ${result.readyAtMs}).`,
      { reason: "recovery not ready" },
    );
  }
  throw new ApiError("forbidden", "No recovery request is open: start one with POST /auth/recovery.", {
    reason: "no open recovery request",
  });
}

