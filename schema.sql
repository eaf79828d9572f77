-- The full D1 schema: the sum of migrations/*.sql, kept equal by
-- test/workers/schema.test.ts. Apply migrations, not this file, to a live database.

CREATE TABLE instance (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  claim_id TEXT NOT NULL,
  claimed_at_ms INTEGER NOT NULL
);

CREATE TABLE owner_keys (
  kid TEXT PRIMARY KEY,
  use TEXT NOT NULL CHECK (use IN ('sig', 'enc')),
  jwk TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('current', 'retired')),
  created_at_ms INTEGER NOT NULL,
  retired_at_ms INTEGER
);
CREATE UNIQUE INDEX owner_keys_one_current ON owner_keys (use) WHERE status = 'current';

CREATE TABLE escrow_versions (
  version INTEGER PRIMARY KEY,
  blob TEXT NOT NULL,
  sig_kid TEXT NOT NULL REFERENCES owner_keys (kid),
  enc_kid TEXT NOT NULL REFERENCES owner_keys (kid),
  created_at_ms INTEGER NOT NULL
);

-- v2: private messages (PROTOCOL.md §9). Only ciphertext is stored: the server
-- checks a JWE's shape and header and never decrypts it. AUTOINCREMENT means an id
-- is never reused, even after the newest message is deleted, so ids only grow and
-- `after=<last id seen>` is a sound catch-up cursor.

CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at_ms INTEGER NOT NULL,
  sender TEXT,
  jwe TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1))
);

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

-- v4: the instance-wide message quota (docs/messages.md, "Quota"). POST /messages and
-- POST /inbox store a message only while the messages of its kind (verified or not)
-- are under MESSAGE_QUOTA and MESSAGE_QUOTA_BYTES, checked in the INSERT itself. This
-- index holds each message's kind and JWE length, so the count and the sum read the
-- index, not every JWE.

CREATE INDEX messages_quota ON messages (verified, length(jwe));

-- v5: private messages are stored in the instance's Durable Object (its schema v9,
-- src/durable/messages.ts), not here. The table refuses inserts, so that a Worker
-- still running older code during a deploy cannot store a message where nobody reads
-- it; the object moves the rows stored before into its own storage once
-- (src/durable/messagesMove.ts) and empties this table, which stays, empty.

CREATE TRIGGER messages_moved BEFORE INSERT ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages are stored in the Durable Object (migration 0005)');
END;
