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
