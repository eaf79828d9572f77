/**
 * docs/api.md §11: federation. WebFinger and the actor are public discovery
 * documents (CORS *, no cookies); the logic is in domain/actor.ts. The inbox
 * takes signed deliveries from other servers (services/federationAuth.ts,
 * services/inbox.ts).
 */
import { Hono } from "hono/tiny";
import { actorContentType, actorDocument, actorUrl, JRD_JSON, matchWebfingerResource, webfingerDocument } from "../domain/actor";
import { ApiError } from "../errors";
import { publicCors } from "../http/middleware";
import { enforceRateLimit } from "../http/rateLimit";
import type { AppEnv } from "../http/types";
import { parseJsonUtf8 } from "../lib/bytes";
import { loadFederationKey } from "../lib/federationKey";
import { authenticateFederationRequest } from "../services/federationAuth";
import { receiveInboxActivity } from "../services/inbox";
import type { Reply } from "../schemas/routes";

/** Mounted at /.well-known. */
export const webfingerRoutes = new Hono<AppEnv>();

webfingerRoutes.use("/webfinger", publicCors);

webfingerRoutes.get("/webfinger", (c) => {
  const origin = c.get("origin");
  const handle = c.get("settings").ownerHandle;
  const match = matchWebfingerResource(c.req.query("resource"), origin, handle);
  if (!match.ok) {
    throw match.reason === "malformed"
      ? new ApiError("invalid_request", "resource must be acct:<handle>@<host>.", { reason: "webfinger resource malformed" })
      : new ApiError("not_found", "This instance has no such account.");
  }
  c.header("Content-Type", JRD_JSON);
  c.header("Cache-Control", "public, max-age=300");
  return c.body(JSON.stringify(webfingerDocument(origin, handle) satisfies Reply<"GET /.well-known/webfinger">));
});

/** Mounted at /. */
export const actorRoutes = new Hono<AppEnv>();

actorRoutes.use("/actor", publicCors);

actorRoutes.get("/actor", async (c) => {
  const origin = c.get("origin");
  const key = await loadFederationKey(c.env.FEDERATION_KEY);
  c.header("Content-Type", actorContentType(c.req.header("accept")));
  c.header("Cache-Control", "public, max-age=300");
  c.header("Vary", "Accept");
  return c.body(JSON.stringify(actorDocument(origin, c.get("settings").ownerHandle, key.publicKeyPem) satisfies Reply<"GET /actor">));
});

/**
 * POST /inbox: a delivery signed with HTTP Signatures (draft-cavage-12 or RFC
 * 9421). The raw body is read once: the Digest is over its bytes, and the JSON is
 * parsed from the same bytes only after the signature verified. Each signed
 * request is processed at most once (services/inbox.ts).
 */
actorRoutes.post("/inbox", async (c) => {
  await enforceRateLimit(c, "inbox");
  const body = new Uint8Array(await c.req.arrayBuffer());
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  // The signed `host` is what the sender addressed; Cloudflare routes by it, so it
  // is the URL's host whenever the runtime does not hand us the header.
  if (!headers.has("host")) headers.set("host", url.host);
  const verified = await authenticateFederationRequest(
    { method: c.req.method, target: url.pathname + url.search, url: url.toString(), headers, body },
    {
      kv: c.env.CACHE,
      policy: { allowInsecure: c.get("settings").allowInsecureFederation, selfOrigin: c.get("origin") },
      nowMs: Date.now(),
    },
  );
  if (!/^application\/(activity\+json|ld\+json|json)\b/i.test(c.req.header("content-type") ?? "")) {
    throw new ApiError("invalid_request", "The body must be application/activity+json.");
  }
  let activity: unknown;
  try {
    activity = parseJsonUtf8(body);
  } catch {
    throw new ApiError("invalid_request", "The body is not valid JSON.");
  }
  const outcome = await receiveInboxActivity(
    c.env,
    {
      activity,
      signer: verified.owner,
      signature: verified,
      selfActor: actorUrl(c.get("origin")),
      nowMs: Date.now(),
      quota: c.get("settings").messageQuota,
    },
  );
  if ("stored" in outcome) {
    return c.json({ id: outcome.stored.id } satisfies Reply<"POST /inbox", 202>, 202);
  }
  if ("duplicate" in outcome) {
    // A redelivery of an activity already stored: the first answer again, nothing stored.
    console.log(JSON.stringify({ event: "inbox_duplicate", from: verified.owner, id: outcome.duplicate.messageId }));
    return outcome.duplicate.messageId === null ? c.body(null, 202) : c.json({ id: outcome.duplicate.messageId } satisfies Reply<"POST /inbox", 202>, 202);
  }
  console.log(JSON.stringify({ event: "inbox_ignored", from: verified.owner, reason: outcome.ignored }));
  return c.body(null, 202);
});
