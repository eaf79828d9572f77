/**
 * Recovery state inside the instance Durable Object (docs/api.md §13): the recovery
 * verifier (the public half of the Ed25519 key derived from the owner's recovery
 * key), the one recovery request, and the single-use mfa tickets a completed
 * recovery issues. docs/recovery.md says why a request waits.
 *
 * The Worker checks the verifier's signature (services/assertions.ts) before it
 * calls in here; every decision the object makes ("is a request open, is it ready,
 * spend it", "redeem a ticket") is one check-and-set inside the caller's
 * `transactionSync`, so twenty racing completions with one request spend it once.
 * Every method takes the verifier's kid the Worker checked the signature with: a
 * verifier replaced in between makes the call fail instead of acting for the old one.
 */
import type { PublicJwk } from "../schemas/api";
import type { ActivityLog } from "./activityLog";

/** A completed recovery's ticket is good for one login within 300 s, like §4's mfa tickets. */
export const RECOVERY_TICKET_TTL_MS = 300_000;

export interface RecoveryVerifierRecord {
  jwk: Extract<PublicJwk, { use: "sig" }>;
  configuredAtMs: number;
}

export interface RecoveryRequest {
  id: string;
  createdAtMs: number;
  readyAtMs: number;
}

export interface RecoveryStatus {
  verifier: RecoveryVerifierRecord | null;
  /** The open request, if any (a spent one is not open). */
  request: RecoveryRequest | null;
}

export type RecoveryStart =
  | { ok: true; request: RecoveryRequest; created: boolean }
  | { ok: false; error: "not_configured" };

export type RecoveryCompletion =
  | { ok: true; requestId: string }
  /** No verifier, another verifier, or no open request (never opened, cancelled or spent). */
  | { ok: false; error: "no_request" }
  | { ok: false; error: "not_ready"; readyAtMs: number }
  /** Not completed within the window after readyAt: a new request must be started. */
  | { ok: false; error: "expired"; expiredAtMs: number };

interface VerifierRow extends Record<string, SqlStorageValue> {
  jwk: string;
  kid: string;
  configured_at_ms: number;
}

interface RequestRow extends Record<string, SqlStorageValue> {
  id: string;
  verifier_kid: string;
  created_at_ms: number;
  ready_at_ms: number;
}

export class RecoveryStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly activity: ActivityLog,
  ) {}

  /**
   * Whether a recovery verifier is set up. While one is, two-factor authentication
   * must stay on (docs/recovery.md, "Where this differs from the protocol"): without
   * it POST /auth/escrow hands anyone the blob, which the recovery key opens at once.
   */
  isConfigured(): boolean {
    return this.readVerifier() !== undefined;
  }

  verifier(): RecoveryVerifierRecord | null {
    const row = this.readVerifier();
    return row ? { jwk: JSON.parse(row.jwk), configuredAtMs: row.configured_at_ms } : null;
  }

  /**
   * The verifier, and the open request: not spent, and not past `windowMs` after its
   * readyAt (RECOVERY_WINDOW_S, docs/api.md §13: an expired request is not open).
   */
  status(windowMs: number, nowMs: number): RecoveryStatus {
    const verifier = this.verifier();
    const request = verifier ? this.readOpenRequest(verifier.jwk.kid, windowMs, nowMs) : undefined;
    return { verifier, request: request ? toRequest(request) : null };
  }

  /**
   * Sets (or with null removes) the verifier. Either way any request and ticket of
   * the old verifier ends with it: a request opened with a key the owner has just
   * replaced must not complete three days later.
   */
  configure(jwk: RecoveryVerifierRecord["jwk"] | null, sessionId: string, nowMs: number): void {
    const had = this.readVerifier();
    this.sql.exec("DELETE FROM recovery_request");
    this.sql.exec("DELETE FROM recovery_tickets");
    if (jwk === null) {
      this.sql.exec("DELETE FROM recovery_verifier");
      if (had) this.activity.record("recovery_removed", sessionId, { kid: had.kid }, nowMs);
      return;
    }
    this.sql.exec(
      "INSERT INTO recovery_verifier (id, jwk, kid, configured_at_ms) VALUES (1, ?, ?, ?) " +
        "ON CONFLICT (id) DO UPDATE SET jwk = excluded.jwk, kid = excluded.kid, configured_at_ms = excluded.configured_at_ms",
      JSON.stringify(jwk),
      jwk.kid,
      nowMs,
    );
    this.activity.record("recovery_configured", sessionId, { kid: jwk.kid }, nowMs);
  }

  /**
   * Opens a request usable from `nowMs + delayMs`, or returns the open one unchanged
   * (a second request while one is open gets the same readyAt: asking again must
   * not move the owner's deadline to cancel, nor shorten the wait). An expired one
   * (`windowMs` past its readyAt) is replaced by a new one, which waits again.
   */
  start(verifierKid: string, input: { id: string; delayMs: number; windowMs: number }, nowMs: number): RecoveryStart {
    const verifier = this.readVerifier();
    if (!verifier || verifier.kid !== verifierKid) return { ok: false, error: "not_configured" };
    const open = this.readOpenRequest(verifierKid, input.windowMs, nowMs);
    if (open) return { ok: true, request: toRequest(open), created: false };
    const request = { id: input.id, createdAtMs: nowMs, readyAtMs: nowMs + input.delayMs };
    this.sql.exec(
      "INSERT INTO recovery_request (slot, id, verifier_kid, created_at_ms, ready_at_ms, spent_at_ms) VALUES (1, ?, ?, ?, ?, NULL) " +
        "ON CONFLICT (slot) DO UPDATE SET id = excluded.id, verifier_kid = excluded.verifier_kid, " +
        "created_at_ms = excluded.created_at_ms, ready_at_ms = excluded.ready_at_ms, spent_at_ms = NULL",
      request.id,
      verifierKid,
      request.createdAtMs,
      request.readyAtMs,
    );
    this.activity.record("recovery_requested", null, { id: request.id, readyAt: request.readyAtMs }, nowMs);
    return { ok: true, request, created: true };
  }

  /**
   * Stops an open request and any unredeemed ticket: a request completed by someone
   * else whose ticket has not logged in yet is stopped too. False when there was
   * neither (an expired request is deleted, but was not open).
   */
  cancel(sessionId: string, windowMs: number, nowMs: number): boolean {
    const request = this.sql
      .exec<{ ready_at_ms: number }>("DELETE FROM recovery_request WHERE spent_at_ms IS NULL RETURNING ready_at_ms")
      .toArray()[0];
    const open = request !== undefined && nowMs <= request.ready_at_ms + windowMs;
    const tickets = this.sql
      .exec<{ live: number }>("DELETE FROM recovery_tickets RETURNING expires_at_ms >= ? AS live", nowMs)
      .toArray()
      .filter((t) => t.live).length;
    if (!open && tickets === 0) return false;
    this.activity.record("recovery_cancelled", sessionId, open ? null : { ticket: true }, nowMs);
    return true;
  }

  /**
   * Spends the open request once it is ready and stores the ticket's hash. The
   * conditional UPDATE is the single-use check: of any number of racing callers, one
   * changes the row.
   */
  complete(verifierKid: string, ticketHash: string, windowMs: number, nowMs: number): RecoveryCompletion {
    const verifier = this.readVerifier();
    const open = verifier?.kid === verifierKid ? this.readUnspentRequest(verifierKid) : undefined;
    if (!open) return { ok: false, error: "no_request" };
    if (nowMs < open.ready_at_ms) return { ok: false, error: "not_ready", readyAtMs: open.ready_at_ms };
    if (nowMs > open.ready_at_ms + windowMs) return { ok: false, error: "expired", expiredAtMs: open.ready_at_ms + windowMs };
    const { rowsWritten } = this.sql.exec(
      "UPDATE recovery_request SET spent_at_ms = ? WHERE slot = 1 AND id = ? AND spent_at_ms IS NULL",
      nowMs,
      open.id,
    );
    if (rowsWritten !== 1) return { ok: false, error: "no_request" };
    this.sql.exec("DELETE FROM recovery_tickets WHERE expires_at_ms < ?", nowMs);
    this.sql.exec("INSERT INTO recovery_tickets (hash, expires_at_ms) VALUES (?, ?)", ticketHash, nowMs + RECOVERY_TICKET_TTL_MS);
    this.activity.record("recovered", null, { id: open.id }, nowMs);
    return { ok: true, requestId: open.id };
  }

  /** Single use: the DELETE is the check-and-set. True for a live ticket of a completed recovery. */
  redeemTicket(ticketHash: string, nowMs: number): boolean {
    const row = this.sql
      .exec<{ expires_at_ms: number }>("DELETE FROM recovery_tickets WHERE hash = ? RETURNING expires_at_ms", ticketHash)
      .toArray()[0];
    return row !== undefined && row.expires_at_ms >= nowMs;
  }

  private readVerifier(): VerifierRow | undefined {
    return this.sql.exec<VerifierRow>("SELECT jwk, kid, configured_at_ms FROM recovery_verifier WHERE id = 1").toArray()[0];
  }

  private readUnspentRequest(verifierKid: string): RequestRow | undefined {
    return this.sql
      .exec<RequestRow>(
        "SELECT id, verifier_kid, created_at_ms, ready_at_ms FROM recovery_request WHERE slot = 1 AND spent_at_ms IS NULL AND verifier_kid = ?",
        verifierKid,
      )
      .toArray()[0];
  }

  /** Unspent and not expired: what GET /api/recovery shows and what a second start returns. */
  private readOpenRequest(verifierKid: string, windowMs: number, nowMs: number): RequestRow | undefined {
    const row = this.readUnspentRequest(verifierKid);
    return row && nowMs <= row.ready_at_ms + windowMs ? row : undefined;
  }
}

function toRequest(row: RequestRow): RecoveryRequest {
  return { id: row.id, createdAtMs: row.created_at_ms, readyAtMs: row.ready_at_ms };
}
