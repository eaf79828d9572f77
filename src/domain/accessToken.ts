/**
 * Access tokens (docs/api.md §4): JWTs signed by the instance's own Ed25519 key,
 * never by the owner's. Claims: iss = aud = ORIGIN, sub "owner", sid, iat, exp,
 * auth_time, amr, jti.
 */
import { compactVerify, SignJWT } from "jose";
import { randomToken } from "../lib/bytes";
import type { InstanceKey } from "../lib/instanceKey";
import { checkCompactJws } from "./compactJws";
import { checkClaims } from "./jwtClaims";

export const ACCESS_TOKEN_ALG = "EdDSA";

/**
 * amr values (docs/api.md §4, §12, §13): `pop` the signed challenge; the rest are
 * second factors: `otp` a TOTP or backup code, `hwk` a device-bound passkey, `swk` a
 * synced one, `rcv` a completed recovery.
 */
export const AUTH_METHODS = ["pop", "otp", "hwk", "swk", "rcv"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** The amr a second factor checked by the 2FA store gives (a recovery's rcv is not one). */
export type SecondFactorMethod = Exclude<AuthMethod, "pop" | "rcv">;

export interface AccessClaims {
  sid: string;
  /** Seconds: the signed-challenge login that began or last stepped up the session. */
  authTimeS: number;
  amr: AuthMethod[];
  jti: string;
  iatS: number;
  expS: number;
}

export interface MintedAccessToken {
  accessToken: string;
  expiresIn: number;
  expiresAtMs: number;
  claims: AccessClaims;
}

export async function signAccessToken(
  key: InstanceKey,
  input: { origin: string; sid: string; authTimeS: number; amr: AuthMethod[]; ttlS: number; nowMs: number },
): Promise<MintedAccessToken> {
  const iatS = Math.floor(input.nowMs / 1000);
  const expS = iatS + input.ttlS;
  const jti = randomToken(16);
  const accessToken = await new SignJWT({ sid: input.sid, auth_time: input.authTimeS, amr: input.amr })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: "at+jwt", kid: key.kid })
    .setIssuer(input.origin)
    .setAudience(input.origin)
    .setSubject("owner")
    .setIssuedAt(iatS)
    .setExpirationTime(expS)
    .setJti(jti)
    .sign(key.privateKey);
  return {
    accessToken,
    expiresIn: input.ttlS,
    expiresAtMs: expS * 1000,
    claims: { sid: input.sid, authTimeS: input.authTimeS, amr: input.amr, jti, iatS, expS },
  };
}

export class AccessTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = "AccessTokenError";
  }
}

/** Verifies signature, issuer, audience, type and lifetime. Revocation is the caller's. */
export async function verifyAccessToken(
  token: string,
  key: InstanceKey,
  origin: string,
  nowMs: number,
): Promise<AccessClaims> {
  try {
    // Refuse a malformed token or one with `crit` before jose sees it (it would
    // refuse them with an unhandled rejection on the way: src/domain/compactJws.ts),
    // and other algorithms (none, HS256 keyed with the public key, ...) before any
    // key handling, whatever the verifier library would do with them.
    const shape = checkCompactJws(token);
    if (!shape.ok) throw new AccessTokenError(shape.reason);
    if (shape.header.alg !== ACCESS_TOKEN_ALG) throw new AccessTokenError("alg not allowed");
    if (shape.header.typ !== "at+jwt") throw new AccessTokenError("typ must be at+jwt");
    const verified = await compactVerify(token, key.publicKey, { algorithms: [ACCESS_TOKEN_ALG] });
    const payload = checkClaims(verified.payload, {
      nowS: Math.floor(nowMs / 1000),
      toleranceS: 0,
      audience: origin,
      issuer: origin,
      subject: "owner",
      required: ["sid", "auth_time", "amr", "jti"],
    });
    if (typeof payload === "string") throw new AccessTokenError(payload);
    const amr = payload.amr;
    if (
      typeof payload.sid !== "string" ||
      typeof payload.auth_time !== "number" ||
      !Array.isArray(amr) ||
      !amr.every((m) => (AUTH_METHODS as readonly unknown[]).includes(m))
    ) {
      throw new AccessTokenError("claims have the wrong types");
    }
    return {
      sid: payload.sid,
      authTimeS: payload.auth_time,
      amr: amr as AuthMethod[],
      jti: payload.jti!,
      iatS: payload.iat!,
      expS: payload.exp!,
    };
  } catch (err) {
    if (err instanceof AccessTokenError) throw err;
    throw new AccessTokenError(err instanceof Error ? err.message : "verification failed");
  }
}
