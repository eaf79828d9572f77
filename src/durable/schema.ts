/**
 * The Durable Object's own SQLite schema, versioned. `migrateInstanceStorage` runs
 * in the constructor (inside blockConcurrencyWhile), applies each step past the
 * stored version in one transaction, and so upgrades never lose sessions.
 * docs/storage-schema.md describes every table.
 */
const STEPS: readonly string[] = [
  // v1: challenges, sessions with their refresh tokens, activity log, rate limits.
  "CREATE TABLE challenges (challenge TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX challenges_expiry ON challenges (expires_at_ms);" +
    "CREATE TABLE sessions (id TEXT PRIMARY KEY, device_name TEXT, created_at_ms INTEGER NOT NULL, " +
      "last_used_at_ms INTEGER NOT NULL, auth_time_s INTEGER NOT NULL, amr TEXT NOT NULL, " +
      "current_hash TEXT NOT NULL, previous_hash TEXT, rotated_at_ms INTEGER, successor_wrap TEXT, " +
      "revoked_at_ms INTEGER, revoked_reason TEXT);" +
    "CREATE TABLE refresh_tokens (hash TEXT PRIMARY KEY, " +
      "session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE, " +
      "issued_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);" +
    "CREATE TABLE activity (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, " +
      "at_ms INTEGER NOT NULL, session_id TEXT, detail TEXT);" +
    "CREATE TABLE rate_limits (key TEXT PRIMARY KEY, window_ends_at_ms INTEGER NOT NULL, " +
      "count INTEGER NOT NULL);" +
    "CREATE INDEX rate_limits_expiry ON rate_limits (window_ends_at_ms);",
  // v2: two-factor authentication (docs/api.md §8), see src/durable/twoFactor.ts.
  "CREATE TABLE totp (id INTEGER PRIMARY KEY CHECK (id = 1), secret_sealed TEXT, " +
    "enabled_at_ms INTEGER, last_step INTEGER, pending_secret_sealed TEXT, pending_session_id TEXT, " +
    "pending_expires_at_ms INTEGER);" +
    "CREATE TABLE backup_codes (hash TEXT PRIMARY KEY, created_at_ms INTEGER NOT NULL, used_at_ms INTEGER);" +
    "CREATE TABLE mfa_tickets (hash TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX mfa_tickets_expiry ON mfa_tickets (expires_at_ms);" +
    "CREATE TABLE mfa_lockouts (counter TEXT PRIMARY KEY, consecutive_failures INTEGER NOT NULL, " +
      "locked_until_ms INTEGER NOT NULL, lockouts INTEGER NOT NULL);",
  // v3: inbox replay protection (docs/api.md §11), see src/durable/inboxReplays.ts.
  "CREATE TABLE inbox_signatures (hash TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX inbox_signatures_expiry ON inbox_signatures (expires_at_ms);" +
    "CREATE TABLE inbox_activities (hash TEXT PRIMARY KEY, " +
      "state TEXT NOT NULL CHECK (state IN ('pending', 'done')), claim TEXT, message_id INTEGER, " +
      "expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX inbox_activities_expiry ON inbox_activities (expires_at_ms);",
  // v4: failed logins have their own, smaller retention (ACTIVITY_RETENTION_BY_TYPE
  // in src/durable/activityLog.ts), pruned through this index.
  "CREATE INDEX activity_type ON activity (type, id);",
  // v5: recovery (docs/api.md §13), see src/durable/recovery.ts. One verifier, at
  // most one request (open or spent), and the single-use mfa tickets a completed
  // recovery issues.
  "CREATE TABLE recovery_verifier (id INTEGER PRIMARY KEY CHECK (id = 1), jwk TEXT NOT NULL, " +
    "kid TEXT NOT NULL, configured_at_ms INTEGER NOT NULL);" +
    "CREATE TABLE recovery_request (slot INTEGER PRIMARY KEY CHECK (slot = 1), id TEXT NOT NULL, " +
      "verifier_kid TEXT NOT NULL, created_at_ms INTEGER NOT NULL, ready_at_ms INTEGER NOT NULL, " +
      "spent_at_ms INTEGER);" +
    "CREATE TABLE recovery_tickets (hash TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);",
  // v6: passkeys (docs/api.md §12), see src/durable/passkeys.ts. An mfa ticket keeps
  // the amr of the factor that earned it (NULL in tickets from before: "otp").
  "CREATE TABLE passkeys (credential_id TEXT PRIMARY KEY, public_key_spki TEXT NOT NULL, " +
    "algorithm INTEGER NOT NULL, sign_count INTEGER NOT NULL, backup_eligible INTEGER NOT NULL, " +
    "backed_up INTEGER NOT NULL, name TEXT NOT NULL, prf INTEGER NOT NULL, " +
    "created_at_ms INTEGER NOT NULL, last_used_at_ms INTEGER);" +
    "CREATE TABLE passkey_owner (id INTEGER PRIMARY KEY CHECK (id = 1), user_handle TEXT NOT NULL);" +
    "CREATE TABLE passkey_challenges (challenge TEXT PRIMARY KEY, " +
      "ceremony TEXT NOT NULL CHECK (ceremony IN ('registration', 'authentication')), session_id TEXT, " +
      "expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at_ms);" +
    "ALTER TABLE mfa_tickets ADD COLUMN amr TEXT;",
  // v7: IndieAuth (docs/api.md §14), see src/durable/indieauth*.ts. Consent requests,
  // codes (hashes only), grants with rotating refresh tokens (the §5 columns of
  // sessions), access tokens (hashes only), and the profile the `profile` scope shares.
  "CREATE TABLE indieauth_requests (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, client_name TEXT, " +
    "redirect_uri TEXT NOT NULL, state TEXT NOT NULL, code_challenge TEXT NOT NULL, " +
    "scopes TEXT NOT NULL, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, " +
    "used_at_ms INTEGER);" +
    "CREATE INDEX indieauth_requests_expiry ON indieauth_requests (expires_at_ms);" +
    "CREATE TABLE indieauth_codes (hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, client_name TEXT, " +
      "redirect_uri TEXT NOT NULL, code_challenge TEXT NOT NULL, scopes TEXT NOT NULL, " +
      "expires_at_ms INTEGER NOT NULL, used_at_ms INTEGER, grant_id TEXT);" +
    "CREATE INDEX indieauth_codes_expiry ON indieauth_codes (expires_at_ms);" +
    "CREATE TABLE indieauth_grants (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, client_name TEXT, " +
      "scopes TEXT NOT NULL, created_at_ms INTEGER NOT NULL, last_used_at_ms INTEGER NOT NULL, " +
      "current_hash TEXT NOT NULL, previous_hash TEXT, rotated_at_ms INTEGER, successor_wrap TEXT, " +
      "revoked_at_ms INTEGER, revoked_reason TEXT);" +
    "CREATE TABLE indieauth_refresh_tokens (hash TEXT PRIMARY KEY, " +
      "grant_id TEXT NOT NULL REFERENCES indieauth_grants (id) ON DELETE CASCADE, " +
      "issued_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX indieauth_refresh_tokens_grant ON indieauth_refresh_tokens (grant_id);" +
    "CREATE TABLE indieauth_access_tokens (hash TEXT PRIMARY KEY, " +
      "grant_id TEXT NOT NULL REFERENCES indieauth_grants (id) ON DELETE CASCADE, scopes TEXT NOT NULL, " +
      "issued_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);" +
    "CREATE INDEX indieauth_access_tokens_grant ON indieauth_access_tokens (grant_id);" +
    "CREATE INDEX indieauth_access_tokens_expiry ON indieauth_access_tokens (expires_at_ms);" +
    "CREATE TABLE indieauth_profile (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, " +
      "photo TEXT, updated_at_ms INTEGER NOT NULL);",
  // v8: a session's creation sweeps the sessions past their absolute lifetime
  // (SessionStore.create, at most once a minute); without this index that sweep
  // read every session row.
  "CREATE INDEX sessions_created ON sessions (created_at_ms);",
  // v9: the owner's private messages (docs/api.md §9) live here, next to the rate
  // limit and the live channel that every message passes, instead of in D1 (issue
  // #10: one D1 query cost more than the rest of a message). See
  // src/durable/messages.ts; src/durable/messagesMove.ts moves an older instance's
  // messages out of D1 once. Ciphertext only, as before. AUTOINCREMENT: an id is
  // never reused, so `after=<last id seen>` stays a sound catch-up cursor. The
  // quota index holds each message's kind and JWE length, so the quota's count and
  // sum read the index, not the JWEs.
  "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at_ms INTEGER NOT NULL, " +
    "sender TEXT, jwe TEXT NOT NULL, verified INTEGER NOT NULL CHECK (verified IN (0, 1)));" +
    "CREATE INDEX messages_quota ON messages (verified, length(jwe));",
  // v10: the quota counts what a message takes in an export, `from` included as the
  // JSON it is written as (a stranger's `from` of control characters is six bytes
  // each there), so a full mailbox's export stays under the restore limit
  // (docs/messages.md, "Quota"). The index holds that size: the expression must stay
  // the one in src/durable/messages.ts (MESSAGE_SIZE).
  "DROP INDEX messages_quota;" +
    "CREATE INDEX messages_quota ON messages (verified, length(jwe) + length(CAST(json_quote(sender) AS BLOB)));",
];

export const INSTANCE_SCHEMA_VERSION = STEPS.length;
/** The DDL of each version, in order: the upgrade tests rebuild old storage from it. */
export const INSTANCE_SCHEMA_STEPS = STEPS;

export function migrateInstanceStorage(storage: DurableObjectStorage): void {
  storage.transactionSync(() => {
    storage.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    const row = storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0];
    const from = row ? Number(row.value) : 0;
    if (from > STEPS.length) {
      throw new Error(`storage schema v${from} is newer than this code (v${STEPS.length}); refusing to run`);
    }
    for (let v = from; v < STEPS.length; v++) storage.sql.exec(STEPS[v]!);
    storage.sql.exec(
      "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      String(STEPS.length),
    );
  });
}
