//! What the engine's own writes changed, so the webhook that echoes a write does not trigger
//! the flow that made it again, and the runaway detector: a flow that runs one record too
//! often in a minute is paused, with the reason kept for the CLI and the API.

use serde_json::{Map, Value};
use sqlx::{Any, Row, Transaction};

use std::time::Duration;

use crate::batch::Binds;
use crate::error::Result;
use crate::ingest::NewEvent;
use crate::{new_id, EventId, FlowId, Timestamp};

/// How long after a write its echo is expected: webhooks come within seconds; a write whose
/// echo never came stops matching after this.
pub const ECHO_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How far back the runaway detector counts a flow's runs of one record.
pub(crate) const RUNAWAY_WINDOW: Duration = Duration::from_secs(60);

/// A record one of a flow's writes changed, and an event type the change causes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnWrite {
    /// The write's effect key (run and step).
    pub effect_key: String,
    pub flow_id: FlowId,
    pub record_id: String,
    pub event_type: String,
    /// The record as the write left it (fields as HighLevel answered them); `null` before
    /// the answer is known (any echo of the record agrees with it).
    pub record: Value,
}

/// Fields an echo may show differently from the write's answer (an event's `type` is the
/// event's, a contact's its own).
const VOLATILE: [&str; 7] =
    ["id", "type", "locationId", "dateAdded", "dateUpdated", "timestamp", "webhookId"];

/// Whether an event shows a record as a write left it: every field both have is equal.
pub fn agrees(written: &Value, payload: &Value) -> bool {
    let (Some(written), Some(shown)) = (written.as_object(), record_of(payload)) else {
        return true;
    };
    written.iter().filter(|(field, _)| !VOLATILE.contains(&field.as_str())).all(|(field, value)| {
        match shown.get(field) {
            Some(shown) => same(value, shown),
            None => true,
        }
    })
}

/// The fields of the record an event carries (an appointment's are inside `appointment`).
fn record_of(payload: &Value) -> Option<&Map<String, Value>> {
    payload.get("appointment").unwrap_or(payload).as_object()
}

/// Equal, where HighLevel may leave out empty values on one side.
fn same(a: &Value, b: &Value) -> bool {
    let empty = |value: &Value| match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    };
    a == b || (empty(a) && empty(b))
}

/// Matches an event to the oldest write of the flow it echoes (unmatched, recent, agreeing);
/// a write is matched once per event type.
pub(crate) async fn match_echo(
    tx: &mut Transaction<'static, Any>,
    flow_id: &FlowId,
    record_id: &str,
    event: &NewEvent,
    event_id: &EventId,
) -> Result<bool> {
    let candidates = sqlx::query(
        "SELECT id, result FROM own_writes
         WHERE flow_id = $1 AND record_id = $2 AND event_type = $3 AND echo_event_id IS NULL AND written_at >= $4
         ORDER BY written_at LIMIT 20",
    )
    .bind(flow_id)
    .bind(record_id)
    .bind(&event.event_type)
    .bind(Timestamp::now() - ECHO_WINDOW)
    .fetch_all(&mut **tx)
    .await?;
    for row in candidates {
        let written = crate::parse_json(&row, "result")?;
        if !agrees(&written, &event.payload) {
            continue;
        }
        let id: String = row.try_get("id")?;
        let matched = sqlx::query(
            "UPDATE own_writes SET echo_event_id = $1 WHERE id = $2 AND echo_event_id IS NULL",
        )
        .bind(event_id)
        .bind(&id)
        .execute(&mut **tx)
        .await?;
        if matched.rows_affected() == 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Pauses a flow that ran `record_id` `limit` times in the last minute; answers why.
pub(crate) async fn pause_if_runaway(
    tx: &mut Transaction<'static, Any>,
    flow_id: &FlowId,
    record_id: &str,
    limit: u32,
    now: Timestamp,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM runs WHERE flow_id = $1 AND record_id = $2 AND created_at >= $3",
    )
    .bind(flow_id)
    .bind(record_id)
    .bind(now - RUNAWAY_WINDOW)
    .fetch_one(&mut **tx)
    .await?;
    let runs: i64 = row.try_get("n")?;
    if runs < i64::from(limit) {
        return Ok(None);
    }
    let reason = format!(
        "runaway: ran record {record_id} {runs} times in a minute (the limit is {limit}); \
         does the flow trigger itself? Fix it, then enable the flow again"
    );
    sqlx::query(
        "UPDATE flows SET paused_reason = $1, paused_at = $2 WHERE id = $3 AND paused_reason IS NULL",
    )
    .bind(&reason)
    .bind(now)
    .bind(flow_id)
    .execute(&mut **tx)
    .await?;
    Ok(Some(reason))
}

/// The statement that records what a write changes, so its echo can be recognised: before
/// it is sent (the record `null`), then as answered. A match made meanwhile is kept. `None`
/// when there is nothing to record.
pub(crate) fn record(binds: &mut Binds, writes: &[OwnWrite]) -> Option<String> {
    // One row per key (the last says it): a row cannot be upserted twice by one statement.
    let mut distinct: Vec<&OwnWrite> = Vec::with_capacity(writes.len());
    for write in writes {
        let key = |other: &&OwnWrite| {
            (&other.effect_key, &other.record_id, &other.event_type)
                == (&write.effect_key, &write.record_id, &write.event_type)
        };
        distinct.retain(|other| !key(other));
        distinct.push(write);
    }
    if distinct.is_empty() {
        return None;
    }
    let now = binds.int(Timestamp::now().as_millis());
    let rows: Vec<String> = distinct
        .iter()
        .map(|write| {
            let values = [
                binds.text(new_id()),
                binds.text(&write.effect_key),
                binds.text(write.flow_id.as_str()),
                binds.text(&write.record_id),
                binds.text(&write.event_type),
                binds.text(write.record.to_string()),
            ];
            format!("({}, {now})", values.join(", "))
        })
        .collect();
    Some(format!(
        "INSERT INTO own_writes (id, effect_key, flow_id, record_id, event_type, result, written_at)
         VALUES {}
         ON CONFLICT (effect_key, record_id, event_type) DO UPDATE SET
             result = CASE WHEN excluded.result = 'null' THEN own_writes.result ELSE excluded.result END",
        rows.join(", ")
    ))
}

impl crate::Store {
    /// Forgets the writes a step announced but did not make (it was refused).
    pub async fn forget_own_writes(&self, effect_key: &str) -> Result<()> {
        sqlx::query("DELETE FROM own_writes WHERE effect_key = $1 AND echo_event_id IS NULL")
            .bind(effect_key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_echo_shows_the_record_as_written() {
        let written = json!({ "id": "c1", "type": "lead", "firstName": "Ada", "tags": ["vip"], "dateUpdated": "t1" });
        let echo = json!({ "type": "ContactUpdate", "id": "c1", "firstName": "Ada", "tags": ["vip"], "dateUpdated": "t2" });
        assert!(agrees(&written, &echo));
        let changed_since = json!({ "id": "c1", "firstName": "Grace", "tags": ["vip"] });
        assert!(!agrees(&written, &changed_since), "a later change is no echo");
        assert!(agrees(&json!({ "tags": [] }), &json!({ "tags": null })), "empty = left out");
    }
}
