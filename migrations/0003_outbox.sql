-- v3: federation outbox (PROTOCOL.md §11). One row per POST /api/outbox: the JWE
-- the owner sealed to the recipient, where it goes, and its delivery state. The
-- instance's Durable Object delivers due rows from its alarm and retries with
-- backoff until delivered or 48 h after creation (docs/federation.md).

CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  created_at_ms INTEGER NOT NULL,
  origin TEXT NOT NULL,
  recipient TEXT NOT NULL,
  jwe TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at_ms INTEGER,
  last_error TEXT,
  inbox TEXT,
  done_at_ms INTEGER
);

CREATE INDEX outbox_due ON outbox (next_attempt_at_ms) WHERE status = 'pending';
