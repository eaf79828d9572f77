import type { AccessClaims } from "../domain/accessToken";
import type { Env } from "../env";
import type { TwoFactorStatus } from "../durable/twoFactor";
import type { Settings } from "../settings";

export interface AppVariables {
  settings: Settings;
  /** ORIGIN, or the request's own origin in local development. */
  origin: string;
  /** Set by requireBearer on /api routes. */
  auth: AccessClaims;
  /** Set by requireBearer with the session check: is 2FA on (for step-up)? */
  mfaEnabled: boolean;
  /** Set by requireBearer with the session check: GET /api/2fa's answer, at no extra call. */
  twoFactor: TwoFactorStatus;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
