-- A known value sealed under the master key when the store is first opened: a store opened
-- with another key is refused instead of failing every secret it reads.
CREATE TABLE key_check (
    id INTEGER PRIMARY KEY,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Webhook public keys learned with a connection (a sandbox's, from its /_sandbox/info); public,
-- so stored in clear. serve verifies webhooks with HighLevel's keys and these.
CREATE TABLE webhook_keys (
    connection_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    ed25519 TEXT,
    rsa_pem TEXT,
    learned_at BIGINT NOT NULL
);

-- Every webhookId received, so a replayed delivery is refused by its id whatever its event's
-- dedup key (a ContactCreate is keyed by its contact). Kept for good, as events are.
CREATE TABLE webhook_ids (
    webhook_id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);

-- The serve processes working on this store, each with the time it last said it was alive.
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
