/**
 * What the auth routes share once a login (or a refresh) has succeeded: the
 * rotation policy from the settings, and minting the instance-signed access token.
 */
import type { Context } from "hono";
import { signAccessToken, type AuthMethod, type MintedAccessToken } from "../domain/accessToken";
import type { RotationPolicy } from "../domain/rotation";
import { loadInstanceKey } from "../lib/instanceKey";
import type { AppEnv } from "../http/types";
import type { Settings } from "../settings";

export function sessionPolicy(settings: Settings): RotationPolicy {
  return {
    graceMs: settings.refreshReuseGraceS * 1000,
    idleTtlMs: settings.refreshIdleTtlS * 1000,
    maxTtlMs: settings.sessionMaxTtlS * 1000,
  };
}

export async function mintAccessToken(
  c: Context<AppEnv>,
  session: { sessionId: string; authTimeS: number; amr: AuthMethod[] },
): Promise<MintedAccessToken> {
  const key = await loadInstanceKey(c.env.INSTANCE_SIGNING_KEY);
  return signAccessToken(key, {
    origin: c.get("origin"),
    sid: session.sessionId,
    authTimeS: session.authTimeS,
    amr: session.amr,
    ttlS: c.get("settings").accessTokenTtlS,
    nowMs: Date.now(),
  });
}
