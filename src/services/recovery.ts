/**
 * Recovery (docs/api.md §13) steps that several routes share: checking an assertion
 * by the recovery verifier (POST /auth/recovery, POST /auth/escrow {recovery}),
 * completing a ready request (POST /auth/escrow) and redeeming the ticket that
 * completion issued (POST /auth/login {mfaTicket}).
 */
import { readAssertionNonce } from "../domain/assertion";
import { ApiError } from "../errors";
import { randomToken, sha256Base64url } from "../lib/bytes";
import { checkAssertion, type AssertionContext } from "./assertions";

const RECOVERY_TICKET_BYTES = 32;

/**
 * Checks an assertion by the configured recovery verifier (consuming its challenge,
 * as a login does) and returns the verifier's kid. With no verifier configured the
 * challenge is still consumed and the answer is the same `401 invalid_assertion`,
 * so a stranger learns nothing about whether recovery is set up.
 */
export async function checkRecoveryAssertion(ctx: AssertionContext, assertion: string): Promise<string> {
  const verifier = await ctx.instance.recoveryVerifier();
  if (!verifier) {
    const nonce = readAssertionNonce(assertion);
    if (nonce) await ctx.instance.consumeChallenge(nonce);
    throw new ApiError("invalid_assertion", "The signed challenge is not valid.", { reason: "no recovery verifier" });
  }
  await checkAssertion(ctx, assertion, verifier.jwk, "recovery");
  return verifier.jwk.kid;
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
    throw new ApiError("forbidden", "The recovery request expired unused: start a new one with POST /auth/recovery.", {
      reason: "recovery expired",
    });
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

/** True when `ticket` is a live ticket of a completed recovery (spent by this call). */
export async function redeemRecoveryTicket(ctx: Pick<AssertionContext, "instance">, ticket: string): Promise<boolean> {
  return await ctx.instance.redeemRecoveryTicket(await sha256Base64url(ticket));
}
