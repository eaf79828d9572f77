/**
 * The inbox's replay rules (domain/inboxReplay.ts): what a second sighting of a
 * signature or an activity id means, and how long each is remembered.
 */
import { describe, expect, it } from "vitest";
import { checkDateWindow, DATE_MAX_PAST_MS } from "../../src/domain/httpSignatures";
import {
  ACTIVITY_DEDUP_TTL_MS,
  ACTIVITY_LEASE_MS,
  activityReplayPreimage,
  judgeInboxClaim,
  SIGNATURE_REPLAY_MARGIN_MS,
  signatureReplayExpiry,
  signatureReplayPreimage,
} from "../../src/domain/inboxReplay";

const NOW = Date.parse("Sun, 22 Nov 2026 12:00:00 GMT");
const ALICE = "https://peer.example/users/alice";
const BASE = "(request-target): post /inbox\nhost: id.example.org\ndate: Sun, 22 Nov 2026 12:00:00 GMT\ndigest: SHA-256=abc=";

describe("judgeInboxClaim", () => {
  const fresh = { signatureExpiresAtMs: null, activity: null };

  it("lets a delivery never seen before through", () => {
    expect(judgeInboxClaim(fresh, NOW)).toEqual({ kind: "claim" });
  });

  it("refuses a signature seen before, whatever its activity", () => {
    expect(judgeInboxClaim({ signatureExpiresAtMs: NOW + 1, activity: null }, NOW)).toEqual({ kind: "replayed" });
    const done = { state: "done" as const, expiresAtMs: NOW + 1, messageId: 7 };
    expect(judgeInboxClaim({ signatureExpiresAtMs: NOW + 1, activity: done }, NOW)).toEqual({ kind: "replayed" });
  });

  it("answers a new signature for an activity already stored as a duplicate of it", () => {
    const done = { state: "done" as const, expiresAtMs: NOW + ACTIVITY_DEDUP_TTL_MS, messageId: 7 };
    expect(judgeInboxClaim({ signatureExpiresAtMs: null, activity: done }, NOW)).toEqual({ kind: "duplicate", messageId: 7 });
  });

  it("tells a new signature for an activity still being processed when the lease ends", () => {
    const pending = { state: "pending" as const, expiresAtMs: NOW + 15_000, messageId: null };
    expect(judgeInboxClaim({ signatureExpiresAtMs: null, activity: pending }, NOW)).toEqual({ kind: "in_progress", retryAfterMs: 15_000 });
  });

  it("treats records at or past their expiry as absent (pruned or not)", () => {
    expect(judgeInboxClaim({ signatureExpiresAtMs: NOW, activity: null }, NOW)).toEqual({ kind: "claim" });
    const lapsedLease = { state: "pending" as const, expiresAtMs: NOW - 1, messageId: null };
    expect(judgeInboxClaim({ signatureExpiresAtMs: null, activity: lapsedLease }, NOW)).toEqual({ kind: "claim" });
    const forgotten = { state: "done" as const, expiresAtMs: NOW, messageId: 3 };
    expect(judgeInboxClaim({ signatureExpiresAtMs: null, activity: forgotten }, NOW)).toEqual({ kind: "claim" });
  });
});

describe("how long a signature is remembered", () => {
  it("outlives the Date window: while a Date still passes, its signature is remembered", () => {
    const signedAt = NOW - 1000;
    const expiry = signatureReplayExpiry(signedAt);
    expect(expiry).toBe(signedAt + DATE_MAX_PAST_MS + SIGNATURE_REPLAY_MARGIN_MS);
    const date = new Date(signedAt).toUTCString();
    // The last instant the window accepts this Date is before the record expires…
    const lastAccepted = Date.parse(date) + DATE_MAX_PAST_MS;
    expect(checkDateWindow(date, lastAccepted).ok).toBe(true);
    expect(expiry).toBeGreaterThan(lastAccepted);
    // …and once it expires, the Date is refused anyway.
    expect(checkDateWindow(date, expiry)).toEqual({ ok: false, reason: "date_out_of_window" });
  });

  it("covers a Date signed up to 1 h ahead of the clock", () => {
    const signedAt = NOW + 60 * 60 * 1000;
    expect(signatureReplayExpiry(signedAt)).toBeGreaterThan(signedAt + DATE_MAX_PAST_MS);
  });

  it("keeps leases short and stored activity ids for days", () => {
    expect(ACTIVITY_LEASE_MS).toBeLessThanOrEqual(60_000);
    expect(ACTIVITY_DEDUP_TTL_MS).toBeGreaterThan(48 * 3600_000);
  });
});

describe("replay keys", () => {
  it("name the verified sender with what the signature covered", () => {
    expect(signatureReplayPreimage(ALICE, BASE)).toBe(`inbox-signature:v1\n${ALICE}\n${BASE}`);
    expect(signatureReplayPreimage("https://peer.example/users/bob", BASE)).not.toBe(signatureReplayPreimage(ALICE, BASE));
    expect(signatureReplayPreimage(ALICE, BASE.replace("12:00:00", "12:00:01"))).not.toBe(signatureReplayPreimage(ALICE, BASE));
  });

  it("keep activity ids per sender, apart from signatures", () => {
    const id = "https://peer.example/activities/1";
    expect(activityReplayPreimage(ALICE, id)).toBe(`inbox-activity:v1\n${ALICE}\n${id}`);
    expect(activityReplayPreimage("https://other.example/users/mallory", id)).not.toBe(activityReplayPreimage(ALICE, id));
    expect(activityReplayPreimage(ALICE, id)).not.toBe(signatureReplayPreimage(ALICE, id));
  });
});
