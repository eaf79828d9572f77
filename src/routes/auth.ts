/**
 * /auth/*: challenge, claim (setup), login, escrow retrieval, refresh, logout and
 * step-up (PROTOCOL.md §3-5). Handlers parse, call a service or the Durable Object,
 * and serialize.
 */
import { Hono, type Context } from "hono";
import { findThumbprintMismatch } from "../domain/publicKeys";
import { ApiError, rateLimited } from "../errors";
import { secretsEqual } from "../lib/bytes";
import { requireBearer } from "../http/auth";
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from "../http/cookies";
import { clientAddress, instanceStub } from "../http/instance";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import {
  escrowFetchRequestSchema,
  loginRequestSchema,
  reauthRequestSchema,
  setupRequestSchema,
  type PublicKeys,
} from "../schemas/api";
import { checkAssertion } from "../services/assertions";
import { mintAccessToken, sessionPolicy } from "../services/sessions";
import type { SessionGrant } from "../durable/instance";
import { invalidateJwks } from "../storage/jwksCache";
import * as owner from "../storage/ownerStore";

/** Wrong setup codes allowed per client address and hour (PROTOCOL.md §3). */
export const SETUP_FAILURES_PER_HOUR = 10;

export const authRoutes = new Hono<AppEnv>();

authRoutes.post("/challenge", async (c) => {
  await enforceRateLimit(c, "challenge");
  const [issued, claimed] = await Promise.all([instanceStub(c.env).issueChallenge(), owner.isClaimed(c.env.DB)]);
  return c.json({ challenge: issued.challenge, expiresAt: issued.expiresAtMs, mfa: false, claimed });
});

authRoutes.post("/setup", async (c) => {
  await enforceRateLimit(c, "setup");
  const body = await readJson(c, setupRequestSchema);
  if (await owner.isClaimed(c.env.DB)) throw new ApiError("already_claimed", "This instance already has an owner.");
  await checkSetupCode(c, body.setupCode);

  const mismatch = await findThumbprintMismatch(body.publicKeys);
  if (mismatch) throw new ApiError("invalid_request", `publicKeys.${mismatch}.kid must be its RFC 7638 thumbprint.`);
  await checkAssertion(c, body.assertion, body.publicKeys.sig, "setup");

  const claimed = await owner.claimInstance(c.env.DB, { publicKeys: body.publicKeys, blob: body.escrow, nowMs: Date.now() });
  if (!claimed) throw new ApiError("already_claimed", "This instance already has an owner.");
  await invalidateJwks(c.env);
  await instanceStub(c.env).recordActivity("claimed", null, null);
  return startSession(c, body.deviceName ?? null, 201);
});

authRoutes.post("/login", async (c) => {
  await enforceRateLimit(c, "login");
  const body = await readJson(c, loginRequestSchema);
  const keys = await requireClaimedKeys(c);
  await checkAssertion(c, body.assertion, keys.sig, "login");
  return startSession(c, body.deviceName ?? null, 200);
});

authRoutes.post("/escrow", async (c) => {
  await enforceRateLimit(c, "escrow");
  await readJson(c, escrowFetchRequestSchema);
  const escrow = await owner.latestEscrow(c.env.DB);
  if (!escrow) throw new ApiError("not_claimed", "This instance has not been claimed yet.");
  return c.json(escrow);
});

authRoutes.post("/refresh", async (c) => {
  await enforceRateLimit(c, "refresh");
  const token = readRefreshCookie(c);
  if (!token) throw new ApiError("unauthorized", "No refresh cookie was sent.");
  const result = await instanceStub(c.env).refresh(token, sessionPolicy(c.get("settings")));
  if (!result.ok) {
    clearRefreshCookie(c);
    if (result.error === "theft" || result.error === "revoked") {
      throw new ApiError("session_revoked", "This session has been revoked; log in again.", { reason: result.error });
    }
    throw new ApiError("unauthorized", "The refresh token is unknown or its session has expired.", {
      reason: result.error,
    });
  }
  const minted = await mintAccessToken(c, result);
  setRefreshCookie(c, result.refreshToken);
  return c.json({ accessToken: minted.accessToken, expiresIn: minted.expiresIn, sessionId: result.sessionId });
});

authRoutes.post("/logout", async (c) => {
  const token = readRefreshCookie(c);
  if (token) await instanceStub(c.env).logout(token);
  clearRefreshCookie(c);
  return c.body(null, 204);
});

authRoutes.post("/reauth", requireBearer, async (c) => {
  await enforceRateLimit(c, "reauth");
  const body = await readJson(c, reauthRequestSchema);
  const keys = await requireClaimedKeys(c);
  await checkAssertion(c, body.assertion, keys.sig, "reauth");
  const auth = c.get("auth");
  const stepped = await instanceStub(c.env).stepUp(auth.sid, ["pop"]);
  if (!stepped) throw new ApiError("session_revoked", "This session has ended; log in again.");
  const minted = await mintAccessToken(c, { sessionId: auth.sid, authTimeS: stepped.authTimeS, amr: ["pop"] });
  return c.json({ accessToken: minted.accessToken, tokenType: "Bearer", expiresIn: minted.expiresIn, sessionId: auth.sid });
});

// --- helpers ------------------------------------------------------------------

async function requireClaimedKeys(c: Context<AppEnv>): Promise<PublicKeys> {
  const keys = await owner.currentKeys(c.env.DB);
  if (!keys) throw new ApiError("not_claimed", "This instance has not been claimed yet.");
  return keys;
}

/**
 * The setup code is the only thing that stops a stranger from claiming a fresh
 * instance first. It has >= 128 bits of entropy; wrong guesses are still counted
 * per address, exactly, and refused with 429 past SETUP_FAILURES_PER_HOUR.
 */
async function checkSetupCode(c: Context<AppEnv>, presented: string): Promise<void> {
  const expected = c.env.SETUP_CODE;
  if (!expected) {
    throw new ApiError("forbidden", "No setup code is configured, so this instance cannot be claimed.");
  }
  const stub = instanceStub(c.env);
  const key = `setup-failures:${clientAddress(c)}`;
  const before = await stub.peekRateLimit(key, SETUP_FAILURES_PER_HOUR);
  if (!before.allowed) throw rateLimited(before.retryAfterS, "Too many wrong setup codes; try again later.");
  if (await secretsEqual(presented, expected)) return;
  const after = await stub.hitRateLimit(key, SETUP_FAILURES_PER_HOUR, 3_600_000);
  if (!after.allowed) throw rateLimited(after.retryAfterS, "Too many wrong setup codes; try again later.");
  throw new ApiError("forbidden", "The setup code is wrong.");
}

async function startSession(c: Context<AppEnv>, deviceName: string | null, status: 200 | 201) {
  const grant: SessionGrant = await instanceStub(c.env).createSession({
    deviceName,
    amr: ["pop"],
    activity: "login",
    maxTtlMs: c.get("settings").sessionMaxTtlS * 1000,
  });
  const minted = await mintAccessToken(c, grant);
  setRefreshCookie(c, grant.refreshToken);
  return c.json(
    { accessToken: minted.accessToken, tokenType: "Bearer" as const, expiresIn: minted.expiresIn, sessionId: grant.sessionId },
    status,
  );
}
