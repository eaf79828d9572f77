/**
 * Step-up (PROTOCOL.md §4): some routes need a login at most 5 minutes old, with a
 * second factor when 2FA is on. `stepUp` re-signs a challenge (plus the code given)
 * only when the current token would not do.
 */
import type { SecondFactor } from "../../client/owner";
import type { AppContext } from "../context";

/** True when the action can run now without a code for step-up. */
export function stepUpReady(ctx: AppContext): boolean {
  return ctx.client.stepUpFresh(ctx.twoFactorOn);
}

/** Re-authenticates if needed. Returns whether the given factor was used up by it. */
export async function stepUp(ctx: AppContext, factor: SecondFactor | null): Promise<boolean> {
  if (stepUpReady(ctx)) return false;
  await ctx.client.reauth(ctx.twoFactorOn ? (factor ?? undefined) : undefined);
  return ctx.twoFactorOn && factor !== null;
}
