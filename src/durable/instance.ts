/**
 * InstanceDO: the one Durable Object of an instance, and its RPC surface. It is the
 * only writer of everything that must be decided exactly once: challenges, sessions
 * and their refresh tokens, rate-limit counters, two-factor state, inbox replay
 * records, the owner's private messages, and the activity log written with them.
 *
 * This file is wiring: each kind of state is a small store (./sessions.ts with
 * ./refreshRotation.ts, ./challenges.ts, ./activityLog.ts, ./rateLimits.ts,
 * ./factors.ts with ./mfaLockouts.ts, ./twoFactor.ts, ./passkeys.ts with
 * ./passkeyChallenges.ts and ./passkeyRefusals.ts, ./restore.ts, ./inboxReplays.ts,
 * ./messages.ts (moved from D1 once by ./messagesMove.ts), ./liveChannel.ts with
 * ./livePush.ts and ./sockets.ts, ./recovery.ts,
 * ./indieauthRequests.ts with ./indieauthGrants.ts and ./indieauthProfile.ts), built
 * once here and handed to the stores that write through it.
 * An RPC method reads the clock once, does all async work (hashing, sealing) first,
 * and then runs the stores' synchronous check-and-set in one
 * `ctx.storage.transactionSync`: any non-storage await inside a Durable Object
 * lets other requests interleave, so a read-then-write across an await would let two
 * requests both win. Store methods open no transaction of their own where they can
 * avoid it, so one RPC call can combine several of them in one transaction.
 */
import { DurableObject } from "cloudflare:workers";
import type { AuthMethod } from "../domain/accessToken";
import { authenticationOptions, registrationOptions } from "../domain/passkeys";
import { hasSecondFactor } from "../domain/stepUp";
import type { RateLimitRule } from "../domain/rateLimit";
import type { RotationPolicy, SessionLifetimes } from "../domain/rotation";
import type { Env } from "../env";
import { sha256Base64url } from "../lib/bytes";
import type { CodeGrantRequest } from "../domain/indieauth/codes";
import type { OwnerProfile } from "../domain/indieauth/responses";
import { systemClock, type Clock } from "../lib/clock";
import type { ActivityType } from "../schemas/api";
import { ActivityLog, type ActivityDetail, type StoredActivity } from "./activityLog";
import { ChallengeStore } from "./challenges";
import { IndieAuthGrantStore, type ActiveAccessToken, type GrantRefreshResult } from "./indieauthGrants";
import { IndieAuthProfileStore } from "./indieauthProfile";
import {
  IndieAuthRequestStore,
  type CodeRedemptionResult,
  type IndieAuthAnswer,
  type NewAuthorizationRequest,
  type OwnerAnswer,
} from "./indieauthRequests";
import { InboxReplayStore, type InboxClaim, type InboxClaimInput } from "./inboxReplays";
import { MfaLockoutStore } from "./mfaLockouts";
import { OutboxDelivery } from "./outbox";
import { PasskeyChallengeStore } from "./passkeyChallenges";
import { PasskeyStore, type RelyingParty } from "./passkeys";
import { RateLimitStore, type RateLimitVerdict } from "./rateLimits";
import { RecoveryStore, type RecoveryCompletion, type RecoveryStart, type RecoveryStatus, type RecoveryVerifierRecord } from "./recovery";
import { RestoreStore } from "./restore";
import { KeysEpochStore, type KeysChanged } from "./keysEpoch";
import { migrateInstanceStorage } from "./schema";
import { RefreshRotation, type RefreshResult } from "./refreshRotation";
import { SessionStore, type SessionGrant, type SessionStatus, type SessionSummary } from "./sessions";
import { LiveChannel } from "./liveChannel";
import { LivePush } from "./livePush";
import { RevokedSockets } from "./sockets";
import { FactorStore, type FactorFailure, type MfaCounter, type SecondFactor } from "./factors";
import { TwoFactorStore, unlessTurningOffIsRefused, type TwoFactorStatus } from "./twoFactor";
import type { RegistrationResponse } from "../schemas/passkeys";
import type { PasskeyListing } from "../schemas/passkeyResponses";
import { base64urlDecode } from "../lib/bytes";
import { MessageStore, type MessageInsert, type MessagePage, type MessageUsage } from "./messages";
import { moveMessagesFromD1 } from "./messagesMove";
import type { ArchiveMessage } from "../schemas/archive";
import type { ActivityEntry } from "../schemas/apiResponses";
import type { Message } from "../schemas/messageResponses";

export type { RefreshResult } from "./refreshRotation";
export type { SessionGrant, SessionStatus, SessionSummary } from "./sessions";
export type { RateLimitVerdict } from "./rateLimits";
export type { ActiveAccessToken } from "./indieauthGrants";
export type { IndieAuthAnswer, NewAuthorizationRequest } from "./indieauthRequests";

/** A rate-limit hit: the counter's key and its rule. */
export type RateLimitHit = { key: string } & RateLimitRule;

export type ChallengeOpened =
  | { allowed: false; retryAfterS: number }
  /**
   * `claimed` is the object's marker, set only after D1 committed a claim (setup or
   * restore) and never cleared: true is final, false means "ask D1".
   */
  | { allowed: true; challenge: string; expiresAtMs: number; mfa: boolean; passkey: boolean; claimed: boolean };

/**
 * What a Bearer route needs besides the session check, done in the same call for a
 * live session (InstanceDO.authorizeSession): a GET's read, or a DELETE's one write.
 */
export interface BearerWork {
  messages?: { after?: number; before?: number; limit: number };
  activity?: { before?: number; limit: number };
  sessions?: true;
  passkeys?: true;
  /** DELETE /api/messages/:id */
  deleteMessage?: number;
  /** DELETE /api/sessions/:id */
  revokeSession?: string;
  /** DELETE /api/sessions: every session but the caller's */
  revokeOthers?: true;
}

/** An ActivityEntry as RPC's types accept it: the same values, `unknown` spelled out. */
type ActivityEntryOverRpc = Omit<ActivityEntry, "detail"> & { detail?: Record<string, {} | null | undefined> };

/** The session check's answer, with the Bearer read's results for a live session. */
export type SessionAuthorization = {
  status: SessionStatus;
  twoFactor: TwoFactorStatus;
  messages?: MessagePage & { usage: MessageUsage };
  activity?: ActivityEntryOverRpc[];
  sessions?: SessionSummary[];
  passkeys?: PasskeyListing[];
  /** The write's answer: false when what it names does not exist (or was already revoked). */
  written?: boolean;
};

/** What a refused rate-limit hit returns from the one-call RPCs below. */
export type RateLimitRefusal = { ok: false; error: "rate_limited"; retryAfterS: number };

/**
 * POST /auth/login in one call: what the Worker learnt without the object (the
 * challenge the assertion names, and whether its signature and claims held).
 */
export interface LoginAttempt {
  rateLimit: RateLimitHit;
  nonce: string;
  /** Null when the Worker verified the assertion; else why it failed (logged as login_failed). */
  signatureFailure: string | null;
  /**
   * The keys' epoch the Worker's copy of the owner's keys is labelled with
   * (./keysEpoch.ts); undefined when the Worker read them from D1 for this login
   * alone (it could not learn the epoch, or it predates it), so they are current.
   */
  keysEpoch: number | undefined;
  /** The second factor the request carries, or null; checked by the one function every factor kind goes through. */
  factor: SecondFactor | null;
  deviceName: string | null;
  maxTtlMs: number;
}

export type LoginOutcome =
  | { ok: true; grant: SessionGrant }
  | RateLimitRefusal
  /** No live challenge by that name: refused without a log entry (noise anyone can make). */
  | { ok: false; error: "challenge" }
  | { ok: false; error: "signature"; reason: string }
  /** 2FA is on and the login carried no (working) second factor. */
  | { ok: false; error: "mfa_required" }
  /** The owner's keys changed since the Worker read the ones it checked with. */
  | KeysChanged
  | Exclude<FactorFailure, { error: "off" }>;

/**
 * A private message to store (POST /messages, POST /inbox), after the Worker checked
 * its JWE's shape and read the owner's current encryption key from its copy of the
 * keys (services/ownerKeys.ts), labelled with the keys' epoch as a login's are.
 */
export interface MessageDelivery {
  /** POST /messages counts its hit here; POST /inbox counted its own before (null). */
  rateLimit: RateLimitHit | null;
  keysEpoch: number | undefined;
  /** The owner's current encryption kid, as the labelled copy says. */
  currentEncKid: string;
  insert: MessageInsert;
  /**
   * An inbox delivery's activity hash (./inboxReplays.ts): marked done with the new
   * id in the same transaction, or, if another delivery of it stored it already,
   * answered with that id and not stored again.
   */
  inboxActivity: string | null;
}

/** A stored message's id; `duplicate` when an inbox activity's message was stored by another delivery of it (nothing stored or pushed now). */
export type MessageStored = { ok: true; id: number; duplicate?: true };

export type MessageAccepted =
  | RateLimitRefusal
  /** Stored, and pushed to the open sockets. */
  | MessageStored
  /** The keys changed since the Worker read the ones it checked with. */
  | KeysChanged
  /** Sealed to a key that is not the owner's current encryption key (the Worker tells retired from unknown). */
  | { ok: false; error: "not_current_key" }
  /** The messages of its kind are at their quota. */
  | { ok: false; error: "mailbox_full" };

export class InstanceDO extends DurableObject<Env> {
  /** The one clock every store reads (tests move it: test/helpers/clock.ts). */
  private readonly clock: Clock = systemClock;
  // The stores, made in this order right after super() (they read no storage until
  // called; the constructor's migration runs before any call is let in).
  private readonly sql = this.ctx.storage.sql;
  private readonly messages = new MessageStore(this.sql);
  private readonly activity = new ActivityLog(this.sql);
  private readonly challenges = new ChallengeStore(this.sql);
  private readonly rateLimits = new RateLimitStore(this.sql);
  private readonly sessions = new SessionStore(this.sql, this.activity, new RevokedSockets(this.ctx));
  private readonly refreshRotation = new RefreshRotation(this.sql, this.sessions);
  private readonly passkeyChallenges = new PasskeyChallengeStore(this.sql);
  private readonly passkeys = new PasskeyStore(this.sql, this.activity, this.passkeyChallenges);
  private readonly recovery = new RecoveryStore(this.sql, this.activity);
  private readonly factors = new FactorStore(
    this.ctx.storage,
    this.env.DATA_KEY,
    this.clock,
    this.activity,
    new MfaLockoutStore(this.sql, this.activity),
    this.passkeys,
  );
  private readonly twoFactor = new TwoFactorStore(
    this.ctx.storage,
    this.env.DATA_KEY,
    this.clock,
    this.activity,
    this.sessions,
    this.passkeys,
    this.factors,
    this.recovery,
  );
  private readonly keysEpoch = new KeysEpochStore(this.ctx.storage.kv);
  private readonly restore = new RestoreStore(this.ctx.storage, this.activity, this.keysEpoch, this.messages);
  private readonly inboxReplays = new InboxReplayStore(this.ctx.storage);
  private readonly live = new LiveChannel(this.ctx, this.env, this.clock, this.sessions);
  private readonly pushes = new LivePush(this.ctx, this.messages, this.clock);
  private readonly outbox = new OutboxDelivery(this.env, this.clock);
  private readonly indieAuthGrants = new IndieAuthGrantStore(this.sql, this.activity);
  private readonly indieAuthRequests = new IndieAuthRequestStore(this.sql, this.activity, this.indieAuthGrants);
  private readonly ownerProfile = new IndieAuthProfileStore(this.sql);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      migrateInstanceStorage(ctx.storage);
      await moveMessagesFromD1(ctx.storage, env.DB, this.messages);
    });
    // One line per start: after hibernation the object is constructed again while its
    // sockets stayed open, which is how an idle socket shows it cost no wake-ups.
    console.log(JSON.stringify({ event: "instance_started", sockets: ctx.getWebSockets().length }));
  }

  // --- challenges and rate limits ---------------------------------------------------

  /**
   * POST /auth/challenge in one call: counts the hit against `rateLimit` and, when it
   * is allowed, stores a fresh challenge and says whether 2FA is on and whether the
   * instance is known to be claimed. The count and the insert share a transaction.
   */
  openChallenge(rateLimit: RateLimitHit): ChallengeOpened {
    return this.#atomically((nowMs): ChallengeOpened => {
      const verdict = this.rateLimits.hit(rateLimit.key, rateLimit, nowMs);
      if (!verdict.allowed) return { allowed: false, retryAfterS: verdict.retryAfterS };
      const passkey = this.passkeys.count() > 0;
      return {
        allowed: true,
        ...this.challenges.issue(nowMs),
        mfa: this.factors.isEnabled(passkey),
        passkey,
        claimed: this.restore.isClaimed(),
      };
    });
  }

  /**
   * Single use: the first caller that names a live challenge gets true, all others
   * false. With `failure` (the Worker found the signature or claims bad), a consumed
   * challenge is also logged as `login_failed`, in the same call and transaction: a
   * refused attempt costs as many round trips as any other (docs/api.md §13).
   */
  consumeChallenge(challenge: string, failure: { purpose: string; reason: string } | null = null): boolean {
    return this.#atomically((nowMs) => {
      if (!this.challenges.consume(challenge, nowMs)) return false;
      if (failure) this.activity.record("login_failed", null, failure, nowMs);
      return true;
    });
  }

  /** Fixed-window counter (domain/rateLimit.ts): allows `limit` hits per `windowMs` for `key`. */
  hitRateLimit(key: string, limit: number, windowMs: number): RateLimitVerdict {
    return this.#atomically((nowMs) => this.rateLimits.hit(key, { limit, windowMs }, nowMs));
  }

  /** One transaction at one reading of the clock: what most methods here are. */
  #atomically<T>(work: (nowMs: number) => T): T {
    const nowMs = this.clock.nowMs();
    return this.ctx.storage.transactionSync(() => work(nowMs));
  }

  /**
   * One transaction: counts `rateLimit`'s hit, and does `work` only if the hit is
   * allowed. An ES private method: TypeScript's `private` would leave it callable
   * over RPC.
   */
  #rateLimited<T>(rateLimit: RateLimitHit, work: (nowMs: number) => T): RateLimitRefusal | T {
    return this.ctx.storage.transactionSync(() => {
      const nowMs = this.clock.nowMs();
      const verdict = this.rateLimits.hit(rateLimit.key, rateLimit, nowMs);
      if (!verdict.allowed) return { ok: false, error: "rate_limited", retryAfterS: verdict.retryAfterS } as const;
      return work(nowMs);
    });
  }

  // --- the hot paths: one call each (docs/benchmarks.md, "Durable Object calls") -----

  /**
   * A login after the Worker checked the assertion's signature: the rate-limit hit,
   * the challenge's single use and, without a second factor, the 2FA check and the
   * session itself, in one transaction. With a factor, its check (async: the secret
   * is unsealed first) runs between that transaction and the one that creates the
   * session, which checks 2FA again, as createSession does.
   */
  async login(attempt: LoginAttempt): Promise<LoginOutcome> {
    const prepared = await this.sessions.prepareSession();
    // A ticket may be a completed recovery's (docs/api.md §13): its own second factor.
    const recoveryTicketHash =
      attempt.factor && "mfaTicket" in attempt.factor ? await sha256Base64url(attempt.factor.mfaTicket) : null;
    const session = { deviceName: attempt.deviceName, activity: "login" as const, maxTtlMs: attempt.maxTtlMs };
    const first = this.ctx.storage.transactionSync((): LoginOutcome | "check factor" => {
      // Checked with keys that may be rotated out: nothing counts, nothing is spent.
      const stale = this.keysEpoch.refuseStale(attempt.keysEpoch);
      if (stale) return stale;
      const nowMs = this.clock.nowMs();
      const verdict = this.rateLimits.hit(attempt.rateLimit.key, attempt.rateLimit, nowMs);
      if (!verdict.allowed) return { ok: false, error: "rate_limited", retryAfterS: verdict.retryAfterS };
      if (!this.challenges.consume(attempt.nonce, nowMs)) return { ok: false, error: "challenge" };
      if (attempt.signatureFailure !== null) {
        this.activity.record("login_failed", null, { purpose: "login", reason: attempt.signatureFailure }, nowMs);
        return { ok: false, error: "signature", reason: attempt.signatureFailure };
      }
      if (recoveryTicketHash !== null && this.recovery.redeemTicket(recoveryTicketHash, nowMs)) {
        return { ok: true, grant: this.sessions.create(prepared, { ...session, amr: ["pop", "rcv"] }, nowMs) };
      }
      if (attempt.factor) return "check factor";
      if (this.factors.isEnabled()) return { ok: false, error: "mfa_required" };
      return { ok: true, grant: this.sessions.create(prepared, { ...session, amr: ["pop"] }, nowMs) };
    });
    if (first !== "check factor") return first;

    const checked = await this.factors.check(attempt.factor!, { counter: "session", sessionId: null });
    // 2FA is off: a code sent anyway proves nothing and changes nothing.
    if (!checked.ok && checked.error !== "off") {
      if (checked.error === "invalid") {
        this.activity.record("login_failed", null, { purpose: "login", reason: "wrong second factor" }, this.clock.nowMs());
      }
      return checked;
    }
    // The factor's own amr: otp for a code, hwk or swk for a passkey (docs/api.md §12),
    // whatever earned the ticket for an mfa ticket.
    const amr: AuthMethod[] = checked.ok ? ["pop", checked.amr] : ["pop"];
    return this.ctx.storage.transactionSync((): LoginOutcome => {
      // 2FA was turned on since the factor said "off": this login has none.
      if (!hasSecondFactor(amr) && this.factors.isEnabled()) return { ok: false, error: "mfa_required" };
      return { ok: true, grant: this.sessions.create(prepared, { ...session, amr }, this.clock.nowMs()) };
    });
  }

  /**
   * POST /auth/refresh in one call: the rate-limit hit and the rotation share a
   * transaction. docs/api.md §5: the rules live in domain/rotation.ts;
   * ./refreshRotation.ts persists them. All async work first: nothing in between may
   * await until the decision is stored.
   */
  async refresh(presentedToken: string, policy: RotationPolicy, rateLimit: RateLimitHit): Promise<RefreshResult | RateLimitRefusal> {
    const prepared = await this.refreshRotation.prepare(presentedToken);
    const decided = this.#rateLimited(rateLimit, (nowMs) => this.refreshRotation.decide(prepared, policy, nowMs));
    if ("ok" in decided) return decided;
    return await this.refreshRotation.complete(prepared, decided);
  }

  // --- messages (./messages.ts) ------------------------------------------------------

  /**
   * POST /messages and POST /inbox in one call, after the Worker checked the JWE's
   * shape: in one transaction the keys' label (a stale one changes nothing), the
   * rate-limit hit, the kid against the current encryption key, the quota and the
   * insert, and an inbox delivery's activity marked done (an activity another
   * delivery stored already is answered with that id, nothing stored). Then the
   * live channel's push, whose failure must not turn an accepted message into an
   * error (the sender would send it again; a socket that missed it catches up with
   * GET /api/messages?after=).
   */
  acceptMessage(delivery: MessageDelivery): MessageAccepted {
    const nowMs = this.clock.nowMs();
    const outcome = this.ctx.storage.transactionSync((): MessageAccepted => {
      const stale = this.keysEpoch.refuseStale(delivery.keysEpoch);
      if (stale) return stale;
      if (delivery.rateLimit) {
        const verdict = this.rateLimits.hit(delivery.rateLimit.key, delivery.rateLimit, nowMs);
        if (!verdict.allowed) return { ok: false, error: "rate_limited", retryAfterS: verdict.retryAfterS };
      }
      const activity = delivery.inboxActivity;
      // A retry that took over this delivery's lapsed lease (or the other way round)
      // stored it first: the same answer, stored once.
      const earlier = activity === null ? null : this.inboxReplays.storedMessageId(activity);
      if (earlier !== null) return { ok: true, id: earlier, duplicate: true };
      if (delivery.insert.kid !== delivery.currentEncKid) return { ok: false, error: "not_current_key" };
      const message = this.messages.insert(delivery.insert);
      if (!message) return { ok: false, error: "mailbox_full" };
      if (activity !== null) this.inboxReplays.markStored(activity, message.id, nowMs);
      return { ok: true, id: message.id };
    });
    if (outcome.ok && !outcome.duplicate) {
      try {
        this.pushes.publish(outcome.id);
      } catch (err) {
        console.error(JSON.stringify({ event: "message_push_failed", id: outcome.id, error: String(err) }));
      }
    }
    return outcome;
  }

  // --- sessions ----------------------------------------------------------------------

  /**
   * A new session. Refused (null) when its login had no second factor but 2FA is on
   * by now: the route checked 2FA in an earlier call, and a confirmation may have
   * committed since, after revoking every session that existed then.
   */
  async createSession(input: {
    deviceName: string | null;
    amr: AuthMethod[];
    activity: ActivityType;
    maxTtlMs: number;
  }): Promise<SessionGrant | null> {
    const prepared = await this.sessions.prepareSession();
    return this.#atomically((nowMs) => {
      if (!hasSecondFactor(input.amr) && this.factors.isEnabled()) return null;
      return this.sessions.create(prepared, input, nowMs);
    });
  }

  /** Logout: any token the session issued ends it. Returns the session id, if any. */
  async logout(presentedToken: string): Promise<string | null> {
    const hash = await sha256Base64url(presentedToken);
    return this.#atomically((nowMs) => this.sessions.logout(hash, nowMs));
  }

  /**
   * What every Bearer request needs from the object, in one call: is the session
   * live, and the 2FA status (whether it is on, for step-up; the backup codes left, so that
   * GET /api/2fa needs no call of its own). Three small reads. For a live session, the
   * route's work (http/auth.ts) comes with them: GET /api/messages' page with the
   * mailbox's usage, the activity page, the sessions, the passkeys; or the one write
   * of DELETE /api/messages/:id, /api/sessions/:id and /api/sessions. Synchronous, so
   * the check and the work see one state: a revoked session's token reads and writes
   * nothing.
   */
  authorizeSession(sessionId: string, lifetimes: SessionLifetimes, work: BearerWork = {}): SessionAuthorization {
    const nowMs = this.clock.nowMs();
    const twoFactor = this.twoFactor.status();
    const status = this.sessions.status(sessionId, lifetimes, nowMs);
    const { messages: page, activity } = work;
    return {
      status,
      twoFactor,
      ...(status === "active" && {
        messages: page && { ...this.messages.page(page, page.limit), usage: this.messages.usage() },
        activity: activity && this.activity.list(activity.before, activity.limit),
        sessions: work.sessions && this.sessions.list(sessionId, lifetimes, nowMs),
        passkeys: work.passkeys && this.passkeys.list(),
        written: this.#bearerWrite(work, sessionId),
      }),
    };
  }

  /** A DELETE's one write, by the live session `sessionId` (authorizeSession). */
  #bearerWrite({ deleteMessage, revokeSession, revokeOthers }: BearerWork, sessionId: string): boolean | undefined {
    if (deleteMessage !== undefined) return this.messages.delete(deleteMessage);
    if (revokeSession !== undefined) return this.#atomically((nowMs) => this.sessions.revoke(revokeSession, sessionId, nowMs));
    if (revokeOthers) {
      this.#atomically((nowMs) => this.sessions.revokeOthers(sessionId, "revoked_by_owner", nowMs));
      return true;
    }
  }

  /** Step-up: records a fresh signed-challenge login on an active session. */
  stepUp(sessionId: string, amr: AuthMethod[]): { authTimeS: number } | null {
    return this.sessions.stepUp(sessionId, amr, this.clock.nowMs());
  }

  // --- activity ----------------------------------------------------------------------

  /**
   * Several entries about one change, written together or not at all. A
   * `keys_rotated` entry is written right after D1 committed the rotation
   * (routes/escrow.ts), so the keys' epoch is raised with it: logins checked with
   * the old keys are refused from this transaction on.
   */
  recordActivities(entries: Array<{ type: ActivityType; sessionId: string | null; detail: ActivityDetail }>): void {
    this.#atomically((nowMs) => {
      for (const e of entries) this.activity.record(e.type, e.sessionId, e.detail, nowMs);
      if (entries.some((e) => e.type === "keys_rotated")) this.keysEpoch.raise();
    });
  }

  /** The owner's keys' epoch, for a Worker about to read the keys from D1 (services/ownerKeys.ts). */
  currentKeysEpoch(): number {
    return this.keysEpoch.current();
  }

  /**
   * A rotation is about to be written to D1 (routes/escrow.ts): every copy of the
   * keys labelled so far is stale from now on, so none can outlive the rotation if
   * the `keys_rotated` entry (which raises the epoch again) never arrives.
   */
  raiseKeysEpoch(): number {
    return this.#atomically(() => this.keysEpoch.raise());
  }

  // --- two-factor authentication (./factors.ts, ./twoFactor.ts) ------------------------

  twoFactorEnabled(): boolean {
    return this.factors.isEnabled();
  }

  beginTotpEnrolment(sessionId: string) {
    return this.twoFactor.beginEnrolment(sessionId);
  }

  /** Turns 2FA on and, in the same transaction, revokes every other session (docs/api.md §8). */
  confirmTotpEnrolment(sessionId: string, code: string) {
    return this.twoFactor.confirmEnrolment(sessionId, code);
  }

  checkSecondFactor(factor: SecondFactor, options: { counter: MfaCounter; sessionId: string | null; issueTicket?: boolean }) {
    return this.factors.check(factor, options);
  }

  /**
   * `recovery_configured` or `escrow_opens_with_keys` when it would turn 2FA off while
   * a recovery key is set up or while the newest escrow opens with more than the password.
   */
  disableTotp(factor: SecondFactor, sessionId: string, escrowOpensWithKeys: boolean) {
    return unlessTurningOffIsRefused(() => this.twoFactor.disable(factor, sessionId, escrowOpensWithKeys));
  }

  regenerateBackupCodes(factor: SecondFactor, sessionId: string) {
    return this.twoFactor.regenerateBackupCodes(factor, sessionId);
  }

  // --- passkeys (./passkeys.ts, through ./twoFactor.ts where 2FA state changes) ----------

  /** POST /api/passkeys/options: a registration challenge bound to `sessionId`, and the options. */
  beginPasskeyRegistration(input: { sessionId: string; rpId: string; host: string; ownerHandle: string }) {
    return this.#atomically((nowMs) => {
      const ownerId = base64urlDecode(this.passkeys.ensureOwnerId())!;
      const challenge = this.passkeyChallenges.issue("registration", input.sessionId, nowMs);
      const excludeCredentialIds = this.passkeys.list().map((p) => p.id);
      return registrationOptions({ ...input, ownerId, challenge, excludeCredentialIds });
    });
  }

  registerPasskey(credential: RegistrationResponse, meta: { sessionId: string; name: string; prf: boolean }, rp: RelyingParty) {
    return this.twoFactor.registerPasskey(credential, meta, rp);
  }

  /** POST /auth/passkey/options: null while no passkey is registered (404). */
  beginPasskeyAuthentication(rpId: string) {
    return this.#atomically((nowMs) => {
      if (this.passkeys.count() === 0) return null;
      return authenticationOptions({ rpId, challenge: this.passkeyChallenges.issue("authentication", null, nowMs) });
    });
  }

  updatePasskey(credentialId: string, change: { name?: string; prf?: boolean }) {
    return this.#atomically(() => this.passkeys.update(credentialId, change));
  }

  /** As disableTotp, for the last factor. */
  removePasskey(credentialId: string, factor: SecondFactor | null, sessionId: string, escrowOpensWithKeys: boolean) {
    return unlessTurningOffIsRefused(() => this.twoFactor.removePasskey(credentialId, factor, sessionId, escrowOpensWithKeys));
  }

  // --- export and restore (./restore.ts) ---------------------------------------------

  /** The log oldest first, after `afterId`, detail as stored (JSON text): the export reads it in pages. */
  exportActivity(afterId: number, limit: number): StoredActivity[] {
    return this.activity.page(afterId, limit);
  }

  /** The highest message id ever handed out: an export's snapshot of the mailbox. */
  lastMessageId(): number {
    return this.messages.lastId();
  }

  /** The export's pages of messages after `afterId`, up to its snapshot's `lastId`. */
  exportMessages(afterId: number, lastId: number): ArchiveMessage[] {
    return this.messages.exportPage(afterId, lastId);
  }

  /** Takes the restore lease and writes the archived log; false while another restore holds it. */
  beginRestore(restoreId: string, entries: StoredActivity[], lastMessageId: number): boolean {
    return this.restore.begin(restoreId, entries, lastMessageId, this.clock.nowMs());
  }

  /** Under the lease `restoreId`: one part of the archived messages, a JSON array (false if the lease is not this restore's). */
  restoreMessages(restoreId: string, messages: string): boolean {
    return this.restore.importMessages(restoreId, JSON.parse(messages) as ArchiveMessage[], this.clock.nowMs());
  }

  /** The instance is claimed (the archive's keys are in D1): release the lease, log the restore as the claim. */
  finishRestore(restoreId: string, detail: Record<string, string | number>): void {
    this.restore.finish(restoreId, detail, this.clock.nowMs());
  }

  /** Setup claimed the instance (D1 committed): log it, refuse restores from now on. Returns the keys' new epoch. */
  recordClaimed(): number {
    return this.#atomically((nowMs) => this.restore.markClaimed(null, nowMs));
  }

  abortRestore(restoreId: string): void {
    this.restore.abort(restoreId);
  }

  // --- inbox replay protection (./inboxReplays.ts) -------------------------------------

  /**
   * A verified inbox delivery, once: spends its signature and claims its activity
   * id in one transaction (pruning expired records in the same one).
   */
  claimInboxDelivery(input: InboxClaimInput): InboxClaim {
    return this.inboxReplays.claim(input, this.clock.nowMs());
  }

  /** Nothing was stored for the delivery: releases its activity claim, so the sender's retry is processed (a stored message marks it done in acceptMessage). */
  releaseInboxActivity(activityHash: string, claim: string): void {
    this.inboxReplays.release(activityHash, claim);
  }

  // --- recovery (./recovery.ts) ------------------------------------------------------

  /** The recovery verifier, for checking an assertion by it (null when none is set up). */
  recoveryVerifier(): RecoveryVerifierRecord | null {
    return this.recovery.verifier();
  }

  /** GET /api/recovery: the verifier and the open request (`windowMs` = RECOVERY_WINDOW_S). */
  recoveryStatus(windowMs: number): RecoveryStatus {
    return this.recovery.status(windowMs, this.clock.nowMs());
  }

  /**
   * Sets or removes the verifier; any request or ticket of the old one ends with it.
   * Setting one is refused while 2FA is off (docs/recovery.md, "Where this differs
   * from the protocol"), decided in the same transaction, as turning 2FA off checks
   * for a verifier in its own.
   */
  configureRecovery(jwk: RecoveryVerifierRecord["jwk"] | null, sessionId: string): { ok: true } | { ok: false; error: "two_factor_off" } {
    return this.#atomically((nowMs) => {
      if (jwk !== null && !this.factors.isEnabled()) return { ok: false, error: "two_factor_off" } as const;
      this.recovery.configure(jwk, sessionId, nowMs);
      return { ok: true } as const;
    });
  }

  /**
   * POST /auth/recovery, after the Worker checked the verifier's signature. A new
   * request is announced on every live socket once it has committed, so any device
   * the owner has open hears of it at once.
   */
  startRecovery(verifierKid: string, delayMs: number, windowMs: number): RecoveryStart {
    const id = crypto.randomUUID();
    const started = this.#atomically((nowMs) => this.recovery.start(verifierKid, { id, delayMs, windowMs }, nowMs));
    if (started.ok && started.created) this.live.announce({ type: "recovery_requested", readyAt: started.request.readyAtMs });
    return started;
  }

  /** Stops the open request and any unredeemed ticket; false when there was neither. */
  cancelRecovery(sessionId: string, windowMs: number): boolean {
    return this.#atomically((nowMs) => this.recovery.cancel(sessionId, windowMs, nowMs));
  }

  /** Spends the ready (not expired) request and stores the hash of the ticket the Worker will return. */
  completeRecovery(verifierKid: string, ticketHash: string, windowMs: number): RecoveryCompletion {
    return this.#atomically((nowMs) => this.recovery.complete(verifierKid, ticketHash, windowMs, nowMs));
  }

  // --- IndieAuth (./indieauthRequests.ts, ./indieauthGrants.ts, ./indieauthProfile.ts;
  // docs/api.md §14) ----------------------------------------------------------------
  // The form endpoints' calls count their rate-limit hit in the same transaction as
  // their work (`#rateLimited`), so each OAuth request is one call to the object.

  /** POST /api/indieauth/requests, once the Worker has checked the client: stores the request (10 min). */
  openIndieAuthRequest(request: NewAuthorizationRequest): string {
    return this.#atomically((nowMs) => this.indieAuthRequests.openRequest(request, nowMs));
  }

  /** Approve (a fresh code, stored as a hash) or deny a live request, once; the code goes only to the Worker. */
  async answerIndieAuthRequest(requestId: string, answer: OwnerAnswer, sessionId: string): Promise<IndieAuthAnswer> {
    const prepared = await this.indieAuthRequests.prepareAnswer(answer);
    return this.#atomically((nowMs) => this.indieAuthRequests.answerRequest(requestId, answer, prepared, sessionId, nowMs));
  }

  /**
   * A code at the token endpoint (a grant and its first tokens) or at the
   * authorization endpoint (the scopes only), with the rate-limit hit and the
   * profile, in one transaction. The verifier's challenge is computed first.
   */
  async redeemIndieAuthCode(input: {
    rateLimit: RateLimitHit;
    request: CodeGrantRequest;
    endpoint: "token" | "authorization";
    accessTtlS: number;
    policy: RotationPolicy;
  }): Promise<RateLimitRefusal | (CodeRedemptionResult & { profile?: OwnerProfile | null })> {
    const prepared = await this.indieAuthRequests.prepareRedemption(input.request, input.endpoint);
    return this.#rateLimited(input.rateLimit, (nowMs) => {
      const redeemed = this.indieAuthRequests.redeemCode(prepared, { accessTtlMs: input.accessTtlS * 1000, policy: input.policy }, nowMs);
      return redeemed.ok ? { ...redeemed, profile: this.ownerProfile.get() } : redeemed;
    });
  }

  /** `grant_type=refresh_token` in one call: the rate-limit hit and the §5 rotation share a transaction. */
  async refreshIndieAuthGrant(input: {
    rateLimit: RateLimitHit;
    refreshToken: string;
    clientId: string;
    scope: string | null;
    accessTtlS: number;
    policy: RotationPolicy;
  }): Promise<RateLimitRefusal | (GrantRefreshResult & { profile?: OwnerProfile | null })> {
    const prepared = await this.indieAuthGrants.prepareRefresh(input.refreshToken);
    const request = { clientId: input.clientId, scope: input.scope };
    const decided = this.#rateLimited(input.rateLimit, (nowMs) =>
      this.indieAuthGrants.decideRefresh(prepared, request, input.policy, input.accessTtlS * 1000, nowMs),
    );
    if (!("kind" in decided)) return decided;
    const result = await this.indieAuthGrants.completeRefresh(prepared, decided);
    return result.ok ? { ...result, profile: this.ownerProfile.get() } : result;
  }

  /** Introspection and userinfo: the token if it is active (and the profile), after the rate-limit hit. */
  async indieAuthAccessToken(input: {
    rateLimit: RateLimitHit;
    token: string;
    policy: Pick<RotationPolicy, "idleTtlMs">;
  }): Promise<RateLimitRefusal | { ok: true; token: ActiveAccessToken | null; profile: OwnerProfile | null }> {
    const hash = await sha256Base64url(input.token);
    return this.#rateLimited(input.rateLimit, (nowMs) => ({
      ok: true as const,
      token: this.indieAuthGrants.activeAccessToken(hash, input.policy, nowMs),
      profile: this.ownerProfile.get(),
    }));
  }

  /** RFC 7009 revocation (and the token endpoint's legacy action=revoke), after the rate-limit hit. */
  async revokeIndieAuthToken(rateLimit: RateLimitHit, token: string): Promise<RateLimitRefusal | { ok: true }> {
    const hash = await sha256Base64url(token);
    return this.#rateLimited(rateLimit, (nowMs) => {
      this.indieAuthGrants.revokeToken(hash, nowMs);
      return { ok: true as const };
    });
  }

  listIndieAuthGrants(policy: Pick<RotationPolicy, "idleTtlMs">) {
    return this.indieAuthGrants.listGrants(policy, this.clock.nowMs());
  }

  /** The owner ends a grant: its tokens stop working at once. False if no live grant has this id. */
  revokeIndieAuthGrant(grantId: string, sessionId: string, policy: Pick<RotationPolicy, "idleTtlMs">): boolean {
    return this.#atomically((nowMs) => this.indieAuthGrants.revokeGrant(grantId, sessionId, policy, nowMs));
  }

  indieAuthProfile(): OwnerProfile | null {
    return this.ownerProfile.get();
  }

  setIndieAuthProfile(profile: OwnerProfile): void {
    this.#atomically((nowMs) => this.ownerProfile.set(profile, nowMs));
  }

  // --- live channel (./liveChannel.ts, ./livePush.ts) and the shared alarm ------------

  /** Opens a socket; only the Worker's GET /api/ws calls this, after authenticating it. */
  override fetch(request: Request): Promise<Response> {
    return this.live.accept(request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.live.onMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket): void {
    this.live.onClose(ws);
  }

  override webSocketError(ws: WebSocket): void {
    this.live.onClose(ws);
  }

  /**
   * The Worker's nudge after it stored an outbox row (docs/api.md §11): deliver it
   * now. Only moves the shared alarm earlier, never later (like the sockets'). It
   * covers every pending row, not only the one that asked: a row whose own nudge was
   * lost (the Worker answered 202 anyway) is due by the earliest pending time in D1,
   * and this alarm is set no later than that. `dueAtMs` = Infinity asks only that.
   */
  async scheduleOutbox(dueAtMs: number): Promise<void> {
    const pendingDueAtMs = await this.outbox.nextDueAtMs();
    const due = pendingDueAtMs === null ? dueAtMs : Math.min(dueAtMs, pendingDueAtMs);
    if (!Number.isFinite(due)) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || due < current) await this.ctx.storage.setAlarm(due);
  }

  /**
   * The object's one alarm serves the sockets' token deadlines and the federation
   * outbox's retries. Whoever else needs an alarm must merge its deadline here (the
   * earliest wins), not call setAlarm.
   *
   * The sockets go first: their deadlines are synchronous work, and the outbox awaits
   * the network (peer lookups of up to 10 s, deliveries of up to 15 s), which must
   * not make token_expired / 4401 or token_expiring late. While the outbox works,
   * deadlines that fall meanwhile are still met (LiveChannel.keepDeadlinesDuring),
   * and whatever the outbox throws is caught, so the next alarm is always set.
   */
  override async alarm(): Promise<void> {
    this.live.onAlarm(this.clock.nowMs());
    let outboxNext: number | null;
    try {
      outboxNext = await this.live.keepDeadlinesDuring(() => this.outbox.onAlarm(this.clock.nowMs()));
    } catch (err) {
      // A D1 failure or a bug in the outbox must not stall the sockets' deadlines (a
      // thrown alarm is retried, but only after the runtime's backoff): log it, and
      // retry the outbox in a minute.
      console.error(JSON.stringify({ event: "outbox_alarm_failed", error: String(err) }));
      outboxNext = this.clock.nowMs() + 60_000;
    }
    // The next alarm, from both. One set while the outbox awaited (an outbox nudge
    // for a row inserted after its D1 read, a socket opening or re-authed) must
    // survive: it takes part in the minimum. The storage read holds the input gate,
    // so nothing runs between it and setAlarm but the synchronous socket scan, which
    // also handles any deadline that came due since the last check.
    const setMeanwhile = await this.ctx.storage.getAlarm();
    const socketsNext = this.live.onAlarm(this.clock.nowMs());
    const next = [outboxNext, socketsNext, setMeanwhile].filter((t): t is number => t !== null);
    if (next.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...next));
  }
}
