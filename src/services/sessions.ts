/**
 * What the auth routes share once a login (or a refresh) has succeeded: minting the
 * instance-signed access token. (The session policy is part of the settings:
 * Settings.sessionPolicy.)
 */
import { signAccessToken, type AuthMethod, type MintedAccessToken } from "../domain/accessToken";
import { systemClock } from "../lib/clock";
import { loadInstanceKey } from "../lib/instanceKey";

export interface TokenIssuer {
  /** The INSTANCE_SIGNING_KEY secret (a private JWK). */
  signingKey: string | undefined;
  /** ORIGIN: the token's iss and aud. */
  origin: string;
  accessTokenTtlS: number;
}

export async function mintAccessToken(
  issuer: TokenIssuer,
  session: { sessionId: string; authTimeS: number; amr: AuthMethod[] },
): Promise<MintedAccessToken> {
  const key = await loadInstanceKey(issuer.signingKey);
  return signAccessToken(key, {
    origin: issuer.origin,
    sid: session.sessionId,
    authTimeS: session.authTimeS,
    amr: session.amr,
    ttlS: issuer.accessTokenTtlS,
    nowMs: systemClock.nowMs(),
  });
}
