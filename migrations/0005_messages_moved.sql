-- v5: private messages are stored in the instance's Durable Object (its schema v9,
-- src/durable/messages.ts) and no longer here. This table refuses inserts from now
-- on, so that a Worker still running older code during a deploy cannot store a
-- message where nobody will read it (it fails, and the sender retries against the
-- new code). The object moves the rows stored here before into its own storage once
-- (src/durable/messagesMove.ts), ids and all, and then empties this table. The
-- table stays, empty, so that the move can run on an instance that upgrades late.

CREATE TRIGGER messages_moved BEFORE INSERT ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages are stored in the Durable Object (migration 0005)');
END;
