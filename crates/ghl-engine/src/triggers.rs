//! Schedule and polling triggers. [`Engine::fire_triggers`] fires every schedule tick that
//! is due and polls every source whose interval has passed; `serve` calls it every second.
//! A tick or a polled record is an event with a dedup key, enqueued through the store's
//! ingest, so it makes one run however many processes fire it, and the trigger's cursor
//! advances in the same transaction as the runs it enqueues: a crash loses no tick and no
//! record, and repeats none. What a poll reads comes from the app's [`PollSource`]. A flow on
//! a reconcilable event (`highlevel: ContactCreate`) has a reconciliation poll that works the
//! same way, keyed (by its app) like the webhook it stands in for, so a record runs once
//! whichever comes first.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghl_store::{IngestOutcome, NewEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::apps::{App, AppId, PageRequest, PollSource};
use crate::flow::Trigger;
use crate::runner::{iso, Engine, EngineError};

/// Searches are eventually consistent: each poll looks this far behind its cursor again, and
/// the dedup keys drop what it had seen.
const POLL_LOOKBACK: Duration = Duration::from_secs(10);
const POLL_PAGE: usize = 100;
/// Records a poll takes at most; the rest waits for the next poll (the rate budget).
const POLL_MAX_PAGES: usize = 10;

/// Where a poll got to: the search position of the last record enqueued, and when it ran.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollCursor {
    after: Vec<Value>,
    polled_at: i64,
}

impl Engine {
    /// Fires what is due at `now_ms`; answers how many runs it enqueued. A flow whose trigger
    /// fails (a connection that needs reconnecting, say) is logged and the others go on.
    pub async fn fire_triggers(&self, now_ms: i64) -> Result<usize, EngineError> {
        let mut enqueued = 0;
        for (record, flow) in self.enabled_flows().await? {
            let fired = match (&flow.trigger, &flow.reconcile) {
                (Trigger::Schedule(cron), _) => self.fire_schedule(&record.id, cron, now_ms).await,
                (Trigger::Poll { app, source, connection, every, .. }, _) => {
                    let watch = Watch::Changes { flow_id: &record.id };
                    self.poll(app, source, watch, connection, *every, now_ms).await
                }
                (Trigger::App { event, .. }, Some(reconcile)) => {
                    let watch = Watch::Creations { flow_id: &record.id, event };
                    let (app, source) = (&reconcile.app, reconcile.source);
                    self.poll(app, source, watch, &reconcile.connection, reconcile.every, now_ms)
                        .await
                }
                (Trigger::App { .. } | Trigger::Manual, _) => continue,
            };
            match fired {
                Ok(count) => {
                    self.metrics().triggered(count);
                    enqueued += count;
                }
                Err(error) => {
                    tracing::warn!(flow = %record.name, error = %error, "trigger failed");
                }
            }
        }
        Ok(enqueued)
    }

    /// Fires triggers every `period` until `shutdown`.
    pub async fn fire_triggers_until(
        self: Arc<Self>,
        shutdown: CancellationToken,
        period: Duration,
    ) {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.fire_triggers(ghl_store::now_ms()).await {
                tracing::error!(error = %error, "triggers cannot reach the store");
            }
        }
    }

    /// The first sight of a schedule starts it; ticks missed while nothing ran (the server
    /// was stopped, the flow disabled) fire once, as the latest of them.
    async fn fire_schedule(
        &self,
        flow_id: &str,
        cron: &croner::Cron,
        now_ms: i64,
    ) -> Result<usize, String> {
        let name = format!("schedule:{flow_id}");
        let store = self.store();
        let last = store.cursor(&name).await.map_err(|err| err.to_string())?;
        let Some(last) = last.and_then(|text| text.parse::<i64>().ok()) else {
            store.set_cursor(&name, &now_ms.to_string()).await.map_err(|err| err.to_string())?;
            return Ok(0);
        };
        let (Some(last), Some(now)) = (utc(last), utc(now_ms)) else { return Ok(0) };
        let Ok(next) = cron.find_next_occurrence(&last, false) else { return Ok(0) };
        if next > now {
            return Ok(0);
        }
        let tick = cron.find_previous_occurrence(&now, true).unwrap_or(next).max(next);
        let tick_ms = tick.timestamp_millis();
        let event = NewEvent {
            dedup_key: format!("schedule:{flow_id}:{tick_ms}"),
            source: "schedule".into(),
            event_type: "schedule".into(),
            location_id: None,
            payload: json!({ "scheduledAt": iso(tick_ms) }),
        };
        let cursor = tick_ms.to_string();
        let outcome = store
            .ingest(&event, &[flow_id.to_owned()], Some((&name, &cursor)))
            .await
            .map_err(|err| err.to_string())?;
        Ok(enqueued(&outcome))
    }

    /// Polls an app's source, oldest first, from the cursor on. The first poll only sets
    /// the cursor: a new flow reacts to what happens from now, not to history.
    async fn poll(
        &self,
        app: &AppId,
        source: &str,
        watch: Watch<'_>,
        connection: &str,
        every: Duration,
        now_ms: i64,
    ) -> Result<usize, String> {
        let name = watch.cursor_name();
        let store = self.store();
        let stored = store.cursor(&name).await.map_err(|err| err.to_string())?;
        let cursor = stored.and_then(|text| serde_json::from_str::<PollCursor>(&text).ok());
        let Some(cursor) = cursor else {
            let start = PollCursor { after: vec![iso(now_ms).into()], polled_at: now_ms };
            store.set_cursor(&name, &json!(start).to_string()).await.map_err(|e| e.to_string())?;
            return Ok(0);
        };
        if cursor.polled_at + every.as_millis() as i64 > now_ms {
            return Ok(0);
        }
        let app = self.apps().require(app.as_str()).map_err(|err| err.to_string())?.clone();
        let source = app
            .poll_sources()
            .iter()
            .find(|known| known.name == source)
            .ok_or_else(|| format!("{} has no poll source `{source}`", app.id()))?;
        // Whatever happens, the next attempt waits its interval: a failing poll (a connection
        // to reconnect, a throttled account) must not hammer the app every second.
        let mut position = cursor.after;
        let outcome =
            self.read_records(&*app, source, watch, connection, &mut position, now_ms).await;
        let cursor = json!(PollCursor { after: position, polled_at: now_ms });
        store.set_cursor(&name, &cursor.to_string()).await.map_err(|err| err.to_string())?;
        outcome
    }

    /// Reads the records from `position` on (less the look-back) and enqueues each, moving
    /// `position` (and the stored cursor, in each enqueue's transaction) past it.
    async fn read_records(
        &self,
        app: &dyn App,
        source: &PollSource,
        watch: Watch<'_>,
        connection: &str,
        position: &mut Vec<Value>,
        now_ms: i64,
    ) -> Result<usize, String> {
        let store = self.store();
        let name = watch.cursor_name();
        let client = self.connections().client(connection).await.map_err(|err| err.to_string())?;
        let operation = app
            .operations()
            .iter()
            .find(|operation| operation.id == source.operation)
            .ok_or_else(|| format!("{} has no operation `{}`", app.id(), source.operation))?;
        let account = client.account().unwrap_or_default().to_owned();
        // A created record runs every flow on its event (as its webhook would have).
        let targets = match watch {
            Watch::Changes { flow_id } => vec![ghl_store::Target::always(flow_id)],
            Watch::Creations { event, .. } => {
                self.flows_on(app.id().as_str(), event).await.map_err(|err| err.to_string())?
            }
        };
        let by = watch.field(source);
        let since = position_ms(position).unwrap_or(now_ms) - POLL_LOOKBACK.as_millis() as i64;
        let mut after: Option<Value> = None;
        let mut enqueued_runs = 0;
        for _ in 0..POLL_MAX_PAGES {
            let page = PageRequest { by, since: iso(since), after: after.take(), limit: POLL_PAGE };
            let (params, body) = client.request(operation, (source.page)(&page));
            let answer = client
                .call(operation, &params, body.as_ref())
                .await
                .map_err(|err| format!("polling {}.{}: {err}", app.id(), source.name))?;
            let records = answer.pointer(source.records).and_then(Value::as_array);
            let records = records.cloned().unwrap_or_default();
            for mut record in records.iter().cloned() {
                let key = (source.position)(&mut record);
                after = Some(Value::Array(key.clone()));
                if compare_positions(&key, position) == Ordering::Greater {
                    *position = key;
                }
                let event = watch.event(app, source, &account, record);
                let cursor = json!(PollCursor { after: position.clone(), polled_at: now_ms });
                let outcome = store
                    .ingest_for(&event, &targets, Some((&name, &cursor.to_string())))
                    .await
                    .map_err(|err| err.to_string())?;
                enqueued_runs += enqueued(&outcome);
            }
            if records.len() < POLL_PAGE {
                break;
            }
        }
        Ok(enqueued_runs)
    }
}

/// What a poll watches for.
#[derive(Debug, Clone, Copy)]
enum Watch<'a> {
    /// A `poll` trigger: every change (by the source's `modified` time) runs its flow.
    Changes { flow_id: &'a str },
    /// A reconcilable event's flow: records created (by the source's `created` time) whose
    /// webhook never came.
    Creations { flow_id: &'a str, event: &'a str },
}

impl Watch<'_> {
    fn cursor_name(&self) -> String {
        match self {
            Self::Changes { flow_id } => format!("poll:{flow_id}"),
            Self::Creations { flow_id, .. } => format!("reconcile:{flow_id}"),
        }
    }

    fn field<'s>(&self, source: &'s PollSource) -> &'s str {
        match self {
            Self::Changes { .. } => source.modified,
            Self::Creations { .. } => source.created,
        }
    }

    /// The event a found record is: a change of its own, or the event its webhook would
    /// have been (the same event, so one of the two runs).
    fn event(&self, app: &dyn App, source: &PollSource, account: &str, record: Value) -> NewEvent {
        let text = |field: &str| record[field].as_str().unwrap_or_default().to_owned();
        match self {
            Self::Changes { flow_id } => NewEvent {
                dedup_key: format!("poll:{flow_id}:{}:{}", text(source.id), text(source.modified)),
                source: "poll".into(),
                event_type: format!("poll:{}.{}", app.id(), source.name),
                location_id: Some(account.to_owned()),
                payload: record,
            },
            Self::Creations { event, .. } => {
                let payload = app.reconciled(event, record);
                NewEvent {
                    dedup_key: app.event_key(event, account, &payload, ""),
                    source: "reconcile".into(),
                    event_type: (*event).to_owned(),
                    location_id: Some(account.to_owned()),
                    payload,
                }
            }
        }
    }
}

fn enqueued(outcome: &IngestOutcome) -> usize {
    match outcome {
        IngestOutcome::Stored { run_ids, .. } => run_ids.len(),
        IngestOutcome::Duplicate => 0,
    }
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The time of a poll position `[time, id]`: an RFC 3339 date or epoch milliseconds.
fn position_ms(position: &[Value]) -> Option<i64> {
    match position.first()? {
        Value::Number(ms) => ms.as_i64(),
        Value::String(text) => {
            DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
        }
        _ => None,
    }
}

/// Orders search positions by time, then id.
fn compare_positions(a: &[Value], b: &[Value]) -> Ordering {
    let id =
        |position: &[Value]| position.get(1).and_then(Value::as_str).unwrap_or_default().to_owned();
    position_ms(a).cmp(&position_ms(b)).then_with(|| id(a).cmp(&id(b)))
}
