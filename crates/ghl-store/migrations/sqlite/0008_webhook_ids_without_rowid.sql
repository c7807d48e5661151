-- Every delivery writes its webhookId: keep it in one B-tree, not two (issue 9: "no slower
-- than 387040a"). A table with a TEXT primary key is a rowid table plus an index of that key;
-- WITHOUT ROWID it is the index alone. Same rows, same uniqueness; one page fewer in each
-- ingest's commit.
CREATE TABLE webhook_ids_keyed (
    webhook_id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO webhook_ids_keyed (webhook_id, received_at)
    SELECT webhook_id, received_at FROM webhook_ids;
DROP TABLE webhook_ids;
ALTER TABLE webhook_ids_keyed RENAME TO webhook_ids;
