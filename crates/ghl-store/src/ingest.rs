//! Intake: an event, its delivery's `webhookId` and the runs it causes, stored in one
//! transaction, once, with the guards of each flow (the echo of its own write does not run
//! it; a flow that runs one record too often is paused).
//!
//! Nearly every event takes the plain path: **one round trip** to the database stores it all
//! (PostgreSQL: one statement whose writes are chained by a `WITH`; SQLite: one batch of
//! statements, each gated on the one before, in the transaction). The guards are evaluated
//! inside that same write, so nothing changes between the check and the write: when no flow's
//! guard can hold the event back (no unmatched recent own write of a skip-echoes flow on the
//! event's record, no flow at its runaway limit for it), the event and its runs are written;
//! when one may, the plain path writes nothing and the guarded path does the work statement
//! by statement (it matches the echo in Rust and pauses a runaway flow).
//!
//! Why one round trip: SQLite has one writer, and its lock is held from a transaction's first
//! write to its commit, so every round trip made while holding it (each a hop to the
//! connection's thread and back to the async task) is time no other event can be written;
//! on PostgreSQL every statement is a round trip of its own.

use serde_json::Value;
use sqlx::Row;

use crate::batch::{sqlite_transaction, Binds};
use crate::error::{Error, Result};
use crate::own_writes::RUNAWAY_WINDOW;
use crate::{Backend, EventId, FlowId, RunId, Store, Timestamp, ECHO_WINDOW};

#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What makes two deliveries the same event (`webhookId`, cursor position, schedule tick).
    pub dedup_key: String,
    pub source: String,
    pub event_type: String,
    pub location_id: Option<String>,
    pub payload: Value,
}

impl NewEvent {
    /// A HighLevel delivery's `webhookId`: remembered for good, so a replay of it is refused
    /// whatever the event's dedup key.
    fn webhook_id(&self) -> Option<&str> {
        (self.source == "highlevel").then(|| self.payload["webhookId"].as_str()).flatten()
    }

    /// The record the event is about: its `id` (an appointment's inside `appointment`).
    pub fn record_id(&self) -> Option<&str> {
        self.payload["id"].as_str().or_else(|| self.payload["appointment"]["id"].as_str())
    }
}

/// A flow an event is to run, with the guards that may hold the run back.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub flow_id: FlowId,
    /// The event does not run the flow when it echoes one of the flow's own writes.
    pub skip_own_echoes: bool,
    /// More runs of the flow for one record within a minute pause the flow (a loop).
    pub runs_per_minute_limit: Option<u32>,
}

impl Target {
    /// A flow the event runs whatever it is.
    pub fn always(flow_id: &FlowId) -> Self {
        Self { flow_id: flow_id.clone(), skip_own_echoes: false, runs_per_minute_limit: None }
    }
}

/// A flow paused by the runaway detector while an event was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Paused {
    pub flow_id: FlowId,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    Stored {
        event_id: EventId,
        run_ids: Vec<RunId>,
        /// Flows the event did not run because it echoes their own write.
        echoes: Vec<FlowId>,
        /// Flows the event did not run because they ran its record too often: now paused.
        paused: Vec<Paused>,
    },
    /// Seen before: nothing stored, nothing enqueued.
    Duplicate,
}

impl Store {
    /// Stores an event and enqueues one run per flow, in one transaction; a second delivery of
    /// the same event enqueues nothing (it records a HighLevel delivery's new `webhookId`).
    /// With `cursor`, the polling cursor advances in the same transaction.
    pub async fn ingest(
        &self,
        event: &NewEvent,
        flow_ids: &[FlowId],
        cursor: Option<(&str, &str)>,
    ) -> Result<IngestOutcome> {
        let targets: Vec<Target> = flow_ids.iter().map(Target::always).collect();
        self.ingest_for(event, &targets, cursor).await
    }

    /// [`Store::ingest`] with guards per flow: an event that echoes a flow's own write does
    /// not run it (the write is matched to the event, once), and a flow that ran the event's
    /// record `runs_per_minute_limit` times in the last minute is paused instead. The
    /// matching, the pause and the runs are in the event's transaction.
    pub async fn ingest_for(
        &self,
        event: &NewEvent,
        targets: &[Target],
        cursor: Option<(&str, &str)>,
    ) -> Result<IngestOutcome> {
        let plain = Plain::new(event, targets, cursor);
        let written = match self.backend() {
            Backend::Postgres => self.write_plain_postgres(&plain).await?,
            Backend::Sqlite => self.write_plain_sqlite(&plain).await?,
        };
        match written {
            Written::Outcome(outcome) => Ok(outcome),
            Written::Held => self.ingest_guarded(event, targets, cursor).await,
        }
    }

    /// The plain path on PostgreSQL: one statement, atomic on its own.
    async fn write_plain_postgres(&self, plain: &Plain<'_>) -> Result<Written> {
        let mut binds = Binds::default();
        let sql = plain.postgres(&mut binds);
        let row = binds.query(&sql).fetch_one(self.pool()).await?;
        let counts = Counts {
            held: row.try_get::<i64, _>("held")? != 0,
            webhook_ids: row.try_get("webhook_ids")?,
            events: row.try_get("events")?,
            runs: row.try_get("runs")?,
        };
        plain.outcome(&counts)
    }

    /// The plain path on SQLite: one batch, one transaction, one round trip.
    async fn write_plain_sqlite(&self, plain: &Plain<'_>) -> Result<Written> {
        let mut binds = Binds::default();
        let (sql, statements) = plain.sqlite(&mut binds);
        let done = sqlite_transaction(self.pool(), &sql, binds).await?;
        if done.len() != statements.len() {
            return Err(Error::Corrupt(format!(
                "the ingest batch answered {} statements of {}",
                done.len(),
                statements.len()
            )));
        }
        let mut counts = Counts::default();
        for (statement, done) in statements.iter().zip(&done) {
            let changed = i64::try_from(done.changed).unwrap_or(i64::MAX);
            match statement {
                Statement::WebhookId => counts.webhook_ids = changed,
                Statement::Event => counts.events = changed,
                Statement::Runs => counts.runs = changed,
                Statement::Cursor => {}
                Statement::Held => {
                    if let Some(row) = done.rows.first() {
                        counts.held = row.try_get::<i64, _>("held")? != 0;
                    }
                }
            }
        }
        plain.outcome(&counts)
    }

    /// The guarded path: statement by statement, in one transaction, for an event that may
    /// echo a flow's own write or find a flow at its runaway limit.
    async fn ingest_guarded(
        &self,
        event: &NewEvent,
        targets: &[Target],
        cursor: Option<(&str, &str)>,
    ) -> Result<IngestOutcome> {
        let mut tx = self.pool().begin().await?;
        let event_id = EventId::new();
        let now = Timestamp::now();
        if let Some(webhook_id) = event.webhook_id() {
            let first = sqlx::query(
                "INSERT INTO webhook_ids (webhook_id, received_at) VALUES ($1, $2)
                 ON CONFLICT (webhook_id) DO NOTHING",
            )
            .bind(webhook_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if first.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(IngestOutcome::Duplicate);
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO events (id, dedup_key, source, event_type, location_id, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(&event_id)
        .bind(&event.dedup_key)
        .bind(&event.source)
        .bind(&event.event_type)
        .bind(&event.location_id)
        .bind(event.payload.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // The event is known under another delivery: remember this delivery's id too.
            tx.commit().await?;
            return Ok(IngestOutcome::Duplicate);
        }
        let record_id = event.record_id();
        let mut run_ids = Vec::with_capacity(targets.len());
        let (mut echoes, mut paused) = (Vec::new(), Vec::new());
        for target in targets {
            let flow_id = &target.flow_id;
            if let Some(record_id) = record_id.filter(|_| target.skip_own_echoes) {
                if crate::own_writes::match_echo(&mut tx, flow_id, record_id, event, &event_id)
                    .await?
                {
                    echoes.push(flow_id.clone());
                    continue;
                }
            }
            if let (Some(record_id), Some(limit)) = (record_id, target.runs_per_minute_limit) {
                if let Some(reason) =
                    crate::own_writes::pause_if_runaway(&mut tx, flow_id, record_id, limit, now)
                        .await?
                {
                    paused.push(Paused { flow_id: flow_id.clone(), reason });
                    continue;
                }
            }
            let run_id = RunId::new();
            sqlx::query(
                "INSERT INTO runs (id, run_key, flow_id, event_id, status, attempts, run_after, created_at, updated_at, record_id)
                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8)",
            )
            .bind(&run_id)
            .bind(run_key(&event_id, flow_id))
            .bind(flow_id)
            .bind(&event_id)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(record_id)
            .execute(&mut *tx)
            .await?;
            run_ids.push(run_id);
        }
        if let Some((name, value)) = cursor {
            sqlx::query(crate::SET_CURSOR)
                .bind(name)
                .bind(value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(IngestOutcome::Stored { event_id, run_ids, echoes, paused })
    }
}

/// A run's key: one run per (event, flow).
fn run_key(event_id: &EventId, flow_id: &FlowId) -> String {
    format!("{event_id}:{flow_id}")
}

/// What the plain path did.
enum Written {
    Outcome(IngestOutcome),
    /// A guard may hold the event back: nothing was written.
    Held,
}

/// What the plain path's writes changed, and whether a guard held them back.
#[derive(Debug, Default)]
struct Counts {
    held: bool,
    webhook_ids: i64,
    events: i64,
    runs: i64,
}

/// The statements of the SQLite batch, in order.
#[derive(Debug, Clone, Copy)]
enum Statement {
    WebhookId,
    Event,
    Runs,
    Cursor,
    Held,
}

/// An event to store on the plain path, with the ids and the time it is stored under.
struct Plain<'a> {
    event: &'a NewEvent,
    targets: &'a [Target],
    cursor: Option<(&'a str, &'a str)>,
    event_id: EventId,
    run_ids: Vec<RunId>,
    now: Timestamp,
}

impl<'a> Plain<'a> {
    fn new(event: &'a NewEvent, targets: &'a [Target], cursor: Option<(&'a str, &'a str)>) -> Self {
        Self {
            event,
            targets,
            cursor,
            event_id: EventId::new(),
            run_ids: targets.iter().map(|_| RunId::new()).collect(),
            now: Timestamp::now(),
        }
    }

    /// The condition under which a guard may hold the event back, or `None` when no flow has
    /// a guard that applies (both guards need the event's record).
    fn held(&self, binds: &mut Binds) -> Option<String> {
        let record = self.event.record_id()?;
        let record = binds.text(record);
        let mut conditions = Vec::new();
        let skipping: Vec<&FlowId> = self
            .targets
            .iter()
            .filter(|target| target.skip_own_echoes)
            .map(|target| &target.flow_id)
            .collect();
        if !skipping.is_empty() {
            let flows: Vec<String> =
                skipping.iter().map(|flow| binds.text(flow.as_str())).collect();
            let event_type = binds.text(&self.event.event_type);
            let since = binds.int((self.now - ECHO_WINDOW).as_millis());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM own_writes WHERE flow_id IN ({}) AND record_id = {record}
                  AND event_type = {event_type} AND echo_event_id IS NULL AND written_at >= {since})",
                flows.join(", ")
            ));
        }
        for target in self.targets {
            let Some(limit) = target.runs_per_minute_limit else { continue };
            let flow = binds.text(target.flow_id.as_str());
            let since = binds.int((self.now - RUNAWAY_WINDOW).as_millis());
            let limit = binds.int(i64::from(limit));
            conditions.push(format!(
                "(SELECT COUNT(*) FROM runs WHERE flow_id = {flow} AND record_id = {record}
                  AND created_at >= {since}) >= {limit}"
            ));
        }
        (!conditions.is_empty()).then(|| conditions.join(" OR "))
    }

    /// The event's columns, as bind parameters: `(id, dedup_key, ..., received_at)`.
    fn event_values(&self, binds: &mut Binds) -> String {
        let event = self.event;
        [
            binds.text(self.event_id.as_str()),
            binds.text(&event.dedup_key),
            binds.text(&event.source),
            binds.text(&event.event_type),
            binds.optional_text(event.location_id.as_deref()),
            binds.text(event.payload.to_string()),
            binds.int(self.now.as_millis()),
        ]
        .join(", ")
    }

    /// The runs, as rows of bind parameters `(id, run_key, flow_id)`.
    fn run_rows(&self, binds: &mut Binds) -> String {
        self.targets
            .iter()
            .zip(&self.run_ids)
            .map(|(target, run_id)| {
                format!(
                    "({}, {}, {})",
                    binds.text(run_id.as_str()),
                    binds.text(run_key(&self.event_id, &target.flow_id)),
                    binds.text(target.flow_id.as_str())
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One statement: the guard, then each write fed by the one before (`RETURNING`), then
    /// what each wrote.
    fn postgres(&self, binds: &mut Binds) -> String {
        let held = self.held(binds);
        let now = binds.int(self.now.as_millis());
        let record = binds.optional_text(self.event.record_id());
        let mut parts = Vec::new();
        let free = match &held {
            Some(held) => {
                parts.push(format!("held AS (SELECT ({held}) AS held)"));
                "NOT (SELECT held FROM held)".to_owned()
            }
            None => "TRUE".to_owned(),
        };
        let event_gate = match self.event.webhook_id() {
            Some(webhook_id) => {
                let webhook_id = binds.text(webhook_id);
                parts.push(format!(
                    "new_webhook_id AS (INSERT INTO webhook_ids (webhook_id, received_at)
                       SELECT {webhook_id}, {now} WHERE {free}
                       ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id)"
                ));
                "EXISTS (SELECT 1 FROM new_webhook_id)".to_owned()
            }
            None => free,
        };
        let values = self.event_values(binds);
        parts.push(format!(
            "new_event AS (INSERT INTO events (id, dedup_key, source, event_type, location_id, payload, received_at)
               SELECT {values} WHERE {event_gate} ON CONFLICT (dedup_key) DO NOTHING RETURNING id)"
        ));
        if !self.targets.is_empty() {
            let rows = self.run_rows(binds);
            parts.push(format!(
                "new_runs AS (INSERT INTO runs (id, run_key, flow_id, event_id, status, attempts, run_after, created_at, updated_at, record_id)
                   SELECT t.id, t.run_key, t.flow_id, new_event.id, 'queued', 0, {now}, {now}, {now}, {record}
                   FROM new_event, (VALUES {rows}) AS t (id, run_key, flow_id) RETURNING id)"
            ));
        }
        if let Some((name, value)) = self.cursor {
            let (name, value) = (binds.text(name), binds.text(value));
            parts.push(format!(
                "new_cursor AS (INSERT INTO cursors (name, value, updated_at) SELECT {name}, {value}, {now} FROM new_event
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                   RETURNING name)"
            ));
        }
        let count = |table: &str, present: bool| {
            if present {
                format!("(SELECT COUNT(*) FROM {table})")
            } else {
                "CAST(0 AS BIGINT)".to_owned()
            }
        };
        format!(
            "WITH {} SELECT {} AS held, {} AS webhook_ids, {} AS events, {} AS runs",
            parts.join(", "),
            if held.is_some() {
                "CAST(CASE WHEN (SELECT held FROM held) THEN 1 ELSE 0 END AS BIGINT)"
            } else {
                "CAST(0 AS BIGINT)"
            },
            count("new_webhook_id", self.event.webhook_id().is_some()),
            count("new_event", true),
            count("new_runs", !self.targets.is_empty()),
        )
    }

    /// Statements run one after the other in one transaction, each gated on what the one
    /// before wrote, so that the batch is right to commit whatever happens: a replay or an
    /// event held back writes nothing, a known event only its webhookId. The first statement
    /// writes (so the transaction takes the write lock before it reads anything). The last
    /// says whether a guard held the event back (read only when nothing was written, so it
    /// sees what the first statement saw).
    fn sqlite(&self, binds: &mut Binds) -> (String, Vec<Statement>) {
        let held = self.held(binds);
        let now = binds.int(self.now.as_millis());
        let record = binds.optional_text(self.event.record_id());
        let event_id = binds.text(self.event_id.as_str());
        let free = held.as_ref().map_or_else(|| "1 = 1".to_owned(), |held| format!("NOT ({held})"));
        let mut sql = Vec::new();
        let mut statements = Vec::new();
        let event_gate = match self.event.webhook_id() {
            Some(webhook_id) => {
                let webhook_id = binds.text(webhook_id);
                sql.push(format!(
                    "INSERT INTO webhook_ids (webhook_id, received_at) SELECT {webhook_id}, {now}
                     WHERE {free} ON CONFLICT (webhook_id) DO NOTHING"
                ));
                statements.push(Statement::WebhookId);
                // `changes()`: the rows the statement before inserted.
                "changes() = 1".to_owned()
            }
            None => free,
        };
        let values = self.event_values(binds);
        sql.push(format!(
            "INSERT INTO events (id, dedup_key, source, event_type, location_id, payload, received_at)
             SELECT {values} WHERE {event_gate} ON CONFLICT (dedup_key) DO NOTHING"
        ));
        statements.push(Statement::Event);
        // The event's id is new: it is there only if the statement above wrote it.
        let stored = format!("EXISTS (SELECT 1 FROM events WHERE id = {event_id})");
        if !self.targets.is_empty() {
            let rows = self.run_rows(binds);
            sql.push(format!(
                "INSERT INTO runs (id, run_key, flow_id, event_id, status, attempts, run_after, created_at, updated_at, record_id)
                 SELECT column1, column2, column3, {event_id}, 'queued', 0, {now}, {now}, {now}, {record}
                 FROM (VALUES {rows}) WHERE {stored}"
            ));
            statements.push(Statement::Runs);
        }
        if let Some((name, value)) = self.cursor {
            let (name, value) = (binds.text(name), binds.text(value));
            sql.push(format!(
                "INSERT INTO cursors (name, value, updated_at) SELECT {name}, {value}, {now} WHERE {stored}
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            ));
            statements.push(Statement::Cursor);
        }
        if let Some(held) = held {
            sql.push(format!("SELECT CASE WHEN ({held}) THEN 1 ELSE 0 END AS held"));
            statements.push(Statement::Held);
        }
        (sql.join(";\n"), statements)
    }

    /// The outcome of the plain path from what it wrote.
    fn outcome(&self, counts: &Counts) -> Result<Written> {
        let first =
            if self.event.webhook_id().is_some() { counts.webhook_ids } else { counts.events };
        if first == 0 {
            return Ok(if counts.held {
                Written::Held
            } else {
                Written::Outcome(IngestOutcome::Duplicate)
            });
        }
        if counts.events == 0 {
            return Ok(Written::Outcome(IngestOutcome::Duplicate));
        }
        if usize::try_from(counts.runs).ok() != Some(self.targets.len()) {
            return Err(Error::Corrupt(format!(
                "event {} stored {} runs for {} flows",
                self.event_id,
                counts.runs,
                self.targets.len()
            )));
        }
        Ok(Written::Outcome(IngestOutcome::Stored {
            event_id: self.event_id.clone(),
            run_ids: self.run_ids.clone(),
            echoes: Vec::new(),
            paused: Vec::new(),
        }))
    }
}
