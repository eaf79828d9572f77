/**
 * /auth/*: challenge, claim (setup), login, escrow retrieval, refresh, logout and
 * step-up (docs/api.md §3-5). Handlers parse, call a service or the Durable Object,
 * and serialize.
 */
import { Hono } from "hono/tiny";
import type { Context } from "hono";
import type { AuthMethod } from "../domain/accessToken";
import {
  comparableSetupCodes,
  estimateSetupCodeBits,
  isSetupCodeStrongEnough,
  SETUP_CODE_MIN_BITS,
  setupCodeFromAuthorization,
} from "../domain/setupCode";
import type { LoginOutcome, SessionGrant } from "../durable/instance";
import { instanceStub } from "../durable/stub";
import { alreadyClaimed, ApiError, notClaimed } from "../errors";
import { requireBearer } from "../http/auth";
import { presentedFactor, requireRelyingParty, type FactorFields } from "../http/factors";
import { clientAddress } from "../http/clientAddress";
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from "../http/cookies";
import { countingFailures, enforceRateLimit, rateLimitFor } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { factorError, mfaRequired, noPasskeys, publicFactorError, rateLimitRefused, refreshRefused, sessionEnded, throwIfRateLimited } from "../instanceErrors";
import { secretsEqual } from "../lib/bytes";
import { systemClock } from "../lib/clock";
import { setupRequestSchema } from "../schemas/api";
import { restoreRequestSchema } from "../schemas/archive";
import {
  escrowFetchWithFactorRequestSchema,
  loginWithFactorRequestSchema,
  reauthWithFactorRequestSchema,
} from "../schemas/factors";
import { parseArchive, restoreFromArchive } from "../services/archiveRestore";
import { checkAssertion, invalidAssertion, verifyAssertionSignature, type AssertionContext } from "../services/assertions";
import { completeRecovery } from "../services/recovery";
import { rememberOwnerKeys, withOwnerKeys, requireClaimedKeys, requireThumbprintKids } from "../services/ownerKeys";
import { mintAccessToken, type TokenIssuer } from "../services/sessions";
import { invalidateJwks } from "../storage/jwksCache";
import * as owner from "../storage/ownerStore";
import type { EscrowRecord } from "../storage/ownerStore";
import { opensWithKeys } from "../domain/escrowBlob";
import type { Reply } from "../schemas/routes";

/** Setup-code attempts allowed per client address and hour (docs/api.md §3). */
export const SETUP_ATTEMPTS_PER_HOUR = 10;

export const authRoutes = new Hono<AppEnv>();

authRoutes.post("/challenge", async (c) => {
  // One Durable Object call (rate limit, challenge, 2FA flag, claimed marker). D1,
  // where the claim itself lives, is asked only while the marker is not set yet.
  const opened = await instanceStub(c.env).openChallenge(rateLimitFor(c, "challenge"));
  if (!opened.allowed) throw rateLimitRefused(opened);
  const claimed = opened.claimed || (await owner.isClaimed(c.env.DB));
  return c.json({
    challenge: opened.challenge,
    expiresAt: opened.expiresAtMs,
    mfa: opened.mfa,
    claimed,
    passkey: opened.passkey,
  } satisfies Reply<"POST /auth/challenge">);
});

/**
 * docs/api.md §12: options for a passkey assertion (public, rate limited). No
 * allowCredentials: passkeys are discoverable, and ids listed here would leak.
 */
authRoutes.post("/passkey/options", async (c) => {
  await enforceRateLimit(c, "passkey");
  const rp = requireRelyingParty(c);
  const options = await instanceStub(c.env).beginPasskeyAuthentication(rp.rpId);
  if (!options) throw noPasskeys();
  return c.json({ options } satisfies Reply<"POST /auth/passkey/options">);
});

authRoutes.post("/setup", async (c) => {
  await enforceRateLimit(c, "setup");
  const body = await readJson(c, setupRequestSchema);
  if (await owner.isClaimed(c.env.DB)) throw alreadyClaimed();
  await checkSetupCode(c, body.setupCode);

  await requireThumbprintKids(body.publicKeys);
  await checkAssertion(assertionContext(c), body.assertion, body.publicKeys.sig, "setup");

  const claimed = await owner.claimInstance(c.env.DB, { publicKeys: body.publicKeys, blob: body.escrow, nowMs: systemClock.nowMs() });
  if (!claimed) throw alreadyClaimed();
  await invalidateJwks(c.env);
  rememberOwnerKeys(body.publicKeys, await instanceStub(c.env).recordClaimed(), systemClock.nowMs());
  return startSession(c, body.deviceName ?? null, 201);
});

/**
 * Claiming a fresh instance with an export archive (docs/export-restore.md): the
 * setup code, as for setup (same rate limits, same wrong-code counter), and an
 * assertion by the archive's current signing key that names this archive's digest.
 * 201 with a session, like setup; two-factor authentication starts off.
 *
 * The body may be 16 MiB, so nothing reads it until the caller has shown the right
 * to claim: a claimed instance answers 409, and the setup code travels in
 * `Authorization: Setup <code>`, counted and compared first. A stranger costs the
 * server two small lookups, never an archive parse.
 */
authRoutes.post("/restore", async (c) => {
  await enforceRateLimit(c, "setup");
  if (await owner.isClaimed(c.env.DB)) throw alreadyClaimed();
  const setupCode = setupCodeFromAuthorization(c.req.header("authorization"));
  if (setupCode === null) {
    throw new ApiError("forbidden", "Send the setup code in the Authorization header: Authorization: Setup <code>.", {
      reason: "no setup code header",
    });
  }
  await checkSetupCode(c, setupCode);
  const body = await readJson(c, restoreRequestSchema, true);
  const archive = await parseArchive(body.archive);
  await restoreFromArchive({ env: c.env, origin: c.get("origin") }, body.assertion, archive);
  return startSession(c, body.deviceName ?? null, 201);
});

authRoutes.post("/login", async (c) => {
  // The Worker does the stateless work first (the body, the owner's key, the
  // signature), then one object call counts the hit, spends the challenge, checks
  // the second factor and creates the session (InstanceDO.login). The signature is
  // checked before the code, so a client without the private key never reaches the
  // code check: it can neither guess codes here nor lock this counter. The key comes
  // from the isolate's copy (services/ownerKeys.ts), whose label the object checks:
  // if the keys changed, nothing happened and the login runs again with fresh keys.
  const beforeCall = <T>(work: () => Promise<T>) => countingFailures(c, "login", work);
  const body = await beforeCall(() => readJson(c, loginWithFactorRequestSchema));
  const stub = instanceStub(c.env);
  const result = await withOwnerKeys(
    c.env,
    systemClock.nowMs(),
    beforeCall,
    async (keys) => {
      const checked = await beforeCall(() => verifyAssertionSignature(body.assertion, keys.keys.sig, c.get("origin")));
      return await stub.login({
        rateLimit: rateLimitFor(c, "login"),
        nonce: checked.nonce,
        signatureFailure: checked.failure,
        keysEpoch: keys.epoch,
        factor: presentedFactor(c, body),
        deviceName: body.deviceName ?? null,
        maxTtlMs: c.get("settings").sessionMaxTtlS * 1000,
      });
    },
  );
  if (result.ok) return sessionStarted(c, result.grant, 200);
  throw loginRefusal(result);
});

function loginRefusal(result: Exclude<LoginOutcome, { ok: true } | { error: "keys_changed" }>): ApiError {
  switch (result.error) {
    case "rate_limited":
      return rateLimitRefused(result);
    case "challenge":
      return invalidAssertion("unknown, used or expired challenge");
    case "signature":
      return invalidAssertion(result.reason);
    case "mfa_required":
      return mfaRequired();
    default:
      return publicFactorError(result);
  }
}

/**
 * docs/api.md §4: the escrow needs no session, but once 2FA is on it needs a code,
 * so nobody without the second factor can even download the ciphertext to attack
 * the password offline. Failures count on the `escrow` counter, apart from the
 * counter of the signed routes. A success also returns an mfa ticket, so that a new
 * device enters one code, not two.
 */
authRoutes.post("/escrow", async (c) => {
  await enforceRateLimit(c, "escrow");
  const body = await readJson(c, escrowFetchWithFactorRequestSchema);
  const escrow = await owner.latestEscrow(c.env.DB);
  if (!escrow) throw notClaimed();
  // docs/api.md §13: a ready recovery request stands in for the second factor.
  if (body.recovery !== undefined) {
    const mfaTicket = await completeRecovery(assertionContext(c), body.recovery, c.get("settings").recoveryWindowS * 1000);
    return c.json({ ...escrow, mfaTicket } satisfies Reply<"POST /auth/escrow">);
  }
  const factor = presentedFactor(c, body);
  if (!factor) {
    if (await instanceStub(c.env).twoFactorEnabled()) throw mfaRequired();
    return withoutFactor(c, escrow);
  }
  const result = await instanceStub(c.env).checkSecondFactor(factor, {
    counter: "escrow",
    sessionId: null,
    issueTicket: true,
  });
  if (result.ok) return c.json({ ...escrow, mfaTicket: result.mfaTicket } satisfies Reply<"POST /auth/escrow">);
  if (result.error === "off") return withoutFactor(c, escrow);
  throw publicFactorError(result);
});

/**
 * The escrow with 2FA off, which anyone may ask for: only a blob that opens with the
 * password alone (docs/threat-model.md, finding 22). A restored instance starts with
 * 2FA off and the archive's newest blob, which may still open with the old recovery
 * sheet or passkeys: until a signed-in device re-seals it, it is withheld.
 */
function withoutFactor(c: Context<AppEnv>, escrow: EscrowRecord) {
  if (opensWithKeys(escrow.blob)) {
    throw new ApiError(
      "forbidden",
      "The key backup still opens with a recovery key or passkey that is not set up here: a signed-in device must save it again (change the password) before it is given out without a second factor.",
    );
  }
  return c.json(escrow satisfies Reply<"POST /auth/escrow">);
}

authRoutes.post("/refresh", async (c) => {
  const token = readRefreshCookie(c);
  if (!token) {
    await enforceRateLimit(c, "refresh");
    throw new ApiError("unauthorized", "No refresh cookie was sent.");
  }
  // One object call: the rate-limit hit and the rotation share a transaction.
  const result = await instanceStub(c.env).refresh(token, c.get("settings").sessionPolicy, rateLimitFor(c, "refresh"));
  if (!result.ok) {
    if (result.error === "rate_limited") throw rateLimitRefused(result);
    clearRefreshCookie(c);
    throw refreshRefused(result.error);
  }
  const minted = await mintAccessToken(tokenIssuer(c), result);
  setRefreshCookie(c, result.refreshToken);
  return c.json({ accessToken: minted.accessToken, expiresIn: minted.expiresIn, sessionId: result.sessionId } satisfies Reply<"POST /auth/refresh">);
});

authRoutes.post("/logout", async (c) => {
  await enforceRateLimit(c, "logout");
  const token = readRefreshCookie(c);
  if (token) await instanceStub(c.env).logout(token);
  clearRefreshCookie(c);
  return c.body(null, 204);
});

authRoutes.post("/reauth", requireBearer, async (c) => {
  await enforceRateLimit(c, "reauth");
  const body = await readJson(c, reauthWithFactorRequestSchema);
  const keys = await requireClaimedKeys(c.env);
  await checkAssertion(assertionContext(c), body.assertion, keys.sig, "reauth");
  const auth = c.get("auth");
  // A code is optional here: without one the token has amr ["pop"], which is enough
  // for step-up only while 2FA is off.
  const amr = await checkSecondFactor(c, body, { purpose: "reauth", sessionId: auth.sid, required: false });
  const stepped = await instanceStub(c.env).stepUp(auth.sid, amr);
  if (!stepped) throw sessionEnded();
  const minted = await mintAccessToken(tokenIssuer(c), { sessionId: auth.sid, authTimeS: stepped.authTimeS, amr });
  return c.json({ accessToken: minted.accessToken, tokenType: "Bearer", expiresIn: minted.expiresIn, sessionId: auth.sid } satisfies Reply<"POST /auth/reauth">);
});

// --- helpers ------------------------------------------------------------------

function assertionContext(c: Context<AppEnv>): AssertionContext {
  return { instance: instanceStub(c.env), origin: c.get("origin") };
}

function tokenIssuer(c: Context<AppEnv>): TokenIssuer {
  return { signingKey: c.env.INSTANCE_SIGNING_KEY, origin: c.get("origin"), accessTokenTtlS: c.get("settings").accessTokenTtlS };
}


/**
 * The setup code is the only thing that stops a stranger from claiming a fresh
 * instance first. It has >= 128 bits of entropy (a configured code estimated
 * weaker is refused outright: src/domain/setupCode.ts); guesses are still limited
 * per address. Every attempt is counted *before* the comparison, in one Durable Object
 * transaction, so a burst of parallel guesses cannot slip past the limit; only
 * wrong codes ever reach it in practice, since a right one claims the instance.
 */
async function checkSetupCode(c: Context<AppEnv>, presented: string): Promise<void> {
  const expected = c.env.SETUP_CODE;
  if (!expected) {
    throw new ApiError("forbidden", "No setup code is configured, so this instance cannot be claimed.");
  }
  // A code anyone could guess would let a stranger claim the instance first: refuse
  // every claim until the operator sets a strong one. The log names the problem and
  // the fix, never the code.
  if (!isSetupCodeStrongEnough(expected)) {
    console.error(
      JSON.stringify({
        event: "setup_code_too_weak",
        estimatedBits: Math.floor(estimateSetupCodeBits(expected)),
        requiredBits: SETUP_CODE_MIN_BITS,
        fix: "npm run deploy -- --new-setup-code (locally: see docs/deploy.md)",
      }),
    );
    throw new ApiError(
      "forbidden",
      `The configured setup code is too weak (under ${SETUP_CODE_MIN_BITS} bits), so this instance cannot be claimed until its operator sets a new one.`,
    );
  }
  const verdict = await instanceStub(c.env).hitRateLimit(
    `setup-attempts:${clientAddress(c)}`,
    SETUP_ATTEMPTS_PER_HOUR,
    3_600_000,
  );
  throwIfRateLimited(verdict, "Too many setup attempts; try again later.");
  const codes = comparableSetupCodes(presented, expected);
  if (!(await secretsEqual(codes.presented, codes.configured))) throw new ApiError("forbidden", "The setup code is wrong.");
}

/**
 * The second factor of a signed request (login, reauth), checked on the `session`
 * counter once the signature is known good. Returns the amr for the session.
 */
async function checkSecondFactor(
  c: Context<AppEnv>,
  body: FactorFields,
  options: { purpose: "login" | "reauth"; sessionId: string | null; required: boolean },
): Promise<AuthMethod[]> {
  const factor = presentedFactor(c, body);
  if (!factor) {
    if (options.required && (await instanceStub(c.env).twoFactorEnabled())) throw mfaRequired();
    return ["pop"];
  }
  const stub = instanceStub(c.env);
  const result = await stub.checkSecondFactor(factor, { counter: "session", sessionId: options.sessionId });
  if (result.ok) return ["pop", result.amr];
  // 2FA is off: a code sent anyway proves nothing and changes nothing.
  if (result.error === "off") return ["pop"];
  if (result.error === "invalid") {
    await stub.recordActivities([
      { type: "login_failed", sessionId: options.sessionId, detail: { purpose: options.purpose, reason: "wrong second factor" } },
    ]);
  }
  throw factorError(result);
}

async function startSession(c: Context<AppEnv>, deviceName: string | null, status: 200 | 201, amr: AuthMethod[] = ["pop"]) {
  const grant: SessionGrant | null = await instanceStub(c.env).createSession({
    deviceName,
    amr,
    activity: "login",
    maxTtlMs: c.get("settings").sessionMaxTtlS * 1000,
  });
  // 2FA was turned on between the factor check and here: this login has none.
  if (!grant) throw mfaRequired();
  return sessionStarted(c, grant, status);
}

async function sessionStarted(c: Context<AppEnv>, grant: SessionGrant, status: 200 | 201) {
  const minted = await mintAccessToken(tokenIssuer(c), grant);
  setRefreshCookie(c, grant.refreshToken);
  return c.json(
    // Setup and restore answer 201 with the same body as a login.
    { accessToken: minted.accessToken, tokenType: "Bearer", expiresIn: minted.expiresIn, sessionId: grant.sessionId } satisfies Reply<"POST /auth/login">,
    status,
  );
}
