/**
 * A shape check for compact JWS tokens (assertions, access tokens) before jose
 * verifies them. Pure.
 *
 * jose's compact verify returns an inner promise unawaited, so a token it refuses
 * before its first `await` (an unknown or malformed `crit`, a signature that is not
 * base64url, a non-ASCII payload) rejects a promise that has no handler until a
 * later microtask. workerd reports that as an unhandled rejection: log noise anyone
 * can trigger, and a failed run under vitest-pool-workers. The caller still gets the
 * error, so the check below refuses exactly those tokens first.
 */
import { base64url, decodeProtectedHeader, type ProtectedHeaderParameters } from "jose";

/** Three non-empty base64url segments (RFC 7515 §7.1), ASCII only. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type CompactJwsCheck = { ok: true; header: ProtectedHeaderParameters } | { ok: false; reason: string };

export function checkCompactJws(token: string): CompactJwsCheck {
  if (!COMPACT_JWS.test(token)) return { ok: false, reason: "not a compact JWS" };
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return { ok: false, reason: "malformed protected header" };
  }
  // We define no JWS extensions, so a token that marks any header as critical is
  // one we must refuse (RFC 7515 §4.1.11), whatever the list holds.
  if (Object.hasOwn(header, "crit")) return { ok: false, reason: "crit header not supported" };
  try {
    base64url.decode(token.slice(token.lastIndexOf(".") + 1));
    base64url.decode(token.slice(token.indexOf(".") + 1, token.lastIndexOf(".")));
  } catch {
    return { ok: false, reason: "malformed base64url" };
  }
  return { ok: true, header };
}
