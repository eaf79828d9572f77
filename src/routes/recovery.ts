/**
 * docs/api.md §13: recovery. The owner sets the recovery verifier (step-up), anyone
 * holding the recovery key may start a request (public, rate limited), which waits
 * RECOVERY_DELAY_S while every session can see and cancel it. Completing it is a
 * second factor of POST /auth/escrow (services/recovery.ts), in routes/auth.ts.
 */
import { Hono } from "hono/tiny";
import { isThumbprintKid } from "../domain/publicKeys";
import { instanceStub } from "../durable/stub";
import { ApiError } from "../errors";
import { requireStepUpNow } from "../http/auth";
import { recoveryNeedsTwoFactorOn } from "../instanceErrors";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { recoveryConfigureRequestSchema, recoveryStartRequestSchema } from "../schemas/recovery";
import type { Reply } from "../schemas/routes";
import { requireClaimedKeys } from "../services/ownerKeys";
import { checkRecoveryAssertion } from "../services/recovery";

/** Mounted at /api (Bearer). */
export const recoveryRoutes = new Hono<AppEnv>();
/** Mounted at /auth (public). */
export const recoveryAuthRoutes = new Hono<AppEnv>();

recoveryRoutes.get("/recovery", async (c) => {
  const { verifier, request } = await instanceStub(c.env).recoveryStatus(c.get("settings").recoveryWindowS * 1000);
  return c.json({
    configured: verifier !== null,
    configuredAt: verifier?.configuredAtMs,
    request: request ? { id: request.id, createdAt: request.createdAtMs, readyAt: request.readyAtMs } : undefined,
  } satisfies Reply<"GET /api/recovery">);
});

recoveryRoutes.put("/recovery", async (c) => {
  requireStepUpNow(c);
  const { verifier } = await readJson(c, recoveryConfigureRequestSchema);
  if (verifier && !(await isThumbprintKid(verifier))) {
    throw new ApiError("invalid_request", "verifier.kid must be its RFC 7638 thumbprint.");
  }
  // A verifier only while 2FA is on (docs/recovery.md, "Where this differs from the protocol").
  const configured = await instanceStub(c.env).configureRecovery(verifier, c.get("auth").sid);
  if (!configured.ok) throw recoveryNeedsTwoFactorOn();
  return c.body(null, 204);
});

/**
 * Step-up, unlike protocol §13's "any session" (docs/recovery.md, "Where this differs
 * from the protocol"): a stolen refresh cookie alone must not veto the owner's
 * recovery for ever, while the owner who lost every device cannot revoke it.
 */
recoveryRoutes.delete("/recovery/request", async (c) => {
  requireStepUpNow(c);
  if (!(await instanceStub(c.env).cancelRecovery(c.get("auth").sid, c.get("settings").recoveryWindowS * 1000))) {
    throw new ApiError("not_found", "No recovery request is open.");
  }
  return c.body(null, 204);
});

recoveryAuthRoutes.post("/recovery", async (c) => {
  await enforceRateLimit(c, "recovery");
  const body = await readJson(c, recoveryStartRequestSchema);
  await requireClaimedKeys(c.env);
  const stub = instanceStub(c.env);
  const kid = await checkRecoveryAssertion({ instance: stub, origin: c.get("origin") }, body.assertion);
  const { recoveryDelayS, recoveryWindowS } = c.get("settings");
  const started = await stub.startRecovery(kid, recoveryDelayS * 1000, recoveryWindowS * 1000);
  // The verifier was replaced or removed between the check and here.
  if (!started.ok) throw new ApiError("invalid_assertion", "The signed challenge is not valid.", { reason: "verifier changed" });
  return c.json({ readyAt: started.request.readyAtMs } satisfies Reply<"POST /auth/recovery">, 202);
});
