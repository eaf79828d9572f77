/** docs/api.md §7: escrow maintenance and key rotation (Bearer). */
import { Hono } from "hono/tiny";
import type { Context } from "hono";
import { instanceStub } from "../durable/stub";
import { opensWithKeys } from "../domain/escrowBlob";
import { ApiError, notClaimed } from "../errors";
import { requireStepUpNow } from "../http/auth";
import type { AppEnv } from "../http/types";
import { readJson } from "../http/validate";
import { escrowUpdateRequestSchema } from "../schemas/api";
import { checkAssertion } from "../services/assertions";
import { forgetOwnerKeys, requireClaimedKeys, requireThumbprintKids } from "../services/ownerKeys";
import { invalidateJwks } from "../storage/jwksCache";
import * as owner from "../storage/ownerStore";
import type { Reply } from "../schemas/routes";

export const escrowRoutes = new Hono<AppEnv>();

escrowRoutes.get("/escrow", async (c) => {
  const escrow = await owner.latestEscrow(c.env.DB);
  if (!escrow) throw notClaimed();
  return c.json(escrow satisfies Reply<"GET /api/escrow">);
});

escrowRoutes.put("/escrow", async (c) => {
  requireStepUpNow(c);
  const body = await readJson(c, escrowUpdateRequestSchema);
  // With 2FA off anyone may download the escrow: it must open with the password
  // alone (docs/threat-model.md, findings 21 and 22). Every key recipient needs 2FA on.
  if (!c.get("twoFactor").enabled && opensWithKeys(body.blob)) {
    throw new ApiError("forbidden", "A key backup that opens with a passkey or recovery key needs two-factor authentication on.");
  }
  const current = await requireClaimedKeys(c.env);
  // Checked whenever keys are sent, so a kid that names the current key cannot
  // smuggle in different key material as "no rotation".
  if (body.publicKeys) await requireThumbprintKids(body.publicKeys);

  const next = body.publicKeys ?? current;
  const rotating = next.sig.kid !== current.sig.kid || next.enc.kid !== current.enc.kid;
  if (rotating) {
    for (const use of ["sig", "enc"] as const) {
      if (next[use].kid !== current[use].kid && (await owner.isKnownKid(c.env.DB, next[use].kid))) {
        throw new ApiError("invalid_request", `publicKeys.${use} was used before; a retired key cannot return.`);
      }
    }
    if (!body.assertion) {
      throw new ApiError("invalid_request", "Rotating keys needs an assertion signed by the new signing key.");
    }
    await checkAssertion({ instance: instanceStub(c.env), origin: c.get("origin") }, body.assertion, next.sig, "key_rotation");
  }

  // Raised before the write as well as after it (the keys_rotated entry below): if
  // the entry never reaches the object, only a copy read in the moment between this
  // call and D1's commit can still hold the old key (for OWNER_KEYS_MAX_AGE_MS).
  if (rotating) await instanceStub(c.env).raiseKeysEpoch();
  const result = await owner.updateEscrow(c.env.DB, {
    expectedVersion: body.expectedVersion,
    blob: body.blob,
    current,
    next,
    nowMs: Date.now(),
  });
  if (!result.ok) {
    throw new ApiError("version_conflict", "The escrow changed since you read it; fetch it and try again.");
  }
  const sid = c.get("auth").sid;
  // This isolate's login keys are stale at once; every other's when the object
  // raises the keys' epoch with the keys_rotated entry below.
  if (result.rotated.length > 0) forgetOwnerKeys();
  await recordCommittedChange(c, [
    { type: "escrow_updated", sessionId: sid, detail: { version: result.version, reason: body.reason || undefined } },
    ...(result.rotated.length > 0
      ? [{ type: "keys_rotated" as const, sessionId: sid, detail: { rotated: result.rotated, version: result.version } }]
      : []),
  ]);
  if (result.rotated.length > 0) await invalidateJwks(c.env);
  return c.json({ version: result.version } satisfies Reply<"PUT /api/escrow">);
});

/**
 * The escrow lives in D1 and the activity log in the Durable Object, so the log entry
 * for a change is written just after D1 committed it. The change is the truth: if the
 * entry cannot be written, the owner is still told the change is stored (a 5xx would
 * have them retry a write that already happened and hit version_conflict), and the
 * missing entry is logged as an error for the operator. One retry covers a transient
 * failure of the object (a reset on deploy, an overloaded isolate).
 */
async function recordCommittedChange(
  c: Context<AppEnv>,
  entries: Parameters<ReturnType<typeof instanceStub>["recordActivities"]>[0],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await instanceStub(c.env).recordActivities(entries);
      return;
    } catch (err) {
      if (attempt < 2) continue;
      console.error(JSON.stringify({ event: "activity_write_failed", types: entries.map((e) => e.type), error: String(err) }));
      return;
    }
  }
}
