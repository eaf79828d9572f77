/**
 * D1: the federation outbox (docs/api.md §11), one row per POST /api/outbox.
 * Rows are written by the Worker (insert) and by the instance's Durable Object
 * (each attempt), whose alarm is the only deliverer: alarms of one object never
 * run concurrently, so a row is never attempted twice at once.
 */
import type { OutboxStatus } from "../domain/outbox";
import type { OutboxStateResponse } from "../schemas/responses";

export interface OutboxRow {
  id: string;
  created_at_ms: number;
  origin: string;
  recipient: string;
  jwe: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at_ms: number | null;
  last_error: string | null;
  inbox: string | null;
}

/** As GET /api/outbox/:id answers it (docs/api.md §11). */
export type OutboxState = OutboxStateResponse;

/** Stores a delivery, due at once. Durable when this resolves. */
export async function insertOutbox(
  db: D1Database,
  input: { id: string; createdAtMs: number; origin: string; recipient: string; jwe: string },
): Promise<void> {
  await db
    .prepare(
      "INSERT INTO outbox (id, created_at_ms, origin, recipient, jwe, next_attempt_at_ms) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(input.id, input.createdAtMs, input.origin, input.recipient, input.jwe, input.createdAtMs)
    .run();
}

export async function getOutboxState(db: D1Database, id: string): Promise<OutboxState | null> {
  const row = await db
    .prepare("SELECT id, status, attempts, last_error FROM outbox WHERE id = ?")
    .bind(id)
    .first<Pick<OutboxRow, "id" | "status" | "attempts" | "last_error">>();
  if (!row) return null;
  return { id: row.id, status: row.status, attempts: row.attempts, ...(row.last_error ? { lastError: row.last_error } : {}) };
}

/** Pending rows due at `nowMs`, oldest due first. */
export async function listDueOutbox(db: D1Database, nowMs: number, limit: number): Promise<OutboxRow[]> {
  const { results } = await db
    .prepare(
      "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at_ms <= ? " +
        "ORDER BY next_attempt_at_ms ASC LIMIT ?",
    )
    .bind(nowMs, limit)
    .all<OutboxRow>();
  return results;
}

/** The earliest next attempt among pending rows, or null. */
export async function nextOutboxDueAtMs(db: D1Database): Promise<number | null> {
  const row = await db
    .prepare("SELECT MIN(next_attempt_at_ms) AS due FROM outbox WHERE status = 'pending'")
    .first<{ due: number | null }>();
  return row?.due ?? null;
}

export async function recordOutboxAttempt(
  db: D1Database,
  input: {
    id: string;
    attempts: number;
    status: OutboxStatus;
    nextAttemptAtMs: number | null;
    lastError: string | null;
    inbox: string | null;
    doneAtMs: number | null;
  },
): Promise<void> {
  await db
    .prepare(
      "UPDATE outbox SET attempts = ?, status = ?, next_attempt_at_ms = ?, last_error = ?, inbox = COALESCE(?, inbox), " +
        "done_at_ms = ? WHERE id = ? AND status = 'pending'",
    )
    .bind(input.attempts, input.status, input.nextAttemptAtMs, input.lastError, input.inbox, input.doneAtMs, input.id)
    .run();
}
