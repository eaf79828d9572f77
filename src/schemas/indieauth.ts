/**
 * The request bodies the Worker parses for docs/api.md §14 (IndieAuth): the owner's
 * JSON API (`/api/indieauth/*`, `/api/profile`, §0 errors), and the limits the
 * domain rules share. Everything the Worker only produces or describes (the JSON
 * answers, the OAuth form requests, the metadata) is in oauth.ts and responses.ts,
 * which the Worker imports for types only, so those schemas stay out of its bundle.
 */
import * as z from "zod/mini";
import "./zodLocale";
/** A client_id, redirect_uri or state longer than this is not a real client's. */
export const MAX_URL_CHARS = 2048;
/** The whole authorization query: well above any real request, far below the 64 KiB body limit. */
export const MAX_QUERY_CHARS = 16 * 1024;

export const INDIEAUTH_LIMITS = {
  /** An authorization request id: 16 random bytes, base64url. */
  requestIdChars: 22,
  profileNameChars: 100,
  photoUrlChars: MAX_URL_CHARS,
  /** A space-separated scope list as the owner's page sends it back. */
  scopeChars: 32 * 65,
} as const;

/** An authorization request id (not named `…Schema`: the OpenAPI build would make it a component). */
export const indieAuthRequestId = z.string().check(z.regex(/^[A-Za-z0-9_-]{22}$/, "must be a request id"));

/** A photo the owner links to: an https URL (no `data:`; clients fetch it, so it must be fetchable). */
const photoUrl = z.string().check(
  z.maxLength(INDIEAUTH_LIMITS.photoUrlChars),
  z.refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === "https:" && u.username === "" && u.password === "";
    } catch {
      return false;
    }
  }, "must be an https URL"),
);

/** POST /api/indieauth/requests: the authorization request's query string, as the consent page received it. */
export const indieAuthRequestBodySchema = z.strictObject({
  query: z.string().check(z.maxLength(MAX_QUERY_CHARS)),
});

export const indieAuthApproveBodySchema = z.strictObject({
  requestId: indieAuthRequestId,
  /** Space-separated subset of the request's scopes; omitted: all of them; "": none (profile URL only). */
  scope: z.optional(z.string().check(z.maxLength(INDIEAUTH_LIMITS.scopeChars))),
});

export const indieAuthDenyBodySchema = z.strictObject({ requestId: indieAuthRequestId });

/** PUT /api/profile (step-up): what the `profile` scope shares; `url` is always `me`. */
export const profileBodySchema = z.strictObject({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(INDIEAUTH_LIMITS.profileNameChars)),
  photo: z.optional(photoUrl),
});
