/**
 * The owner's client: the flows of docs/api.md §3-8 on top of the session, the
 * device keystore and the escrow. Every response is parsed with the server's zod
 * schemas; every failure is an IndieError.
 */
import * as z from "zod/mini";
import type { PublicKeys } from "../src/schemas/api";
import type { AuthenticationResponse } from "../src/schemas/passkeys";
import { passkeysResponseSchema } from "./passkeySchemas";
import { IndieError } from "./errors";
import {
  currentEntry,
  describeKdf,
  inspectEscrow,
  keyringJwks,
  newKeyring,
  openEscrowWith,
  rotateKeyring,
  sealEscrow,
  type EscrowKdf,
  type EscrowProgress,
  type OpenOptions,
  type PasswordKey,
  type SealOptions,
} from "./escrow/escrow";
import { PASSKEY_KID_PREFIX, RECOVERY_KID_PREFIX, type EscrowRecipientJwk, type Keyring } from "./escrow/format";
import { webAssemblyAvailable, type Argon2Runner } from "./escrow/kdf";
import { expectNoContent, readJson, requestJson, send, type FetchLike, type JsonRequest } from "./http";
import { generatePrivateJwk, importDeviceKey, publicKeysOf, signAssertion } from "./keys";
import { indexedDbKeyStore, requireDeviceKeys, type DeviceKeys, type KeyStore } from "./keystore";
import { open as openJwe } from "./messages";
import type { PasswordChecker } from "./password";
import { createSession, type Session } from "./session";
import { defaultCredentials, type CredentialsLike } from "./webauthn";
import {
  activityResponseSchema,
  backupCodesResponseSchema,
  challengeResponseSchema,
  escrowResponseSchema,
  loginResponseSchema,
  sessionsResponseSchema,
  totpConfirmResponseSchema,
  totpEnrolmentResponseSchema,
  twoFactorStatusResponseSchema,
} from "../src/schemas/apiResponses";
import { messagesResponseSchema, type Message } from "../src/schemas/messageResponses";

/**
 * One second factor: a TOTP code, a backup code (docs/api.md §4, §8), or a passkey's
 * assertion (§12; client/passkeys.ts makes one).
 */
export type SecondFactor = { totp: string } | { backupCode: string } | { passkey: AuthenticationResponse };

/** The `reason` PUT /api/escrow records in its escrow_updated entry (docs/api.md §13). */
export type EscrowChangeReason = "password_changed" | "recovery_configured" | "recovered" | "passkey_unlock_added" | "keys_rotated";

/** The amr values step-up accepts as a second factor (docs/api.md §4, §12, §13). */
const SECOND_FACTOR_AMR = ["otp", "hwk", "swk", "rcv"];

export interface EscrowBundle {
  version: number;
  blob: string;
  publicKeys: PublicKeys;
  /** From POST /auth/escrow with a code: single use, 300 s, replaces the code at login. */
  mfaTicket?: string;
}

export interface OwnerClientOptions {
  origin: string;
  fetch?: FetchLike;
  keyStore?: KeyStore;
  session?: Session;
  argon2Runner?: Argon2Runner;
  /** Escrow sealing parameters (tests pass small ones with testOnlyAllowWeakParameters). */
  escrow?: Omit<SealOptions, "argon2Runner">;
  /**
   * Checks a new password (claim, changePassword): `createPasswordChecker` with the
   * app's loader for the word lists. Without one, both refuse with
   * `password_check_unavailable`: a password is never accepted unchecked.
   */
  passwordChecker?: PasswordChecker;
  /** Skip the strength check (tests only). */
  testOnlySkipPasswordCheck?: boolean;
  /** WebAuthn (tests pass a fake); default `navigator.credentials` where passkeys work. */
  credentials?: CredentialsLike | null;
}

/** How an unlock names the new session and reports its stages. */
export interface UnlockOptions {
  deviceName?: string;
  onProgress?: (p: Progress) => void;
}

export type Progress =
  | EscrowProgress
  | { stage: "keys" | "fetch" | "login" | "store" }
  /** Sealing a new escrow, with the KDF chosen for it. */
  | { stage: "seal"; kdf?: EscrowKdf };

/** The part of GET /api/recovery (docs/api.md §13) a re-seal needs. */
const twoFactorStatusSchema = z.extend(twoFactorStatusResponseSchema, {
  totp: z.optional(z.boolean()),
  passkeys: z.optional(z.number().check(z.int(), z.minimum(0))),
});

const challengeSchema = z.extend(challengeResponseSchema, { passkey: z.optional(z.boolean()) });

const recoveryConfiguredSchema = z.object({ configured: z.boolean() });

export class OwnerClient {
  readonly origin: string;
  readonly session: Session;
  readonly keyStore: KeyStore;
  /** WebAuthn, or null where this browser has none (client/passkeys.ts reads it). */
  readonly credentials: CredentialsLike | null;
  private readonly fetchFn: FetchLike;

  constructor(private readonly options: OwnerClientOptions) {
    this.origin = new URL(options.origin).origin;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.keyStore = options.keyStore ?? indexedDbKeyStore();
    this.session = options.session ?? createSession({ origin: this.origin, fetch: this.fetchFn });
    this.credentials = options.credentials === undefined ? defaultCredentials() : options.credentials;
  }

  /** A public (no Bearer) JSON request to this instance: /auth/passkey/options, /auth/recovery. */
  publicRequest<S extends z.core.$ZodType>(path: string, schema: S, request: JsonRequest = {}): Promise<z.infer<S>> {
    return requestJson(this.fetchFn, this.origin + path, schema, { method: "POST", ...request });
  }

  // --- public state -------------------------------------------------------------

  async discovery() {
    const res = await send(this.fetchFn, `${this.origin}/.well-known/indienet`, { credentials: "omit" });
    if (!res.ok) throw new IndieError("bad_response", `Discovery answered HTTP ${res.status}.`);
    const body = (await res.json()) as { claimed?: unknown };
    return { claimed: body.claimed === true };
  }

  /** POST /auth/challenge; `passkey` (§12) says whether a passkey can be the second factor. */
  challenge() {
    return requestJson(this.fetchFn, `${this.origin}/auth/challenge`, challengeSchema, { method: "POST" });
  }

  deviceKeys(): Promise<DeviceKeys | null> {
    return this.keyStore.load();
  }

  /**
   * Restores the session from the refresh cookie (a page load). Every session of this
   * client began with a login signed by this device's keys (claim, login, unlock,
   * recovery), and one is of little use without them (messages open with them, step-up
   * signs with them), so a device without keys asks nothing: a visitor's or a new
   * device's page load costs the server no refresh and its console no 401. Where the
   * keys went and the cookie stayed (the browser evicted the site's storage), the owner
   * unlocks again; the old session, whose cookie that login replaces, stays listed
   * under Sessions until it idles out or is revoked. `session.refresh()` restores a
   * session whatever the keys.
   */
  async resume(): Promise<boolean> {
    if (!(await this.keyStore.load())) return false;
    return await this.session.refresh();
  }

  // --- claim, unlock, login -----------------------------------------------------

  /**
   * docs/api.md §3: makes the keys, seals them under the password, claims the
   * instance with the setup code, and keeps only non-extractable keys on the device.
   */
  async claim(input: { setupCode: string; password: string; deviceName?: string; onProgress?: (p: Progress) => void }) {
    const progress = input.onProgress ?? (() => {});
    await this.assertStrongPassword(input.password);
    progress({ stage: "keys" });
    const [sigJwk, encJwk] = await Promise.all([generatePrivateJwk("sig"), generatePrivateJwk("enc")]);
    const keyring = newKeyring(sigJwk, encJwk);
    const options = await this.sealOptions();
    progress({ stage: "seal", kdf: options.kdf });
    const blob = await sealEscrow(keyring, input.password, options);
    const device = await this.importKeyring(keyring, 1);
    const { challenge } = await this.challenge();
    const assertion = await signAssertion(device.sig, this.origin, challenge);
    progress({ stage: "login" });
    const body = await requestJson(this.fetchFn, `${this.origin}/auth/setup`, loginResponseSchema, {
      method: "POST",
      body: {
        setupCode: input.setupCode.trim(),
        publicKeys: publicKeysOf(sigJwk, encJwk),
        escrow: blob,
        assertion,
        ...(input.deviceName ? { deviceName: input.deviceName } : {}),
      },
    });
    progress({ stage: "store" });
    await this.keyStore.save(device);
    this.session.adopt(body);
    // What the escrow was actually sealed with, read back from its header: Argon2id,
    // or PBES2 where WebAssembly could not run.
    return { kdf: options.kdf, kdfDescription: describeKdf(inspectEscrow(blob)) };
  }

  /** POST /auth/escrow: the blob for a device that has no keys (a code when 2FA is on). */
  fetchEscrow(factor?: SecondFactor): Promise<EscrowBundle> {
    return requestJson(this.fetchFn, `${this.origin}/auth/escrow`, escrowResponseSchema, {
      method: "POST",
      body: factor ?? {},
    });
  }

  /**
   * Opens the escrow with the password and logs in with its keys (the bundle's
   * mfaTicket, when 2FA is on, is the second factor). A wrong password throws
   * `wrong_password` before any request; the bundle (and its ticket) stays usable for
   * another try. The keys are kept on this device only once the login is accepted.
   */
  async unlock(bundle: EscrowBundle, password: string, input: UnlockOptions = {}): Promise<DeviceKeys> {
    const { keyring } = await openEscrowWith(bundle.blob, { password }, this.openOptions(input.onProgress));
    return this.logInWithKeyring(bundle, keyring, input);
  }

  /**
   * The last step of every unlock (password, passkey, recovery key): checks that the
   * opened keyring holds the instance's published keys, signs the login with them
   * while they are only in memory, and keeps them on this device (non-extractable)
   * once the server has accepted it. A refused login (a spent or expired ticket, keys
   * rotated elsewhere meanwhile, a rate limit) leaves the device as it was, with no
   * keys that cannot log in. If the keys cannot be kept, the storage error is thrown
   * and the new session, never adopted, is ended with a plain POST /auth/logout (best
   * effort: the session object never held it, so no tab hears "logged out"; if that
   * request fails too, the session idles out, listed under Sessions).
   */
  async logInWithKeyring(bundle: EscrowBundle, keyring: Keyring, input: UnlockOptions = {}): Promise<DeviceKeys> {
    for (const use of ["sig", "enc"] as const) {
      if (currentEntry(keyring, use).kid !== bundle.publicKeys[use].kid) {
        throw new IndieError("escrow_mismatch", "The key backup does not match this instance's published keys.");
      }
    }
    const device = await this.importKeyring(keyring, bundle.version);
    input.onProgress?.({ stage: "login" });
    const body = await this.signIn(device, { mfaTicket: bundle.mfaTicket, deviceName: input.deviceName });
    input.onProgress?.({ stage: "store" });
    try {
      await this.keyStore.save(device);
    } catch (err) {
      try {
        await (await send(this.fetchFn, `${this.origin}/auth/logout`, { method: "POST" })).body?.cancel();
      } catch {
        // Best effort (above): the storage error is the one to report.
      }
      throw err;
    }
    this.session.adopt(body);
    return device;
  }

  /** docs/api.md §4: signs a fresh challenge with this device's key. */
  async login(input: { factor?: SecondFactor; mfaTicket?: string; deviceName?: string } = {}) {
    this.session.adopt(await this.signIn(await requireDeviceKeys(this.keyStore), input));
  }

  /** POST /auth/login with a fresh challenge signed by `device`; the answer is not yet adopted. */
  private async signIn(device: DeviceKeys, input: { factor?: SecondFactor; mfaTicket?: string; deviceName?: string }) {
    const { challenge } = await this.challenge();
    return requestJson(this.fetchFn, `${this.origin}/auth/login`, loginResponseSchema, {
      method: "POST",
      body: {
        assertion: await signAssertion(device.sig, this.origin, challenge),
        ...input.factor,
        ...(input.mfaTicket ? { mfaTicket: input.mfaTicket } : {}),
        ...(input.deviceName ? { deviceName: input.deviceName } : {}),
      },
    });
  }

  logout(): Promise<void> {
    return this.session.logout();
  }

  /** Removes the keys from this device (they stay in the escrow). */
  async forgetDevice(): Promise<void> {
    if (this.session.isLoggedIn()) await this.session.logout().catch(() => {});
    await this.keyStore.clear();
  }

  // --- step-up --------------------------------------------------------------------

  /** Whether step-up routes would accept the current token right now. */
  stepUpFresh(twoFactorOn: boolean, maxAgeS = 300): boolean {
    const claims = this.session.claims();
    if (!claims) return false;
    // A margin of 30 s so the token does not go stale between this check and the call.
    const fresh = Date.now() / 1000 - claims.authTimeS < maxAgeS - 30;
    return fresh && (!twoFactorOn || claims.amr.some((m) => SECOND_FACTOR_AMR.includes(m)));
  }

  /** POST /auth/reauth: a fresh signature (and code) for step-up routes. */
  async reauth(factor?: SecondFactor): Promise<void> {
    const device = await requireDeviceKeys(this.keyStore);
    const { challenge } = await this.challenge();
    const res = await this.session.fetch("/auth/reauth", {
      method: "POST",
      body: { assertion: await signAssertion(device.sig, this.origin, challenge), ...factor },
    });
    this.session.adopt(await readJson(res, loginResponseSchema));
  }

  // --- owner API --------------------------------------------------------------------

  async api<S extends z.core.$ZodType>(path: string, schema: S, request?: JsonRequest): Promise<z.infer<S>> {
    return readJson(await this.session.fetch(path, request), schema);
  }

  async apiNoContent(path: string, request: JsonRequest): Promise<void> {
    await expectNoContent(await this.session.fetch(path, request));
  }

  listSessions() {
    return this.api("/api/sessions", sessionsResponseSchema).then((b) => b.sessions);
  }

  revokeSession(id: string) {
    return this.apiNoContent(`/api/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  revokeOtherSessions() {
    return this.apiNoContent("/api/sessions", { method: "DELETE" });
  }

  listActivity(options: { before?: number; limit?: number } = {}) {
    const query = new URLSearchParams();
    if (options.before) query.set("before", String(options.before));
    query.set("limit", String(options.limit ?? 50));
    return this.api(`/api/activity?${query}`, activityResponseSchema).then((b) => b.entries);
  }

  /** GET /api/2fa; `totp` and `passkeys` (§12) say which factors make it "enabled". */
  twoFactorStatus() {
    return this.api("/api/2fa", twoFactorStatusSchema);
  }

  beginTotpEnrolment() {
    return this.api("/api/2fa/totp", totpEnrolmentResponseSchema, { method: "POST" });
  }

  /**
   * The backup codes when this confirmation turned 2FA on; undefined when it was on
   * already (a passkey, or a replaced secret): the old codes stay (docs/api.md §12).
   */
  confirmTotp(code: string): Promise<string[] | undefined> {
    return this.api("/api/2fa/totp/confirm", totpConfirmResponseSchema, { method: "POST", body: { code } }).then(
      (b) => b.backupCodes,
    );
  }

  disableTotp(factor: { code: string } | { backupCode: string } | { passkey: AuthenticationResponse }) {
    return this.apiNoContent("/api/2fa/totp", { method: "DELETE", body: factor });
  }

  regenerateBackupCodes(code: string) {
    return this.api("/api/2fa/backup-codes", backupCodesResponseSchema, { method: "POST", body: { code } }).then(
      (b) => b.backupCodes,
    );
  }

  /** Messages after id `after`, oldest first (catch-up). */
  listMessages(after = 0, limit = 100) {
    return this.api(`/api/messages?after=${after}&limit=${limit}`, messagesResponseSchema);
  }

  /**
   * Messages before id `before`, newest first: the newest page without `before`.
   * `next` is the `before` of the page of older ones, or null at the oldest.
   */
  listMessagesBefore(before: number = Number.MAX_SAFE_INTEGER, limit = 20) {
    return this.api(`/api/messages?before=${before}&limit=${limit}`, messagesResponseSchema);
  }

  deleteMessage(id: number) {
    return this.apiNoContent(`/api/messages/${id}`, { method: "DELETE" });
  }

  /** Decrypts a message with this device's current or retired encryption keys. */
  async open(message: Pick<Message, "jwe"> | string): Promise<string> {
    return (await this.messageOpener())(message);
  }

  /**
   * Reads this device's keys once and returns a function that opens messages with
   * them: a screen that opens many messages keeps one, instead of reading the
   * keystore (IndexedDB) for every message. Keys rotated later need a new opener.
   */
  async messageOpener(): Promise<(message: Pick<Message, "jwe"> | string) => Promise<string>> {
    const { enc } = await requireDeviceKeys(this.keyStore);
    return (message) => openJwe(typeof message === "string" ? message : message.jwe, enc);
  }

  // --- escrow maintenance (step-up) ---------------------------------------------

  getEscrow() {
    return this.api("/api/escrow", escrowResponseSchema);
  }

  /**
   * Opens the current escrow with the password, for a re-seal: the keyring, the
   * password key (a re-seal under the same password needs no new KDF run) and the
   * unlock methods to keep (keptRecipients).
   */
  async openCurrentEscrow(password: string, onProgress?: (p: Progress) => void) {
    const escrow = await this.getEscrow();
    const opened = await openEscrowWith(escrow.blob, { password }, this.openOptions(onProgress));
    return { escrow, ...opened, recipients: await this.keptRecipients(opened.recipients) };
  }

  /**
   * The blob's passkey and recovery recipients that are still set up: a passkey no
   * longer listed by GET /api/passkeys, or a recovery key after the verifier was
   * removed, is dropped, so it opens nothing sealed from now on. The routes are asked
   * only when the blob has recipients of their kind.
   */
  async keptRecipients(recipients: readonly EscrowRecipientJwk[]): Promise<EscrowRecipientJwk[]> {
    let kept = [...recipients];
    if (kept.some((r) => r.kid.startsWith(PASSKEY_KID_PREFIX))) {
      const { passkeys } = await this.api("/api/passkeys", passkeysResponseSchema);
      const listed = new Set(passkeys.map((p) => PASSKEY_KID_PREFIX + p.id));
      kept = kept.filter((r) => !r.kid.startsWith(PASSKEY_KID_PREFIX) || listed.has(r.kid));
    }
    if (kept.some((r) => r.kid.startsWith(RECOVERY_KID_PREFIX))) {
      const status = await this.api("/api/recovery", recoveryConfiguredSchema);
      if (!status.configured) kept = kept.filter((r) => !r.kid.startsWith(RECOVERY_KID_PREFIX));
    }
    return kept;
  }

  /**
   * Re-wraps the keyring under a new password: GET the escrow, open it with the old
   * password, seal it under the new one for the same passkeys and recovery key (those
   * still set up), PUT it with expectedVersion (a concurrent change gives
   * version_conflict and changes nothing). Needs a fresh step-up.
   */
  async changePassword(input: { oldPassword: string; newPassword: string; onProgress?: (p: Progress) => void }) {
    await this.assertStrongPassword(input.newPassword);
    const opened = await this.openCurrentEscrow(input.oldPassword, input.onProgress);
    input.onProgress?.({ stage: "seal" });
    const blob = await sealEscrow(opened.keyring, input.newPassword, await this.sealOptions(opened.recipients));
    const { version } = await this.putEscrow({ expectedVersion: opened.escrow.version, blob, reason: "password_changed" });
    const device = await this.keyStore.load();
    if (device) await this.keyStore.save({ ...device, escrowVersion: version });
    return version;
  }

  /**
   * New signing and encryption keys: the old ones are retired but stay in the
   * keyring (and on this device), so old messages still open. Needs the password
   * (the escrow holds the retired keys) and a fresh step-up.
   */
  async rotateKeys(input: { password: string; onProgress?: (p: Progress) => void }) {
    const opened = await this.openCurrentEscrow(input.password, input.onProgress);
    const escrow = opened.escrow;
    input.onProgress?.({ stage: "keys" });
    const [sigJwk, encJwk] = await Promise.all([generatePrivateJwk("sig"), generatePrivateJwk("enc")]);
    const keyring = rotateKeyring(opened.keyring, sigJwk, encJwk);
    input.onProgress?.({ stage: "seal" });
    const blob = await sealEscrow(keyring, opened.passwordKey ?? input.password, await this.sealOptions(opened.recipients));
    const device = await this.importKeyring(keyring, escrow.version);
    const { challenge } = await this.challenge();
    const { version } = await this.putEscrow({
      expectedVersion: escrow.version,
      blob,
      publicKeys: publicKeysOf(sigJwk, encJwk),
      assertion: await signAssertion(device.sig, this.origin, challenge),
      reason: "keys_rotated",
    });
    await this.keyStore.save({ ...device, escrowVersion: version });
    return version;
  }

  /**
   * Re-seals the keyring just opened with the password (openCurrentEscrow) for
   * `recipients`, under the same password key, and PUTs it: how an unlock method is
   * added or removed. Needs a fresh step-up.
   */
  async resealEscrow(
    opened: { escrow: { version: number }; keyring: Keyring; passwordKey?: PasswordKey },
    password: string,
    recipients: readonly EscrowRecipientJwk[],
    reason?: EscrowChangeReason,
  ): Promise<number> {
    const blob = await sealEscrow(opened.keyring, opened.passwordKey ?? password, await this.sealOptions(recipients));
    const { version } = await this.putEscrow({ expectedVersion: opened.escrow.version, blob, reason });
    const device = await this.keyStore.load();
    if (device) await this.keyStore.save({ ...device, escrowVersion: version });
    return version;
  }

  async putEscrow(body: { expectedVersion: number; blob: string; publicKeys?: PublicKeys; assertion?: string; reason?: EscrowChangeReason }) {
    const res = await this.session.fetch("/api/escrow", { method: "PUT", body });
    const parsed = await readJson(res, z.pick(escrowResponseSchema, { version: true }));
    return parsed;
  }

  // --- helpers ------------------------------------------------------------------------

  async assertStrongPassword(password: string) {
    if (this.options.testOnlySkipPasswordCheck) return;
    const checker = this.options.passwordChecker;
    if (!checker) throw new IndieError("password_check_unavailable", "This client has no password checker (OwnerClientOptions.passwordChecker).");
    const verdict = await checker.check(password, [new URL(this.origin).hostname]);
    if (!verdict.acceptable) {
      throw new IndieError(
        "weak_password",
        verdict.warning || "This password is too easy to guess. A password manager can make a strong one for you.",
      );
    }
  }

  /** The KDF for new escrows: Argon2id where WebAssembly runs, PBES2 otherwise. */
  async chooseKdf(): Promise<EscrowKdf> {
    if (this.options.escrow?.kdf) return this.options.escrow.kdf;
    return (await webAssemblyAvailable()) ? "argon2id" : "pbes2";
  }

  /** How blobs are opened: the Argon2 runner, and the test-only weak-parameter switch of `escrow`. */
  openOptions(onProgress?: (p: Progress) => void): OpenOptions {
    return {
      argon2Runner: this.options.argon2Runner,
      onProgress,
      testOnlyAllowWeakParameters: this.options.escrow?.testOnlyAllowWeakParameters,
    };
  }

  async sealOptions(recipients?: readonly EscrowRecipientJwk[]): Promise<SealOptions> {
    return { ...this.options.escrow, kdf: await this.chooseKdf(), argon2Runner: this.options.argon2Runner, recipients };
  }

  /** Imports every key of the keyring as non-extractable; the JWKs are then dropped. */
  private async importKeyring(keyring: Keyring, escrowVersion: number): Promise<DeviceKeys> {
    const jwks = keyringJwks(keyring);
    const sigJwk = jwks.find((k) => k.use === "sig" && k.status === "current")!;
    const encJwks = jwks.filter((k) => k.use === "enc").sort((a, b) => (a.status === "current" ? -1 : b.status === "current" ? 1 : 0));
    return {
      format: 1,
      sig: await importDeviceKey(sigJwk, "current"),
      enc: await Promise.all(encJwks.map((k) => importDeviceKey(k, k.status))),
      escrowVersion,
      savedAt: Date.now(),
    };
  }
}
