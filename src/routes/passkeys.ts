/**
 * docs/api.md §12: the owner's passkeys (Bearer). The verification policy is
 * domain/passkeys.ts, the state and its atomic updates durable/passkeys.ts (through
 * durable/twoFactor.ts wherever a passkey changes whether 2FA is on); these handlers
 * parse, call the Durable Object, and serialize. The public half, the options of an
 * assertion, is POST /auth/passkey/options in routes/auth.ts.
 */
import { Hono } from "hono/tiny";
import { instanceStub } from "../durable/stub";
import { requireStepUpNow } from "../http/auth";
import { presentedFactor, requireRelyingParty } from "../http/factors";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { factorError, lastFactorNeedsFactor, noSuchPasskey, passkeyRegistrationRefused } from "../instanceErrors";
import { ApiError } from "../errors";
import {
  passkeyDeleteRequestSchema,
  passkeyIdParamSchema,
  passkeyRegisterRequestSchema,
  passkeyUpdateRequestSchema,
} from "../schemas/passkeys";
import { escrowOpensWithKeys } from "../storage/ownerStore";
import type { Reply } from "../schemas/routes";

export const passkeyRoutes = new Hono<AppEnv>();

/** Creation options; the challenge is bound to this session (step-up). */
passkeyRoutes.post("/passkeys/options", async (c) => {
  await enforceRateLimit(c, "passkey");
  requireStepUpNow(c);
  const rp = requireRelyingParty(c);
  const options = await instanceStub(c.env).beginPasskeyRegistration({
    sessionId: c.get("auth").sid,
    rpId: rp.rpId,
    host: rp.host,
    ownerHandle: c.get("settings").ownerHandle,
  });
  return c.json({ options } satisfies Reply<"POST /api/passkeys/options">);
});

passkeyRoutes.post("/passkeys", async (c) => {
  await enforceRateLimit(c, "passkey");
  const body = await readJson(c, passkeyRegisterRequestSchema);
  const rp = requireRelyingParty(c);
  const result = await instanceStub(c.env).registerPasskey(
    body.credential,
    { sessionId: c.get("auth").sid, name: body.name ?? "Passkey", prf: body.prf ?? false },
    { origin: rp.origin, rpId: rp.rpId },
  );
  if (!result.ok) throw passkeyRegistrationRefused(result.reason);
  if (result.backupCodes) c.header("Cache-Control", "no-store");
  return c.json(
    { passkey: result.passkey, backupCodes: result.backupCodes } satisfies Reply<"POST /api/passkeys">,
    201,
  );
});

// The list comes with the session check's call (http/auth.ts, bearerWork).
passkeyRoutes.get("/passkeys", (c) => {
  return c.json({ passkeys: c.get("bearerWork").passkeys! } satisfies Reply<"GET /api/passkeys">);
});

passkeyRoutes.patch("/passkeys/:id", async (c) => {
  await enforceRateLimit(c, "passkey");
  requireStepUpNow(c);
  const id = readPasskeyId(c.req.param("id"));
  const body = await readJson(c, passkeyUpdateRequestSchema);
  const updated = await instanceStub(c.env).updatePasskey(id, body);
  if (!updated) throw noSuchPasskey();
  return c.json(updated satisfies Reply<"PATCH /api/passkeys/{id}">);
});

passkeyRoutes.delete("/passkeys/:id", async (c) => {
  await enforceRateLimit(c, "passkey");
  requireStepUpNow(c);
  const id = readPasskeyId(c.req.param("id"));
  const body = await readJson(c, passkeyDeleteRequestSchema);
  const result = await instanceStub(c.env).removePasskey(id, presentedFactor(c, body), c.get("auth").sid, await escrowOpensWithKeys(c.env.DB));
  if (!result.ok) {
    if (result.error === "locked" || result.error === "invalid" || result.error === "recovery_configured" || result.error === "escrow_opens_with_keys") {
      throw factorError(result);
    }
    if (result.error === "factor_required") throw lastFactorNeedsFactor();
    throw noSuchPasskey();
  }
  return c.body(null, 204);
});

function readPasskeyId(raw: string): string {
  const parsed = passkeyIdParamSchema.safeParse(raw);
  if (!parsed.success) throw new ApiError("invalid_request", "The passkey id is not a credential id.", { issues: parsed.error.issues });
  return parsed.data;
}
