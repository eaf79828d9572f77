/**
 * PROTOCOL.md §11: the owner's federation outbox (Bearer; mounted at /api). The
 * Worker validates and stores the delivery, then nudges the Durable Object, whose
 * alarm delivers and retries (durable/outbox.ts).
 */
import { Hono } from "hono";
import { inspectMessageJwe, JWE_REJECTION_MESSAGES } from "../domain/jwe";
import { ApiError } from "../errors";
import { instanceStub } from "../http/instance";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { randomToken } from "../lib/bytes";
import { outboxIdParamSchema, outboxRequestSchema } from "../schemas/federation";
import { isValidRecipient } from "../services/federationDelivery";
import { getOutboxState, insertOutbox } from "../storage/outboxStore";

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
  // Stored first, so a failed nudge loses nothing: the row is attempted on the next alarm.
  await instanceStub(c.env).scheduleOutbox(nowMs);
  return c.json({ id }, 202);
});

outboxRoutes.get("/outbox/:id", async (c) => {
  const parsed = outboxIdParamSchema.safeParse(c.req.param());
  const state = parsed.success ? await getOutboxState(c.env.DB, parsed.data.id) : null;
  if (!state) throw new ApiError("not_found", "No outbox delivery has this id.");
  return c.json(state);
});
