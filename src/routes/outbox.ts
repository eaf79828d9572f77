/**
 * docs/api.md §11: the owner's federation outbox (Bearer; mounted at /api). The
 * Worker validates and stores the delivery, then nudges the Durable Object, whose
 * alarm delivers and retries (durable/outbox.ts).
 */
import { Hono } from "hono/tiny";
import { inspectMessageJwe, JWE_REJECTION_MESSAGES } from "../domain/jwe";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { instanceStub } from "../durable/stub";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { randomToken } from "../lib/bytes";
import { outboxIdParamSchema, outboxRequestSchema } from "../schemas/federation";
import { isValidRecipient } from "../federation/delivery";
import { getOutboxState, insertOutbox } from "../storage/outboxStore";
import type { Reply } from "../schemas/routes";

export const outboxRoutes = new Hono<AppEnv>();

outboxRoutes.post("/outbox", async (c) => {
  const body = await readJson(c, outboxRequestSchema);
  if (!isValidRecipient(body.to, { allowInsecure: c.get("settings").allowInsecureFederation, selfOrigin: c.get("origin") })) {
    throw new ApiError(
      "invalid_request",
      "to must be an https:// actor URL (default port, a host name, not this instance) or acct:user@host.",
    );
  }
  // The server cannot check the recipient's kid, but it can refuse what no
  // recipient could open, as POST /messages does.
  const inspection = inspectMessageJwe(body.jwe);
  if (!inspection.ok) {
    throw new ApiError("invalid_request", JWE_REJECTION_MESSAGES[inspection.reason], { reason: inspection.reason });
  }
  const id = randomToken(16);
  const nowMs = Date.now();
  await insertOutbox(c.env.DB, { id, createdAtMs: nowMs, origin: c.get("origin"), recipient: body.to, jwe: body.jwe });
  // Stored: the answer is 202 whatever the nudge does. A 500 here would make the
  // client send the same message again, and the first copy would still go out. The
  // nudge runs after the answer, retried once; if both fail, the next nudge or alarm
  // covers this row too (InstanceDO.scheduleOutbox reads every pending row's due time).
  c.executionCtx.waitUntil(nudgeOutbox(c.env, nowMs));
  return c.json({ id } satisfies Reply<"POST /api/outbox", 202>, 202);
});

outboxRoutes.get("/outbox/:id", async (c) => {
  const parsed = outboxIdParamSchema.safeParse(c.req.param());
  const state = parsed.success ? await getOutboxState(c.env.DB, parsed.data.id) : null;
  if (!state) throw new ApiError("not_found", "No outbox delivery has this id.");
  // A pending row someone is waiting for: make sure an alarm covers it, in case the
  // nudges after its POST were lost. Cheap (the object only moves its alarm earlier).
  // Infinity: no time of its own, only "no later than the pending rows' due times",
  // so a row in backoff keeps its retry time.
  if (state.status === "pending") c.executionCtx.waitUntil(nudgeOutbox(c.env, Number.POSITIVE_INFINITY));
  return c.json(state satisfies Reply<"GET /api/outbox/{id}">);
});

/**
 * Asks the instance object to deliver what is due by `dueAtMs` (and every pending
 * row by its own due time); one retry, then logged. Never rejects.
 */
async function nudgeOutbox(env: Env, dueAtMs: number): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await instanceStub(env).scheduleOutbox(dueAtMs);
      return;
    } catch (err) {
      console.error(JSON.stringify({ event: "outbox_nudge_failed", attempt, error: String(err) }));
    }
  }
}
