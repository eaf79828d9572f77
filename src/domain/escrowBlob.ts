/**
 * What the server reads of an escrow blob, which it otherwise stores as an opaque
 * string. Pure.
 */
import { PASSWORD_RECIPIENT_KID } from "../schemas/escrowRecipients";

/**
 * A format 2 blob (docs/escrow-format.md) is a JWE in General JSON serialization
 * with one recipient per unlock method, each naming its kid: "password",
 * "passkey:<credential id>" or "recovery:<verifier kid>". While two-factor
 * authentication is off, `POST /auth/escrow` gives the blob to anyone, so 2FA may
 * not turn off while the newest blob opens with anything but the password: a
 * removed passkey's PRF or a replaced recovery sheet would open it with no wait
 * (docs/threat-model.md, finding 21).
 */
export function opensWithKeys(blob: string): boolean {
  let recipients: unknown;
  try {
    recipients = JSON.parse(blob).recipients;
  } catch {
    // Not JSON: a format 1 blob (a compact JWE), or not a blob at all.
    return false;
  }
  // No `recipients`: a format 1 blob in JSON (one password recipient). Anything else
  // that is not a list of password recipients counts as opening with keys, so a
  // recipient the server cannot read is never taken for the password (fail closed).
  if (recipients === undefined) return false;
  return !Array.isArray(recipients) || recipients.some((r: { header?: { kid?: unknown } } | null) => r?.header?.kid !== PASSWORD_RECIPIENT_KID);
}
