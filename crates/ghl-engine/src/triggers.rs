//! Schedule and polling triggers. [`Engine::fire_triggers`] fires every schedule tick that
//! is due and polls every source whose interval has passed; `serve` calls it every second.
//! A tick or a polled record is an event with a dedup key, enqueued through the store's
//! ingest, so it makes one run however many processes fire it, and the trigger's cursor
//! advances in the same transaction as the runs it enqueues: a crash loses no tick and no
//! record, and repeats none. What a poll reads comes from the app's [`PollSource`] (data) and
//! its `poll_input` and `poll_position`; the pages are its client's (`AppClient::records`). A
//! flow on a reconcilable event (`highlevel: ContactCreate`) has a reconciliation poll that
//! works the same way, keyed (by its app) like the webhook it stands in for, so a record runs
//! once whichever comes first.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use ghl_store::{FlowId, IngestOutcome, NewEvent, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::apps::{App, AppId, CallOptions, PageRequest, PollSource, UnknownApp};
use crate::connections::ConnectionError;
use crate::flow::Trigger;
use crate::runner::{Engine, EngineError};

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
    /// Kept as milliseconds since the epoch.
    polled_at: Timestamp,
}

/// Why a flow's trigger did not fire this time (logged; the next tick tries again).
#[derive(Debug, thiserror::Error)]
enum TriggerError {
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    UnknownApp(#[from] UnknownApp),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error("{app} has no poll source `{name}`")]
    NoSource { app: AppId, name: String },
    #[error("{app} has no operation `{operation}`")]
    NoOperation { app: AppId, operation: String },
    #[error("{app}.{name} says no creation time, so it cannot find lost webhooks")]
    NoCreationTime { app: AppId, name: String },
    #[error("polling {app}.{name}: {error}")]
    Poll {
        app: AppId,
        name: String,
        #[source]
        error: ghl_client::Error,
    },
}

impl Engine {
    /// Fires what is due at `now`; answers how many runs it enqueued. A flow whose trigger
    /// fails (a connection that needs reconnecting, say) is logged and the others go on.
    pub async fn fire_triggers(&self, now: Timestamp) -> Result<usize, EngineError> {
        let mut enqueued = 0;
        for (record, flow) in self.enabled_flows().await? {
            let fired = match (&flow.trigger, &flow.reconcile) {
                (Trigger::Schedule(cron), _) => self.fire_schedule(&record.id, cron, now).await,
                (Trigger::Poll { app, source, connection, every, .. }, _) => {
                    let watch = Watch::Changes { flow_id: &record.id };
                    self.poll(app, source, watch, connection, *every, now).await
                }
                (Trigger::App { event, .. }, Some(reconcile)) => {
                    let watch = Watch::Creations { flow_id: &record.id, event };
                    let (app, source) = (&reconcile.app, &reconcile.source);
                    self.poll(app, source, watch, &reconcile.connection, reconcile.every, now).await
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
            if let Err(error) = self.fire_triggers(Timestamp::now()).await {
                tracing::error!(error = %error, "triggers cannot reach the store");
            }
        }
    }

    /// The first sight of a schedule starts it; ticks missed while nothing ran (the server
    /// was stopped, the flow disabled) fire once, as the latest of them.
    async fn fire_schedule(
        &self,
        flow_id: &FlowId,
        cron: &croner::Cron,
        now: Timestamp,
    ) -> Result<usize, TriggerError> {
        let name = format!("schedule:{flow_id}");
        let store = self.store();
        // The cursor is the last tick, in milliseconds since the epoch.
        let last = store.cursor(&name).await?;
        let Some(last) = last.and_then(|text| text.parse::<i64>().ok()) else {
            store.set_cursor(&name, &now.as_millis().to_string()).await?;
            return Ok(0);
        };
        let (last, now) = (Timestamp::from_millis(last).to_datetime(), now.to_datetime());
        let Ok(next) = cron.find_next_occurrence(&last, false) else { return Ok(0) };
        if next > now {
            return Ok(0);
        }
        let tick =
            Timestamp::from(cron.find_previous_occurrence(&now, true).unwrap_or(next).max(next));
        let tick_ms = tick.as_millis();
        let event = NewEvent {
            dedup_key: format!("schedule:{flow_id}:{tick_ms}"),
            source: "schedule".into(),
            event_type: "schedule".into(),
            location_id: None,
            payload: json!({ "scheduledAt": tick.to_rfc3339() }),
        };
        let cursor = tick_ms.to_string();
        let outcome =
            store.ingest(&event, std::slice::from_ref(flow_id), Some((&name, &cursor))).await?;
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
        now: Timestamp,
    ) -> Result<usize, TriggerError> {
        let name = watch.cursor_name();
        let store = self.store();
        let stored = store.cursor(&name).await?;
        let cursor = stored.and_then(|text| serde_json::from_str::<PollCursor>(&text).ok());
        let Some(cursor) = cursor else {
            let start = PollCursor { after: vec![now.to_rfc3339().into()], polled_at: now };
            store.set_cursor(&name, &json!(start).to_string()).await?;
            return Ok(0);
        };
        if cursor.polled_at + every > now {
            return Ok(0);
        }
        let app = self.apps().require(app.as_str())?.clone();
        let source = app
            .poll_sources()
            .iter()
            .find(|known| known.name == source)
            .ok_or_else(|| TriggerError::NoSource { app: app.id(), name: source.to_owned() })?;
        // Whatever happens, the next attempt waits its interval: a failing poll (a connection
        // to reconnect, a throttled account) must not hammer the app every second.
        let mut position = cursor.after;
        let outcome = self.read_records(&*app, source, watch, connection, &mut position, now).await;
        let cursor = json!(PollCursor { after: position, polled_at: now });
        store.set_cursor(&name, &cursor.to_string()).await?;
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
        now: Timestamp,
    ) -> Result<usize, TriggerError> {
        let store = self.store();
        let name = watch.cursor_name();
        let client = self.connections().client(connection).await?;
        let operation = app.operation(&source.operation).ok_or_else(|| {
            TriggerError::NoOperation { app: app.id(), operation: source.operation.clone() }
        })?;
        let account = client.account().unwrap_or_default().to_owned();
        // A created record runs every flow on its event (as its webhook would have).
        let targets = match watch {
            Watch::Changes { flow_id } => vec![ghl_store::Target::always(flow_id)],
            Watch::Creations { event, .. } => self.flows_on(app.id().as_str(), event).await?,
        };
        let by = watch.field(source).ok_or_else(|| TriggerError::NoCreationTime {
            app: app.id(),
            name: source.name.clone(),
        })?;
        let since = source.position_time(position).unwrap_or(now) - POLL_LOOKBACK;
        let page = PageRequest { by, since, limit: POLL_PAGE };
        let (params, body) = client.request(operation, app.poll_input(source, &page));
        let poll_error =
            |error| TriggerError::Poll { app: app.id(), name: source.name.clone(), error };
        // Pages as the client walks them; a list it does not page is one call.
        let records: BoxStream<'static, Result<Value, ghl_client::Error>> =
            match client.records(operation, params.clone(), body.clone()) {
                Some(records) => records,
                None => {
                    let answer = client
                        .call(operation, &params, body.as_ref(), CallOptions::default())
                        .await
                        .map_err(poll_error)?;
                    let records = answer.pointer(&source.records).and_then(Value::as_array);
                    let records = records.cloned().unwrap_or_default();
                    stream::iter(records.into_iter().map(Ok)).boxed()
                }
            };
        let mut records = records.take(POLL_PAGE * POLL_MAX_PAGES);
        let mut enqueued_runs = 0;
        while let Some(record) = records.next().await {
            let mut record = record.map_err(poll_error)?;
            let key = app.poll_position(source, by, &mut record);
            if compare_positions(source, &key, position) == Ordering::Greater {
                *position = key;
            }
            let event = watch.event(app, source, &account, record);
            let cursor = json!(PollCursor { after: position.clone(), polled_at: now });
            let outcome =
                store.ingest_for(&event, &targets, Some((&name, &cursor.to_string()))).await?;
            enqueued_runs += enqueued(&outcome);
        }
        Ok(enqueued_runs)
    }
}

/// What a poll watches for.
#[derive(Debug, Clone, Copy)]
enum Watch<'a> {
    /// A `poll` trigger: every change (by the source's `modified` time) runs its flow.
    Changes { flow_id: &'a FlowId },
    /// A reconcilable event's flow: records created (by the source's `created` time) whose
    /// webhook never came.
    Creations { flow_id: &'a FlowId, event: &'a str },
}

impl Watch<'_> {
    fn cursor_name(&self) -> String {
        match self {
            Self::Changes { flow_id } => format!("poll:{flow_id}"),
            Self::Creations { flow_id, .. } => format!("reconcile:{flow_id}"),
        }
    }

    /// The record's time field it follows; a source without a creation time cannot find
    /// creations.
    fn field<'s>(&self, source: &'s PollSource) -> Option<&'s str> {
        match self {
            Self::Changes { .. } => Some(&source.modified),
            Self::Creations { .. } => source.created.as_deref(),
        }
    }

    /// The event a found record is: a change of its own, or the event its webhook would
    /// have been (the same event, so one of the two runs).
    fn event(&self, app: &dyn App, source: &PollSource, account: &str, record: Value) -> NewEvent {
        // A string as it is, a number (an epoch time, a numeric id) as written.
        let text = |field: &str| match &record[field] {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => String::new(),
        };
        match self {
            Self::Changes { flow_id } => NewEvent {
                dedup_key: format!(
                    "poll:{flow_id}:{}:{}",
                    text(&source.id),
                    text(&source.modified)
                ),
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

/// Orders poll positions by time, then id.
fn compare_positions(source: &PollSource, a: &[Value], b: &[Value]) -> Ordering {
    let id =
        |position: &[Value]| position.get(1).and_then(Value::as_str).unwrap_or_default().to_owned();
    source.position_time(a).cmp(&source.position_time(b)).then_with(|| id(a).cmp(&id(b)))
}
