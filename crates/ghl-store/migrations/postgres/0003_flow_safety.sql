-- A flow the runaway detector paused (it ran one record too often): why and when. A paused
-- flow triggers nothing until it is enabled or applied again.
ALTER TABLE flows ADD COLUMN paused_reason TEXT;
ALTER TABLE flows ADD COLUMN paused_at BIGINT;

-- The record a run is about (the event's `id`), so the runaway detector can count runs per
-- flow and record.
ALTER TABLE runs ADD COLUMN record_id TEXT;
CREATE INDEX runs_by_record ON runs (flow_id, record_id, created_at);

-- What the engine's writes changed: one row per (write, record, event type it will cause),
-- written before the request is sent (`result` null: the answer is not known yet) and
-- completed with the record as the answer shows it. The webhook that echoes a write is
-- matched to it (`echo_event_id`) and does not trigger the flow that wrote it again.
CREATE TABLE own_writes (
    id TEXT PRIMARY KEY,
    effect_key TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    result TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    echo_event_id TEXT
);
CREATE UNIQUE INDEX own_writes_once ON own_writes (effect_key, record_id, event_type);
CREATE INDEX own_writes_unechoed ON own_writes (flow_id, record_id, event_type, written_at);
