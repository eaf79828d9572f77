-- v4: the instance-wide message quota (docs/messages.md, "Quota"). POST /messages and
-- POST /inbox store a message only while the messages of its kind (verified or not)
-- are under MESSAGE_QUOTA and MESSAGE_QUOTA_BYTES, checked in the INSERT itself. This
-- index holds each message's kind and JWE length, so the count and the sum read the
-- index, not every JWE.

CREATE INDEX messages_quota ON messages (verified, length(jwe));
