/** The browser SDK of an Indienet identity server. See docs/client.md. */
export { IndieError, isIndieError, type ClientErrorCode, type ProtocolErrorCode, type LocalErrorCode } from "./errors";
export { OwnerClient, type OwnerClientOptions, type SecondFactor, type EscrowBundle, type Progress } from "./owner";
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
  inspectEscrow,
  describeKdf,
  newKeyring,
  rotateKeyring,
  type EscrowKdf,
  type EscrowProgress,
  type SealOptions,
  type OpenOptions,
} from "./escrow/escrow";
export { argon2Inline, webAssemblyAvailable, type Argon2Runner } from "./escrow/kdf";
export { workerArgon2Runner } from "./escrow/worker";
export { indexedDbKeyStore, memoryKeyStore, type DeviceKeys, type KeyStore } from "./keystore";
export { generatePrivateJwk, importDeviceKey, signAssertion, type DeviceKey, type PrivateOkpJwk } from "./keys";
