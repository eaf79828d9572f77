/**
 * The federation outbox's delivery loop, run by the instance's Durable Object from
 * its one alarm (durable/instance.ts merges this deadline with the sockets').
 * Each run attempts the rows that are due, records every attempt in D1, and
 * returns when the next pending row is due. Alarms of one object never overlap,
 * so a row is never attempted twice at once; a run that dies mid-delivery leaves
 * the row pending and it is attempted again (delivery is at least once, and the
 * activity's id lets a peer drop a duplicate).
 */
import { afterAttempt } from "../domain/outbox";
import type { Env } from "../env";
import { deliverOutboxRow } from "../federation/delivery";
import type { Clock } from "../lib/clock";
import { readSettings } from "../settings";
import { listDueOutbox, nextOutboxDueAtMs, recordOutboxAttempt } from "../storage/outboxStore";

/** Rows attempted per alarm run; more due rows make the next run start at once. */
const BATCH = 10;

export class OutboxDelivery {
  constructor(
    private readonly env: Env,
    private readonly clock: Clock,
  ) {}

  /** Attempts every row due at `nowMs` (up to BATCH); returns the next due time, or null. */
  async onAlarm(nowMs: number): Promise<number | null> {
    const due = await listDueOutbox(this.env.DB, nowMs, BATCH);
    const allowInsecure = readSettings(this.env).allowInsecureFederation;
    await Promise.all(
      due.map(async (row) => {
        // The row's origin is this instance's: a recipient there would be a loop.
        const policy = { allowInsecure, selfOrigin: row.origin };
        const result = await deliverOutboxRow(row, { federationKey: this.env.FEDERATION_KEY, policy, nowMs: this.clock.nowMs() });
        const endedAtMs = this.clock.nowMs();
        const attempts = row.attempts + 1;
        const next = afterAttempt({ createdAtMs: row.created_at_ms, attempts, nowMs: endedAtMs, delivered: result.ok });
        await recordOutboxAttempt(this.env.DB, {
          id: row.id,
          attempts,
          status: next.status,
          nextAttemptAtMs: next.nextAttemptAtMs,
          lastError: result.ok ? null : result.error,
          inbox: result.inbox,
          doneAtMs: next.status === "pending" ? null : endedAtMs,
        });
        console.log(JSON.stringify({ event: "outbox_attempt", id: row.id, attempts, status: next.status, error: result.ok ? undefined : result.error }));
      }),
    );
    return nextOutboxDueAtMs(this.env.DB);
  }

  /** When the earliest pending row is due, or null: what the object's alarm must not be later than. */
  async nextDueAtMs(): Promise<number | null> {
    return await nextOutboxDueAtMs(this.env.DB);
  }
}
