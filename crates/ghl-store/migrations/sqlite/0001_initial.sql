-- Times are milliseconds since the Unix epoch; secrets are XChaCha20-Poly1305 ciphertexts.
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    location_id TEXT,
    auth_kind TEXT NOT NULL,
    secret BLOB NOT NULL,
    scopes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What arrived: one row per distinct event (webhookId, cursor position, schedule tick).
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    event_type TEXT NOT NULL,
    location_id TEXT,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- The queue and the run history at once: one row per (event, flow).
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL UNIQUE,
    flow_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX runs_claimable ON runs (status, run_after);

CREATE TABLE steps (
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    request TEXT,
    response TEXT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, attempt, step_index)
);

-- Effects already applied, by idempotency key: a retried run finds them and does not repeat.
CREATE TABLE effects (
    effect_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
