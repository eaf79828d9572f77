-- v1: the claimed instance, the owner's public keys, and the escrow history.
-- docs/storage-schema.md describes every table; schema.sql is the sum of all
-- migrations and a test keeps the two equal.

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
