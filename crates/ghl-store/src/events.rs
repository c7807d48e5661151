//! Reading stored events back: the newest event of a type from a source, which the flow
//! editor uses as a trigger's sample.

use serde_json::Value;
use sqlx::Row;

use crate::error::Result;
use crate::{parse_json, EventId, Store, Timestamp};

/// An event as it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: EventId,
    pub source: String,
    pub event_type: String,
    pub payload: Value,
    pub received_at: Timestamp,
}

impl Store {
    /// The newest event of `event_type` from `source` (an app's id, `poll`, `schedule`,
    /// `manual`), if one was ever stored.
    pub async fn last_event(&self, source: &str, event_type: &str) -> Result<Option<StoredEvent>> {
        let row = sqlx::query(
            "SELECT id, source, event_type, payload, received_at FROM events
             WHERE event_type = $1 AND source = $2 ORDER BY received_at DESC LIMIT 1",
        )
        .bind(event_type)
        .bind(source)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredEvent {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            event_type: row.try_get("event_type")?,
            payload: parse_json(&row, "payload")?,
            received_at: row.try_get("received_at")?,
        }))
    }
}
