/**
 * Why a passkey was refused (docs/api.md §12): the domain's verification failures
 * (src/domain/passkeys.ts) and the store's own (./passkeys.ts), each with the human
 * sentence that src/instanceErrors.ts puts in the wire error's message.
 */
import { MAX_PASSKEYS, PASSKEY_FAILURE_MESSAGES, type PasskeyFailure } from "../domain/passkeys";

/** Why a passkey was refused: the domain's failures, and the store's own. */
export type PasskeyRefusal =
  | PasskeyFailure
  /** The response names no live challenge of this ceremony (and, for registration, this session). */
  | "challenge_unknown"
  | "unknown_credential"
  | "already_registered"
  | "too_many_passkeys";

/** The human sentence of each refusal, for the wire error's message. */
export const PASSKEY_REFUSAL_MESSAGES: Record<PasskeyRefusal, string> = {
  ...PASSKEY_FAILURE_MESSAGES,
  challenge_unknown: "The passkey response answers no live challenge of this ceremony: it expired, was used, or was not issued here. Ask for new options.",
  unknown_credential: "This passkey is not registered here.",
  already_registered: "This passkey is already registered.",
  too_many_passkeys: `At most ${MAX_PASSKEYS} passkeys can be registered; remove one first.`,
};

export function isPasskeyRefusal(reason: string): reason is PasskeyRefusal {
  return Object.hasOwn(PASSKEY_REFUSAL_MESSAGES, reason);
}

export type PasskeyRefused = { ok: false; error: "invalid"; reason: PasskeyRefusal };

export function refused(reason: PasskeyRefusal): PasskeyRefused {
  return { ok: false, error: "invalid", reason };
}
