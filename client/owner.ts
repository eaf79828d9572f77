/**
 * The owner's client: the flows of PROTOCOL.md §3-8 on top of the session, the
 * device keystore and the escrow. Every response is parsed with the server's zod
 * schemas; every failure is an IndieError.
 */
import * as z from "zod/mini";
import {
  activityResponseSchema,
  backupCodesResponseSchema,
  challengeResponseSchema,
  escrowResponseSchema,
  loginResponseSchema,
  sessionsResponseSchema,
  totpEnrolmentResponseSchema,
  twoFactorStatusResponseSchema,
  type PublicKeys,
} from "../src/schemas/api";
import { messagesResponseSchema, type Message } from "../src/schemas/messages";
import { IndieError } from "./errors";
import {
  currentEntry,
  describeKdf,
  inspectEscrow,
  keyringJwks,
  newKeyring,
  openEscrow,
  rotateKeyring,
  sealEscrow,
  type EscrowKdf,
  type EscrowProgress,
  type SealOptions,
} from "./escrow/escrow";
import type { Keyring } from "./escrow/format";
import { webAssemblyAvailable, type Argon2Runner } from "./escrow/kdf";
import { expectNoContent, readJson, requestJson, send, type FetchLike, type JsonRequest } from "./http";
import { generatePrivateJwk, importDeviceKey, publicKeysOf, signAssertion } from "./keys";
import { indexedDbKeyStore, requireDeviceKeys, type DeviceKeys, type KeyStore } from "./keystore";
import { open as openJwe } from "./messages";
import type { PasswordChecker } from "./password";
import { createSession, type Session } from "./session";

/** One second factor: a TOTP code or a backup code (PROTOCOL.md §4, §8). */
export type SecondFactor = { totp: string } | { backupCode: string };

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
}

export type Progress =
  | EscrowProgress
  | { stage: "keys" | "fetch" | "login" | "store" }
  /** Sealing a new escrow, with the KDF chosen for it. */
  | { stage: "seal"; kdf?: EscrowKdf };

export class OwnerClient {
  readonly origin: string;
  readonly session: Session;
  readonly keyStore: KeyStore;
  private readonly fetchFn: FetchLike;

  constructor(private readonly options: OwnerClientOptions) {
    this.origin = new URL(options.origin).origin;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.keyStore = options.keyStore ?? indexedDbKeyStore();
    this.session = options.session ?? createSession({ origin: this.origin, fetch: this.fetchFn });
  }

  // --- public state -------------------------------------------------------------

  async discovery() {
    const res = await send(this.fetchFn, `${this.origin}/.well-known/indienet`, { credentials: "omit" });
    if (!res.ok) throw new IndieError("bad_response", `Discovery answered HTTP ${res.status}.`);
    const body = (await res.json()) as { claimed?: unknown };
    return { claimed: body.claimed === true };
  }

  challenge() {
    return requestJson(this.fetchFn, `${this.origin}/auth/challenge`, challengeResponseSchema, { method: "POST" });
  }

  deviceKeys(): Promise<DeviceKeys | null> {
    return this.keyStore.load();
  }

  /** Restores the session from the refresh cookie (a page load). */
  resume(): Promise<boolean> {
    return this.session.refresh();
  }

  // --- claim, unlock, login -----------------------------------------------------

  /**
   * PROTOCOL.md §3: makes the keys, seals them under the password, claims the
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
   * Opens the escrow with the password and keeps its keys on this device. A wrong
   * password throws `wrong_password`; the bundle (and its mfaTicket) stays usable for
   * another try.
   */
  async unlock(bundle: EscrowBundle, password: string, onProgress?: (p: Progress) => void): Promise<DeviceKeys> {
    const keyring = await openEscrow(bundle.blob, password, { argon2Runner: this.options.argon2Runner, onProgress });
    for (const use of ["sig", "enc"] as const) {
      if (currentEntry(keyring, use).kid !== bundle.publicKeys[use].kid) {
        throw new IndieError("escrow_mismatch", "The key backup does not match this instance's published keys.");
      }
    }
    onProgress?.({ stage: "store" });
    const device = await this.importKeyring(keyring, bundle.version);
    await this.keyStore.save(device);
    return device;
  }

  /** PROTOCOL.md §4: signs a fresh challenge with this device's key. */
  async login(input: { factor?: SecondFactor; mfaTicket?: string; deviceName?: string } = {}) {
    const device = await requireDeviceKeys(this.keyStore);
    const { challenge } = await this.challenge();
    const body = await requestJson(this.fetchFn, `${this.origin}/auth/login`, loginResponseSchema, {
      method: "POST",
      body: {
        assertion: await signAssertion(device.sig, this.origin, challenge),
        ...input.factor,
        ...(input.mfaTicket ? { mfaTicket: input.mfaTicket } : {}),
        ...(input.deviceName ? { deviceName: input.deviceName } : {}),
      },
    });
    this.session.adopt(body);
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
    return fresh && (!twoFactorOn || claims.amr.includes("otp"));
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

  private async api<S extends z.core.$ZodType>(path: string, schema: S, request?: JsonRequest): Promise<z.infer<S>> {
    return readJson(await this.session.fetch(path, request), schema);
  }

  private async apiNoContent(path: string, request: JsonRequest): Promise<void> {
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

  twoFactorStatus() {
    return this.api("/api/2fa", twoFactorStatusResponseSchema);
  }

  beginTotpEnrolment() {
    return this.api("/api/2fa/totp", totpEnrolmentResponseSchema, { method: "POST" });
  }

  confirmTotp(code: string) {
    return this.api("/api/2fa/totp/confirm", backupCodesResponseSchema, { method: "POST", body: { code } }).then(
      (b) => b.backupCodes,
    );
  }

  disableTotp(factor: { code: string } | { backupCode: string }) {
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
   * Re-wraps the keyring under a new password: GET the escrow, open it with the old
   * password, seal it under the new one, PUT it with expectedVersion (a concurrent
   * change gives version_conflict and changes nothing). Needs a fresh step-up.
   */
  async changePassword(input: { oldPassword: string; newPassword: string; onProgress?: (p: Progress) => void }) {
    await this.assertStrongPassword(input.newPassword);
    const escrow = await this.getEscrow();
    const keyring = await openEscrow(escrow.blob, input.oldPassword, {
      argon2Runner: this.options.argon2Runner,
      onProgress: input.onProgress,
    });
    input.onProgress?.({ stage: "seal" });
    const blob = await sealEscrow(keyring, input.newPassword, await this.sealOptions());
    const { version } = await this.putEscrow({ expectedVersion: escrow.version, blob });
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
    const escrow = await this.getEscrow();
    const old = await openEscrow(escrow.blob, input.password, {
      argon2Runner: this.options.argon2Runner,
      onProgress: input.onProgress,
    });
    input.onProgress?.({ stage: "keys" });
    const [sigJwk, encJwk] = await Promise.all([generatePrivateJwk("sig"), generatePrivateJwk("enc")]);
    const keyring = rotateKeyring(old, sigJwk, encJwk);
    input.onProgress?.({ stage: "seal" });
    const blob = await sealEscrow(keyring, input.password, await this.sealOptions());
    const device = await this.importKeyring(keyring, escrow.version);
    const { challenge } = await this.challenge();
    const { version } = await this.putEscrow({
      expectedVersion: escrow.version,
      blob,
      publicKeys: publicKeysOf(sigJwk, encJwk),
      assertion: await signAssertion(device.sig, this.origin, challenge),
    });
    await this.keyStore.save({ ...device, escrowVersion: version });
    return version;
  }

  private async putEscrow(body: { expectedVersion: number; blob: string; publicKeys?: PublicKeys; assertion?: string }) {
    const res = await this.session.fetch("/api/escrow", { method: "PUT", body });
    const parsed = await readJson(res, z.pick(escrowResponseSchema, { version: true }));
    return parsed;
  }

  // --- helpers ------------------------------------------------------------------------

  private async assertStrongPassword(password: string) {
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

  private async sealOptions(): Promise<SealOptions> {
    return { ...this.options.escrow, kdf: await this.chooseKdf(), argon2Runner: this.options.argon2Runner };
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
