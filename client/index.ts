/** The browser SDK of an Indienet identity server. See docs/client.md. */
export { IndieError, isIndieError, type ClientErrorCode, type ProtocolErrorCode, type LocalErrorCode } from "./errors";
export { OwnerClient, type OwnerClientOptions, type SecondFactor, type EscrowBundle, type Progress, type UnlockOptions } from "./owner";
export { createSession, type Session, type SessionEvent, type SessionOptions, type AccessClaims } from "./session";
export { createLiveChannel, type LiveChannel, type LiveChannelOptions, type LiveStatus } from "./live";
export { seal, sealTo, sendMessage, open, fetchOwnerEncryptionKey, type OpeningKey } from "./messages";
export {
  createPasswordChecker,
  MIN_PASSWORD_LENGTH,
  MIN_PASSWORD_SCORE,
  type PasswordChecker,
  type PasswordCheckerState,
  type PasswordVerdict,
} from "./password";
export {
  fetchPasswordLists,
  parsePasswordListsFile,
  assertPasswordLists,
  unpack as unpackPasswordList,
  PASSWORD_LISTS_FORMAT,
  type PasswordLists,
  type PasswordListsLoader,
} from "./passwordLists";
export {
  sealEscrow,
  openEscrow,
  openEscrowWith,
  derivePasswordKey,
  inspectEscrow,
  describeKdf,
  newKeyring,
  rotateKeyring,
  type EscrowKdf,
  type EscrowProgress,
  type EscrowSummary,
  type EscrowUnlock,
  type OpenedEscrow,
  type PasswordKey,
  type SealOptions,
  type OpenOptions,
} from "./escrow/escrow";
export { EscrowError, isEscrowError, type EscrowErrorReason } from "./escrow/errors";
export { ESCROW_MAX_BYTES, type EscrowRecipientJwk } from "./escrow/format";
export { deriveUnlockKeyFromPrf, passkeyRecipientKid, PRF_EVAL_INPUT, type UnlockKey } from "./escrow/unlockKeys";
export {
  generateRecoveryKey,
  deriveRecoveryKeys,
  signRecoveryAssertion,
  formatRecoveryKey,
  parseRecoveryKey,
  recoverySheet,
  type RecoveryKeys,
  type RecoveryVerifier,
  type RecoverySheet,
  type VerifierJwk,
} from "./recovery/recoveryKey";
// Shares pull in shamir-secret-sharing (2.1 KiB gzipped): the web app should import
// client/recovery/shares lazily, from the screens that split or combine.
export {
  splitRecoveryKey,
  combineShares,
  parseShare,
  SHARE_PREFIX,
  MAX_SHARES,
  type RecoveryShare,
  type ParsedShare,
} from "./recovery/shares";
export { RecoveryError, isRecoveryError, type RecoveryErrorCode } from "./recovery/errors";
export { argon2Inline, webAssemblyAvailable, type Argon2Runner } from "./escrow/kdf";
export { workerArgon2Runner } from "./escrow/worker";
export { indexedDbKeyStore, memoryKeyStore, type DeviceKeys, type KeyStore } from "./keystore";
export { generatePrivateJwk, importDeviceKey, signAssertion, type DeviceKey, type PrivateOkpJwk } from "./keys";
export {
  registerPasskey,
  listPasskeys,
  renamePasskey,
  removePasskey,
  passkeyFactor,
  enablePasskeyUnlock,
  disablePasskeyUnlock,
  unlockWithPasskey,
  unlockPasskeyIds,
  type PasskeyListing,
  type PasskeyUnlock,
  type RegisteredPasskey,
} from "./passkeys";
export {
  setUpRecovery,
  removeRecovery,
  startRecovery,
  completeRecovery,
  finishRecovery,
  type RecoveryCompletion,
  recoveryStatus,
  cancelRecoveryRequest,
  RECOVERY_NEEDS_TWO_FACTOR,
  type RecoveryStatus,
} from "./recovery/api";
export type { EscrowChangeReason } from "./owner";
export {
  startAuthorization,
  approveAuthorization,
  denyAuthorization,
  followableRedirect,
  listGrants,
  revokeGrant,
  getProfile,
  updateProfile,
  type AuthorizationRequest,
  type AuthorizationStart,
  type IndieAuthGrant,
  type IndieAuthProfile,
} from "./indieauth";
