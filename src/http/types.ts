import type { AccessClaims } from "../domain/accessToken";
import type { Env } from "../env";
import type { SessionAuthorization } from "../durable/instance";
import type { TwoFactorStatus } from "../durable/twoFactor";
import type { Settings } from "../settings";

export interface AppVariables {
  settings: Settings;
  /** ORIGIN, or the request's own origin in local development. */
  origin: string;
  /** Set by requireBearer on /api routes. */
  auth: AccessClaims;
  /** Set by requireBearer with the session check: GET /api/2fa's answer, and whether 2FA is on (step-up), at no extra call. */
  twoFactor: TwoFactorStatus;
  /** Set by requireBearer with the session check: what the route's read found, or its write did (http/auth.ts, bearerWork). */
  bearerWork: Omit<SessionAuthorization, "status" | "twoFactor">;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };
