/**
 * Login assertions (docs/api.md §4): a compact JWS with header {alg, typ: "JWT",
 * kid?} signed by the owner's signing key over {aud: ORIGIN, nonce: <challenge>,
 * iat, exp}, with exp - iat <= 300. Pure apart from WebCrypto; the caller supplies
 * the time.
 */
import { compactVerify, decodeJwt, decodeProtectedHeader } from "jose";
import { checkCompactJws } from "./compactJws";
import { checkClaims } from "./jwtClaims";

export const ASSERTION_ALGORITHMS = ["Ed25519", "EdDSA"] as const;
export const ASSERTION_MAX_LIFETIME_S = 300;
/** Clock skew tolerated between the owner's device and the server. */
export const ASSERTION_CLOCK_TOLERANCE_S = 60;

export class AssertionError extends Error {
  constructor(readonly reason: string) {
    super(`invalid assertion: ${reason}`);
    this.name = "AssertionError";
  }
}

/**
 * Reads the nonce before any verification, so that the challenge it names can be
 * consumed first: "a challenge is consumed by the first login attempt that names
 * it, successful or not". Returns null when the token is not a JWS with a nonce.
 */
export function readAssertionNonce(assertion: string): string | null {
  try {
    const header = decodeProtectedHeader(assertion);
    if (typeof header.alg !== "string") return null;
    const payload = decodeJwt(assertion);
    return typeof payload.nonce === "string" && payload.nonce.length > 0 && payload.nonce.length <= 256
      ? payload.nonce
      : null;
  } catch {
    return null;
  }
}

export interface AssertionExpectations {
  audience: string;
  /** The kid of the key; a header kid, when present, must match it. */
  kid: string;
  nonce: string;
  nowMs: number;
}

/** Verifies signature and claims; throws AssertionError with an internal reason. */
export async function verifyAssertion(
  assertion: string,
  signingKey: CryptoKey,
  expected: AssertionExpectations,
): Promise<void> {
  // The shape (and no `crit`) first: jose would refuse the rest too, but with an
  // unhandled rejection on the way (src/domain/compactJws.ts).
  const shape = checkCompactJws(assertion);
  if (!shape.ok) throw new AssertionError(shape.reason);
  const header = shape.header;
  if (!ASSERTION_ALGORITHMS.includes(header.alg as (typeof ASSERTION_ALGORITHMS)[number])) {
    // Not the value: a reason is logged in the owner's security log, and a stranger's
    // alg could be kilobytes of text (docs/threat-model.md, finding 15).
    throw new AssertionError("alg not allowed");
  }
  // §4 names typ "JWT"; media type names are case-insensitive (RFC 7515 §4.1.9).
  if (typeof header.typ !== "string" || header.typ.toLowerCase() !== "jwt") throw new AssertionError("typ must be JWT");
  if (header.kid !== undefined && header.kid !== expected.kid) throw new AssertionError("unknown kid");

  let verified;
  try {
    verified = await compactVerify(assertion, signingKey, { algorithms: [...ASSERTION_ALGORITHMS] });
  } catch (err) {
    throw new AssertionError(err instanceof Error ? err.message : "verification failed");
  }
  // §4 says aud = ORIGIN: jose's jwtVerify would accept an aud array that holds it.
  const payload = checkClaims(verified.payload, {
    nowS: Math.floor(expected.nowMs / 1000),
    toleranceS: ASSERTION_CLOCK_TOLERANCE_S,
    audience: expected.audience,
    required: ["nonce"],
  });
  if (typeof payload === "string") throw new AssertionError(payload);
  const iat = payload.iat!;
  const exp = payload.exp!;
  if (exp - iat > ASSERTION_MAX_LIFETIME_S) throw new AssertionError("exp - iat exceeds 300 s");
  if (iat > expected.nowMs / 1000 + ASSERTION_CLOCK_TOLERANCE_S) throw new AssertionError("iat in the future");
  if (payload.nonce !== expected.nonce) throw new AssertionError("nonce mismatch");
}
