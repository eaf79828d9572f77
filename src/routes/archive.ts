/** GET /api/export (Bearer, step-up): the whole instance as one JSON archive (docs/export-restore.md). */
import { Hono } from "hono/tiny";
import { ApiError } from "../errors";
import { requireStepUpNow } from "../http/auth";
import type { AppEnv } from "../http/types";
import { openArchiveExport } from "../services/archiveExport";

export const archiveRoutes = new Hono<AppEnv>();

archiveRoutes.get("/export", async (c) => {
  // Step-up: a stolen access token alone must not walk away with the escrow history
  // and every message, even as ciphertext.
  requireStepUpNow(c);
  const nowMs = Date.now();
  const stream = await openArchiveExport(c.env, { origin: c.get("origin"), settings: c.get("settings"), nowMs });
  if (!stream) throw new ApiError("not_claimed", "This instance has not been claimed yet.");
  const host = new URL(c.get("origin")).host.replace(/[^A-Za-z0-9.-]/g, "_");
  const day = new Date(nowMs).toISOString().slice(0, 10);
  return c.body(stream, 200, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Disposition": `attachment; filename="indienet-archive-${host}-${day}.json"`,
    "Cache-Control": "no-store",
  });
});
