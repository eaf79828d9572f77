/**
 * How an IndieAuth grant ends (docs/api.md §14): its bound in refreshes and the
 * reasons its `app_revoked` entry names. Pure (no zod), so the owner app shares them
 * without bundling any schema.
 */

/**
 * A grant ends (revoked, `refresh_limit`) at its next refresh once it was issued this
 * many refresh tokens: its lifetime counted in refreshes, as it has none in time. Every
 * refresh token it was issued is kept (a superseded one presented again revokes the
 * grant, however old), so without this a client refreshing in a loop could grow the
 * instance's storage without end (docs/threat-model.md, finding 19). A client that
 * refreshes as its access token expires reaches it in 190 years at the default
 * lifetime (a week), 14 months at an hour, a week at the 60 s minimum; one looping at
 * 300 requests a minute, in half an hour.
 */
export const GRANT_MAX_REFRESH_TOKENS = 10_000;

/** Why a grant ended: the `reason` of its `app_revoked` activity entry (docs/api.md §14). */
export type GrantRevocationReason = "code_replayed" | "refresh_limit" | "refresh_token_reuse" | "revoked_by_client" | "revoked_by_owner";
