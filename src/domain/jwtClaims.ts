/**
 * The claims of the JWTs the server verifies (access tokens, login assertions),
 * checked once jose's `compactVerify` has checked the signature. Pure.
 *
 * The rules are those of jose's `jwtVerify` (RFC 7519 §4.1) for the claims these
 * tokens carry, and stricter where the contract is: `aud` is exactly ORIGIN, never an
 * array. `jwtVerify` validates every registered claim and option it knows, and that
 * general code was 0.9 KiB of the Worker gzipped (docs/benchmarks.md, "Worker size").
 */
import type { JWTPayload } from "jose";
import { parseJsonUtf8 } from "../lib/bytes";

export interface ClaimRules {
  nowS: number;
  /** Clock skew allowed on `exp` and `nbf`, in seconds. */
  toleranceS: number;
  /** `aud`, exactly. */
  audience: string;
  /** `iss` and `sub`, exactly, when given. */
  issuer?: string;
  subject?: string;
  /** Claims that must be present besides `iat` and `exp`, which always must. */
  required: readonly string[];
}

/** The payload when its claims pass, else why not (a reason for the logs). */
export function checkClaims(payloadBytes: Uint8Array, rules: ClaimRules): JWTPayload | string {
  let payload: JWTPayload;
  try {
    // Strict UTF-8, as jose's own decoding of a JWT payload.
    payload = parseJsonUtf8(payloadBytes) as JWTPayload;
  } catch {
    return "payload is not JSON";
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return "payload is not a JSON object";
  for (const claim of ["iat", "exp", ...rules.required]) {
    if (payload[claim] === undefined) return `missing claim ${claim}`;
  }
  for (const claim of ["iat", "exp", "nbf"]) {
    if (payload[claim] !== undefined && typeof payload[claim] !== "number") return `claim ${claim} is not a number`;
  }
  if (payload.exp! <= rules.nowS - rules.toleranceS) return "expired";
  if (payload.nbf! > rules.nowS + rules.toleranceS) return "not yet valid (nbf)";
  if (payload.aud !== rules.audience) return "aud must be exactly ORIGIN";
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) return "iss must be ORIGIN";
  if (rules.subject !== undefined && payload.sub !== rules.subject) return "unexpected sub";
  return payload;
}
