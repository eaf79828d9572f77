/**
 * Which second factor a request presented (docs/api.md §4, §8, §12), decided in one
 * place for every route that takes one: a TOTP code (`totp`, or `code` on /api/2fa),
 * a backup code, an mfa ticket, or a passkey. The request schemas already refused a
 * body with more than one (src/schemas/factors.ts). A new kind of factor is one more
 * line here and one more member of SecondFactor (src/durable/factors.ts).
 */
import type { Context } from "hono";
import { rpIdFor } from "../domain/passkeys";
import type { RelyingParty, SecondFactor } from "../durable/factors";
import { ApiError } from "../errors";
import type { AuthenticationResponse } from "../schemas/passkeys";
import type { AppEnv } from "./types";

export interface FactorFields {
  totp?: string;
  code?: string;
  backupCode?: string;
  mfaTicket?: string;
  passkey?: AuthenticationResponse;
}

export function presentedFactor(c: Context<AppEnv>, body: FactorFields): SecondFactor | null {
  const totp = body.totp ?? body.code;
  if (totp !== undefined) return { totp };
  if (body.backupCode !== undefined) return { backupCode: body.backupCode };
  if (body.mfaTicket !== undefined) return { mfaTicket: body.mfaTicket };
  if (body.passkey !== undefined) return { passkey: body.passkey, rp: relyingPartyOrNull(c) };
  return null;
}

/**
 * ORIGIN as a WebAuthn relying party. An IP-address host cannot be one (browsers
 * refuse it); plain http only on a loopback name (`localhost`), which browsers treat
 * as a secure context, and only with ALLOW_INSECURE_FEDERATION (PROTOCOL.md's
 * settings): local development and tests.
 */
function relyingPartyFor(c: Context<AppEnv>) {
  const origin = c.get("origin");
  return { origin, verdict: rpIdFor(origin, { allowInsecureLoopback: c.get("settings").allowInsecureFederation }) };
}

export function relyingPartyOrNull(c: Context<AppEnv>): RelyingParty | null {
  const { origin, verdict } = relyingPartyFor(c);
  return verdict.ok ? { origin, rpId: verdict.rpId } : null;
}

/** The relying party, or `400 invalid_request` saying why this ORIGIN cannot have passkeys. */
export function requireRelyingParty(c: Context<AppEnv>): RelyingParty & { host: string } {
  const { origin, verdict } = relyingPartyFor(c);
  if (verdict.ok) return { origin, rpId: verdict.rpId, host: verdict.host };
  const why = {
    ip_address_host: "its host is an IP address, and passkeys need a domain name",
    insecure_origin: "it is plain http, which needs https or localhost with ALLOW_INSECURE_FEDERATION",
    invalid_origin: "it is not an https origin",
  }[verdict.reason];
  throw new ApiError("invalid_request", `This instance's ORIGIN (${origin}) cannot use passkeys: ${why}.`, {
    reason: verdict.reason,
  });
}
