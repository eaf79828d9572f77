/**
 * PKCE (RFC 7636), S256 only (docs/api.md §14; `plain` would let anyone who saw the
 * authorization request redeem the code). The hash is WebCrypto's SHA-256; the
 * comparison is constant-time. The Durable Object computes `s256Challenge(verifier)`
 * before its transaction (all async work first) and compares inside it with
 * `challengesEqual`, which is synchronous.
 */
import { base64urlEncode, constantTimeEqual, sha256 } from "../../lib/bytes";

/** RFC 7636 §4.1: code_verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** An S256 challenge is BASE64URL(SHA-256(...)) without padding: exactly 43 characters (RFC 7636 §4.2). */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export function isValidCodeVerifier(verifier: string): boolean {
  return CODE_VERIFIER.test(verifier);
}

export function isValidS256Challenge(challenge: string): boolean {
  return S256_CHALLENGE.test(challenge);
}

/** RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))). Call only on a valid verifier (ASCII by its syntax). */
export async function s256Challenge(verifier: string): Promise<string> {
  return base64urlEncode(await sha256(verifier));
}

/**
 * Compares two challenges in time that depends only on their length. Both are
 * 43-character base64url strings when they come from s256Challenge and from a
 * stored request (isValidS256Challenge), so the length reveals nothing.
 */
export const challengesEqual = constantTimeEqual;

/** RFC 7636 §4.6 in one call, for callers with nothing to serialize around it. */
export async function verifyS256(verifier: string, challenge: string): Promise<boolean> {
  if (!isValidCodeVerifier(verifier) || !isValidS256Challenge(challenge)) return false;
  return challengesEqual(await s256Challenge(verifier), challenge);
}
