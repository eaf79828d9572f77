/**
 * Passkeys inside the instance Durable Object (docs/api.md §12): the registered
 * credentials (table `passkeys`) and the owner's user handle (`passkey_owner`, 32
 * random bytes made with the first registration options and never changed). The
 * ceremony challenges are ./passkeyChallenges.ts; the refusals and their messages
 * ./passkeyRefusals.ts.
 *
 * The verification policy is src/domain/passkeys.ts. As in ./factors.ts, each use
 * is two halves: `prepare*` (async, outside any transaction) reads a snapshot and
 * runs the WebCrypto checks; `commit*` (synchronous, inside the caller's
 * `transactionSync`) consumes the challenge, whatever the verdict, and re-checks the
 * snapshot against the rows as they are now: the credential id still free and fewer
 * than MAX_PASSKEYS for a registration; for a use, the counter rule, applied only
 * here, against the current row (a concurrent use may have raised it), and never a
 * lower counter. `prepare*` writes nothing, not even an activity entry: whatever a
 * use writes, only the one request that spent the challenge writes it.
 * Extension results never get here: the request schemas strip them.
 */
import {
  checkSignCount,
  MAX_PASSKEYS,
  OWNER_ID_BYTES,
  verifyAssertion,
  verifyRegistration,
  type NewPasskey,
  type PasskeyAmr,
  type VerifiedAssertion,
} from "../domain/passkeys";
import { base64urlDecode, base64urlEncode, randomBytes } from "../lib/bytes";
import type { AuthenticationResponse, RegistrationResponse } from "../schemas/passkeys";
import type { ActivityLog } from "./activityLog";
import { challengeOf, type PasskeyChallengeStore } from "./passkeyChallenges";
import { refused, type PasskeyRefusal, type PasskeyRefused } from "./passkeyRefusals";
import type { PasskeyListing } from "../schemas/passkeyResponses";

/** ORIGIN and its RP ID, from the Worker's settings (the object reads none of its own). */
export interface RelyingParty {
  origin: string;
  rpId: string;
}

interface PasskeyRow extends Record<string, SqlStorageValue> {
  credential_id: string;
  public_key_spki: string;
  algorithm: number;
  sign_count: number;
  backup_eligible: number;
  backed_up: number;
  name: string;
  prf: number;
  created_at_ms: number;
  last_used_at_ms: number | null;
}

export interface PreparedRegistration {
  challenge: string | null;
  verdict: { ok: true; passkey: NewPasskey } | { ok: false; reason: PasskeyRefusal };
}

export interface PreparedUse {
  challenge: string | null;
  credentialId: string;
  /** The signed assertion, before the counter rule (`commitUse` applies it), or why it failed. */
  verdict: { ok: true; assertion: VerifiedAssertion } | { ok: false; reason: PasskeyRefusal };
}

export class PasskeyStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
    private readonly challenges: PasskeyChallengeStore,
  ) {}

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM passkeys").one().n;
  }

  list(): PasskeyListing[] {
    return this.sql
      .exec<PasskeyRow>("SELECT * FROM passkeys ORDER BY created_at_ms, credential_id")
      .toArray()
      .map(toListing);
  }

  /** The owner's user handle (base64url), made on first need and fixed from then on. */
  ensureOwnerId(): string {
    this.sql.exec(
      "INSERT INTO passkey_owner (id, user_handle) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
      base64urlEncode(randomBytes(OWNER_ID_BYTES)),
    );
    return this.ownerId()!;
  }

  ownerId(): string | null {
    return this.sql.exec<{ user_handle: string }>("SELECT user_handle FROM passkey_owner WHERE id = 1").toArray()[0]?.user_handle ?? null;
  }

  // --- registration -------------------------------------------------------------

  async prepareRegistration(credential: RegistrationResponse, rp: RelyingParty, sessionId: string, nowMs: number): Promise<PreparedRegistration> {
    const challenge = challengeOf(credential.response.clientDataJSON);
    if (!challenge) return { challenge, verdict: { ok: false, reason: "client_data_invalid" } };
    if (!this.challenges.isLive(challenge, "registration", sessionId, nowMs)) {
      return { challenge, verdict: { ok: false, reason: "challenge_unknown" } };
    }
    const verdict = await verifyRegistration(credential, { challenge: base64urlDecode(challenge)!, ...rp });
    return { challenge, verdict };
  }

  /** Inside a transaction: spends the challenge, then stores the passkey or says why not. */
  commitRegistration(
    prepared: PreparedRegistration,
    meta: { sessionId: string; name: string; prf: boolean },
    nowMs: number,
  ): { ok: true; passkey: PasskeyListing } | PasskeyRefused {
    if (!prepared.challenge || !this.challenges.consume(prepared.challenge, "registration", meta.sessionId, nowMs)) {
      return refused("challenge_unknown");
    }
    if (!prepared.verdict.ok) return refused(prepared.verdict.reason);
    const passkey = prepared.verdict.passkey;
    if (this.count() >= MAX_PASSKEYS) return refused("too_many_passkeys");
    if (this.find(passkey.credentialId)) return refused("already_registered");
    this.sql.exec(
      "INSERT INTO passkeys (credential_id, public_key_spki, algorithm, sign_count, backup_eligible, backed_up, " +
        "name, prf, created_at_ms, last_used_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
      passkey.credentialId,
      passkey.publicKeySpki,
      passkey.algorithm,
      passkey.signCount,
      passkey.backupEligible ? 1 : 0,
      passkey.backedUp ? 1 : 0,
      meta.name,
      meta.prf ? 1 : 0,
      nowMs,
    );
    this.activity.record("passkey_added", meta.sessionId, { id: passkey.credentialId, name: meta.name, backupEligible: passkey.backupEligible }, nowMs);
    return { ok: true, passkey: toListing(this.find(passkey.credentialId)!) };
  }

  // --- use as a second factor ------------------------------------------------------

  /**
   * Checks everything but the counter, writing nothing: the counter rule, and the
   * `passkey_clone_suspected` it may log, belong to `commitUse`, after the challenge
   * is spent, so of many requests carrying one response only one gets that far.
   */
  async prepareUse(response: AuthenticationResponse, rp: RelyingParty, nowMs: number): Promise<PreparedUse> {
    const challenge = challengeOf(response.response.clientDataJSON);
    const credentialId = response.rawId;
    const refuse = (reason: PasskeyRefusal): PreparedUse => ({ challenge, credentialId, verdict: { ok: false, reason } });
    if (!challenge) return refuse("client_data_invalid");
    if (!this.challenges.isLive(challenge, "authentication", null, nowMs)) return refuse("challenge_unknown");
    const row = this.find(credentialId);
    const ownerId = this.ownerId();
    if (!row || !ownerId) return refuse("unknown_credential");
    // The counter is not read here: commitUse applies its rule to the row as it is then.
    const stored = {
      credentialId: row.credential_id,
      publicKeySpki: row.public_key_spki,
      algorithm: row.algorithm,
      backupEligible: row.backup_eligible === 1,
    };
    const verdict = await verifyAssertion(response, stored, { challenge: base64urlDecode(challenge)!, ownerId, ...rp });
    return verdict.ok ? { challenge, credentialId, verdict } : refuse(verdict.reason);
  }

  /**
   * Inside a transaction: spends the challenge (first attempt that names it wins,
   * successful or not), then applies the counter rule to the row as it is now,
   * logging a suspected clone (refused or not) only here.
   */
  commitUse(prepared: PreparedUse, sessionId: string | null, nowMs: number): { ok: true; amr: PasskeyAmr } | PasskeyRefused {
    if (!prepared.challenge || !this.challenges.consume(prepared.challenge, "authentication", null, nowMs)) {
      return refused("challenge_unknown");
    }
    if (!prepared.verdict.ok) return refused(prepared.verdict.reason);
    const row = this.find(prepared.credentialId);
    // Removed while the signature was being checked.
    if (!row) return refused("unknown_credential");
    const { assertion } = prepared.verdict;
    const counter = checkSignCount(row.sign_count, assertion.receivedSignCount, row.backup_eligible === 1);
    if (counter.cloneSuspected) {
      this.activity.record("passkey_clone_suspected", sessionId, { id: row.credential_id, refused: !counter.ok }, nowMs);
    }
    if (!counter.ok) return refused(counter.reason);
    this.sql.exec(
      "UPDATE passkeys SET sign_count = MAX(sign_count, ?), backed_up = ?, last_used_at_ms = ? WHERE credential_id = ?",
      counter.signCount,
      assertion.backedUp ? 1 : 0,
      nowMs,
      row.credential_id,
    );
    return { ok: true, amr: assertion.amr };
  }

  // --- management ------------------------------------------------------------------

  update(credentialId: string, change: { name?: string; prf?: boolean }): PasskeyListing | null {
    if (!this.find(credentialId)) return null;
    if (change.name !== undefined) this.sql.exec("UPDATE passkeys SET name = ? WHERE credential_id = ?", change.name, credentialId);
    if (change.prf !== undefined) this.sql.exec("UPDATE passkeys SET prf = ? WHERE credential_id = ?", change.prf ? 1 : 0, credentialId);
    return toListing(this.find(credentialId)!);
  }

  /** Inside a transaction: removes one passkey; false if there is none with this id. */
  remove(credentialId: string, sessionId: string, nowMs: number): boolean {
    const row = this.sql.exec<{ name: string }>("DELETE FROM passkeys WHERE credential_id = ? RETURNING name", credentialId).toArray()[0];
    if (!row) return false;
    this.activity.record("passkey_removed", sessionId, { id: credentialId, name: row.name }, nowMs);
    return true;
  }

  has(credentialId: string): boolean {
    return this.find(credentialId) !== undefined;
  }

  // --- internals -------------------------------------------------------------------

  private find(credentialId: string): PasskeyRow | undefined {
    return this.sql.exec<PasskeyRow>("SELECT * FROM passkeys WHERE credential_id = ?", credentialId).toArray()[0];
  }
}

function toListing(row: PasskeyRow): PasskeyListing {
  return {
    id: row.credential_id,
    name: row.name,
    createdAt: row.created_at_ms,
    lastUsedAt: row.last_used_at_ms,
    backedUp: row.backed_up === 1,
    prf: row.prf === 1,
  };
}
