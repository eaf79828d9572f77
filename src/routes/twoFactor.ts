/**
 * docs/api.md §8: two-factor authentication (Bearer). The rules live in
 * domain/totp.ts and durable/twoFactor.ts; these handlers parse, call the Durable
 * Object, and serialize.
 */
import { Hono } from "hono/tiny";
import { renderSVG } from "uqr";
import { totpKeyUri } from "../domain/totp";
import { instanceStub } from "../durable/stub";
import { requireStepUpNow } from "../http/auth";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { totpConfirmRequestSchema } from "../schemas/api";
import { backupCodesWithFactorRequestSchema, totpDisableWithFactorRequestSchema } from "../schemas/factors";
import { presentedFactor } from "../http/factors";
import { factorError, noPendingEnrolment, totpNotEnrolled, twoFactorNotEnabled } from "../instanceErrors";
import { escrowOpensWithKeys } from "../storage/ownerStore";
import type { Reply } from "../schemas/routes";

export const twoFactorRoutes = new Hono<AppEnv>();

twoFactorRoutes.get("/2fa", async (c) => {
  // The session check (requireBearer) brought the status along: no second call.
  return c.json(c.get("twoFactor") satisfies Reply<"GET /api/2fa">);
});

/** A pending secret for the owner's authenticator app; 2FA turns on only at confirm. */
twoFactorRoutes.post("/2fa/totp", async (c) => {
  await enforceRateLimit(c, "2fa");
  requireStepUpNow(c);
  const pending = await instanceStub(c.env).beginTotpEnrolment(c.get("auth").sid);
  const uri = totpKeyUri({
    secretBase32: pending.secretBase32,
    // A bracketed IPv6 host would put ":" into the label; keep the issuer plain.
    issuer: new URL(c.get("origin")).hostname.replace(/[[\]:]/g, ""),
    account: c.get("settings").ownerHandle,
  });
  c.header("Cache-Control", "no-store");
  return c.json({ secret: pending.secretBase32, uri, qrSvg: renderSVG(uri) } satisfies Reply<"POST /api/2fa/totp">);
});

twoFactorRoutes.post("/2fa/totp/confirm", async (c) => {
  await enforceRateLimit(c, "2fa");
  const body = await readJson(c, totpConfirmRequestSchema);
  const result = await instanceStub(c.env).confirmTotpEnrolment(c.get("auth").sid, body.code);
  if (!result.ok) {
    throw result.error === "no_pending" || result.error === "off" ? noPendingEnrolment() : factorError(result);
  }
  // Backup codes only when this turned 2FA on (docs/api.md §12); else the old set stays.
  if (!result.backupCodes) return c.json({} satisfies Reply<"POST /api/2fa/totp/confirm">);
  c.header("Cache-Control", "no-store");
  return c.json({ backupCodes: result.backupCodes } satisfies Reply<"POST /api/2fa/totp/confirm">);
});

twoFactorRoutes.delete("/2fa/totp", async (c) => {
  await enforceRateLimit(c, "2fa");
  requireStepUpNow(c);
  const body = await readJson(c, totpDisableWithFactorRequestSchema);
  // The schema asked for exactly one factor.
  const result = await instanceStub(c.env).disableTotp(presentedFactor(c, body)!, c.get("auth").sid, await escrowOpensWithKeys(c.env.DB));
  if (!result.ok) {
    if (result.error === "off") throw twoFactorNotEnabled();
    throw result.error === "no_totp" ? totpNotEnrolled() : factorError(result);
  }
  return c.body(null, 204);
});

twoFactorRoutes.post("/2fa/backup-codes", async (c) => {
  await enforceRateLimit(c, "2fa");
  requireStepUpNow(c);
  const body = await readJson(c, backupCodesWithFactorRequestSchema);
  const result = await instanceStub(c.env).regenerateBackupCodes(presentedFactor(c, body)!, c.get("auth").sid);
  if (!result.ok) throw result.error === "off" ? twoFactorNotEnabled() : factorError(result);
  c.header("Cache-Control", "no-store");
  return c.json({ backupCodes: result.backupCodes } satisfies Reply<"POST /api/2fa/backup-codes">);
});
