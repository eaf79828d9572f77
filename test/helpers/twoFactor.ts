/**
 * Two-factor helpers for the workers tests: an authenticator app (otpauth, fed the
 * secret the server returned) that never offers a time step twice, enrolment in one
 * call, and time travel for lockouts and expiries inside the Durable Object. Time is
 * the server's (test/helpers/clock.ts): when the authenticator runs out of steps it
 * moves the clock to the next one instead of waiting for it.
 */
import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { TOTP } from "otpauth";
import { expect } from "vitest";
import { loadDataKeys, mfaHash } from "../../src/lib/dataKeys";
import { advanceClock, serverNowMs } from "./clock";
import { json, type OwnerClient } from "./owner";
import { inInstance } from "./workers";

const PERIOD_MS = 30_000;
const stepNow = () => Math.floor(serverNowMs() / PERIOD_MS);

/**
 * The server accepts steps now-1, now and now+1, each once, in increasing order.
 * A code for `now-1` is only offered well inside a step (it would fall out of the
 * window if the step changed before the request arrived); when no step is left, the
 * authenticator moves the server's clock into the next period, where a person would
 * wait for it.
 */
export class Authenticator {
  private readonly totp: TOTP;
  lastStep: number | null = null;

  constructor(readonly secret: string) {
    this.totp = new TOTP({ secret, algorithm: "SHA1", digits: 6, period: 30 });
  }

  codeForStep(step: number): string {
    return this.totp.generate({ timestamp: step * PERIOD_MS });
  }

  /** A code the server has not accepted yet; remembers its step as used. */
  async nextCode(): Promise<string> {
    for (;;) {
      const now = stepNow();
      const msIntoStep = serverNowMs() % PERIOD_MS;
      const earliest = msIntoStep < PERIOD_MS - 2_000 ? now - 1 : now;
      const step = Math.max(earliest, (this.lastStep ?? -Infinity) + 1);
      if (step <= now + 1) {
        this.lastStep = step;
        return this.codeForStep(step);
      }
      advanceClock(PERIOD_MS - msIntoStep + 50);
    }
  }

  /** A code that is certainly wrong right now (not any code of the window). */
  wrongCode(): string {
    const now = stepNow();
    const taken = new Set([-2, -1, 0, 1, 2].map((d) => this.codeForStep(now + d)));
    for (let n = 0; ; n++) {
      const code = String((123456 + n * 7919) % 1_000_000).padStart(6, "0");
      if (!taken.has(code)) return code;
    }
  }
}

export interface Enrolled {
  auth: Authenticator;
  backupCodes: string[];
}

/** Turns 2FA on for `owner`'s session (which must be a fresh login) and returns the authenticator. */
export async function enrolTotp(owner: OwnerClient): Promise<Enrolled> {
  const begin = await owner.api("POST", "/api/2fa/totp");
  expect(begin.status, await begin.clone().text()).toBe(200);
  const { secret } = await json<{ secret: string }>(begin);
  const auth = new Authenticator(secret);
  const confirm = await owner.api("POST", "/api/2fa/totp/confirm", { code: await auth.nextCode() });
  expect(confirm.status, await confirm.clone().text()).toBe(200);
  const { backupCodes } = await json<{ backupCodes: string[] }>(confirm);
  return { auth, backupCodes };
}

/**
 * TOTP on for `owner` unless it already is, for the beforeAll of a describe block that
 * needs 2FA on: run alone (npm run test:describe-alone) it enrols here; after the
 * file's earlier blocks it keeps what they enrolled (`enrolled`, the file's variables).
 * Enrolling first renews the step-up with a plain reauth: while 2FA is off a recent
 * login is all POST /api/2fa/totp needs.
 */
export async function ensureTotp(owner: OwnerClient, enrolled: Partial<Enrolled>): Promise<Enrolled> {
  const status = await json<{ totp: boolean }>(await owner.api("GET", "/api/2fa"));
  if (status.totp) {
    if (!enrolled.auth || !enrolled.backupCodes) throw new Error("TOTP is on, but this file kept no authenticator for it");
    return { auth: enrolled.auth, backupCodes: enrolled.backupCodes };
  }
  const reauth = await owner.request("POST", "/auth/reauth", { body: { assertion: await owner.assertion() }, bearer: true });
  expect(reauth.status, await reauth.clone().text()).toBe(200);
  owner.accessToken = (await json<{ accessToken: string }>(reauth)).accessToken;
  return enrolTotp(owner);
}

/** Step-up with a second factor: a fresh token whose amr has "otp". */
export async function reauthWithCode(owner: OwnerClient, factor: { totp: string } | { backupCode: string }) {
  const res = await owner.request("POST", "/auth/reauth", {
    body: { assertion: await owner.assertion(), ...factor },
    bearer: true,
  });
  if (res.status === 200) owner.accessToken = (await json<{ accessToken: string }>(res.clone())).accessToken;
  return res;
}

export function amrOf(accessToken: string | undefined): unknown {
  return decodeJwt(accessToken!).amr;
}

// --- time travel inside the Durable Object -------------------------------------

/** Makes every lockout pass now, keeping the counts (the next one doubles). */
export function endLockouts(): Promise<void> {
  return inInstance((_, state) => {
    state.storage.sql.exec("UPDATE mfa_lockouts SET locked_until_ms = 0");
  });
}

/** Forgets the lockout counters, as a success would. */
export function clearLockouts(): Promise<void> {
  return inInstance((_, state) => {
    state.storage.sql.exec("DELETE FROM mfa_lockouts");
  });
}

export function lockoutRow(counter: "escrow" | "session") {
  return inInstance((_, state) =>
    state.storage.sql
      .exec<{ consecutive_failures: number; locked_until_ms: number; lockouts: number }>(
        "SELECT consecutive_failures, locked_until_ms, lockouts FROM mfa_lockouts WHERE counter = ?",
        counter,
      )
      .toArray()[0] ?? null,
  );
}

export function sqlInInstance<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: SqlStorageValue[]) {
  return inInstance((_, state) => state.storage.sql.exec<T>(query, ...bindings).toArray());
}

export async function activityTypes(owner: OwnerClient): Promise<string[]> {
  const res = await owner.api("GET", "/api/activity?limit=100");
  return (await json<{ entries: Array<{ type: string }> }>(res)).entries.map((e) => e.type);
}

/** Exact count of activity entries of one type, read from storage (the API pages at 100). */
export async function activityCount(type: string, detail?: { counter: "escrow" | "session" }): Promise<number> {
  const rows = await sqlInInstance<{ detail: string | null }>("SELECT detail FROM activity WHERE type = ?", type);
  if (!detail) return rows.length;
  return rows.filter((r) => (JSON.parse(r.detail ?? "{}") as { counter?: string }).counter === detail.counter).length;
}

/**
 * Whether the unused backup codes in storage are exactly `codes` (each hashed the
 * way the server hashes them), so that no other set, e.g. one a losing racer
 * generated, can work.
 */
export async function storedBackupCodesAre(codes: string[]): Promise<boolean> {
  const keys = await loadDataKeys(env.DATA_KEY);
  const expected = (await Promise.all(codes.map((c) => mfaHash(keys, "backup-code", c)))).sort();
  const stored = (await sqlInInstance<{ hash: string }>("SELECT hash FROM backup_codes WHERE used_at_ms IS NULL"))
    .map((r) => r.hash)
    .sort();
  return JSON.stringify(stored) === JSON.stringify(expected);
}

/** How many of `responses` have each status, e.g. { 200: 1, 401: 5, 429: 4 }. */
export function statusCounts(responses: Response[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}
