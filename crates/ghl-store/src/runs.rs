//! The runs events cause (the queue), step logs and the effects ledger; storing the events
//! and their runs is intake's (`ingest.rs`).
//! Claiming takes a batch of runs, each kind (expired leases, due runs) by one statement over
//! its own partial index, so it costs the same however long the queue or the history: on
//! PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers claim side by side; SQLite serialises
//! writers, so the same statement without it is enough. A run whose lease ran out (its worker
//! died) is claimable again.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::batch::Binds;
use crate::error::{Error, Result};
use crate::{
    parse_json, Backend, EventId, FlowId, RunId, RunStatus, StepStatus, Store, Timestamp,
    UnknownWord,
};

#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub id: RunId,
    pub flow_id: FlowId,
    pub event_id: EventId,
    pub event_type: String,
    pub payload: Value,
    /// This claim's number, from 1.
    pub attempt: i32,
    /// Claims that ended in a wait (a delay step), not a failure.
    pub waits: i32,
    /// When the run was enqueued.
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Done,
    /// A filter (the flow's or a `util.filter` step) ended the run.
    Skipped,
    RetryAt {
        at: Timestamp,
        error: String,
    },
    /// Paused until `at` (a delay step; a rate limit or a spent quota, then `reason`
    /// says which); not a failure, not an attempt.
    WaitUntil {
        at: Timestamp,
        reason: Option<String>,
    },
    Dead {
        error: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    /// Only the runs of the flow of this name.
    pub flow: Option<String>,
    /// Only the runs that began at or after this time.
    pub created_from: Option<Timestamp>,
    /// Only the runs that began before this time.
    pub created_before: Option<Timestamp>,
    pub limit: i64,
}

impl RunFilter {
    /// The filter's conditions (without its limit) as SQL, their values added to `binds`.
    fn clauses(&self, binds: &mut Binds) -> Vec<String> {
        let mut clauses = Vec::new();
        if let Some(status) = self.status {
            clauses.push(format!("r.status = {}", binds.text(status.as_str())));
        }
        if let Some(flow) = &self.flow {
            clauses.push(format!("f.name = {}", binds.text(flow.as_str())));
        }
        if let Some(from) = self.created_from {
            clauses.push(format!("r.created_at >= {}", binds.int(from.as_millis())));
        }
        if let Some(before) = self.created_before {
            clauses.push(format!("r.created_at < {}", binds.int(before.as_millis())));
        }
        clauses
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub flow_id: FlowId,
    /// The flow's name; `None` once the flow is deleted.
    pub flow_name: Option<String>,
    pub event_id: EventId,
    /// What started the run: the event's type (`ContactCreate`, `schedule`, `manual`, ...).
    pub trigger: Option<String>,
    pub status: RunStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A place in the order runs change in: a change time and, among the runs changed at that
/// millisecond, a run id (the empty id is before every run).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunChange {
    pub updated_at: Timestamp,
    pub id: RunId,
}

impl RunChange {
    /// Before every run changed at `time` or later.
    pub fn at(time: Timestamp) -> Self {
        Self { updated_at: time, id: RunId::from(String::new()) }
    }

    /// Where `run`'s last change is.
    pub fn of(run: &RunSummary) -> Self {
        Self { updated_at: run.updated_at, id: run.id.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub run_id: RunId,
    pub attempt: i32,
    pub step_index: i32,
    pub name: String,
    pub status: StepStatus,
    pub input: Option<Value>,
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl Store {
    /// Claims the next due run for `lease`; `None` when nothing is due.
    pub async fn claim(&self, lease: Duration) -> Result<Option<ClaimedRun>> {
        Ok(self.claim_batch(1, lease).await?.into_iter().next())
    }

    /// Claims up to `limit` runs for `lease`: first runs whose lease ran out (their worker
    /// died), then due runs, oldest due first. Each costs the same however many runs wait or
    /// are finished: a read finds whether there is anything to claim at all (so an idle worker
    /// takes no write lock), and each kind is taken by one statement walking its own partial
    /// index. The lease covers the whole batch: a worker renews it for the runs it has not
    /// finished ([`Store::extend_leases`]), and if it dies they are claimable again once it
    /// runs out.
    pub async fn claim_batch(&self, limit: usize, lease: Duration) -> Result<Vec<ClaimedRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let [expired, due] = [Claimable::Expired, Claimable::Due].map(|kind| {
            format!(
                "SELECT 1 AS one FROM {} WHERE {} LIMIT 1",
                kind.table(self.backend()),
                kind.condition()
            )
        });
        let found: Vec<String> = sqlx::query(&format!(
            "SELECT 'expired' AS kind FROM ({expired}) expired UNION ALL SELECT 'due' AS kind FROM ({due}) due"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| row.try_get("kind"))
        .collect::<std::result::Result<_, _>>()?;
        let mut claimed = Vec::new();
        for kind in [Claimable::Expired, Claimable::Due] {
            let wanted = limit - claimed.len();
            if wanted == 0 || !found.iter().any(|name| name == kind.name()) {
                continue;
            }
            claimed.extend(self.claim_where(kind, wanted, lease, now).await?);
        }
        self.with_events(claimed).await
    }

    /// Marks up to `limit` runs of `kind` as running for `lease`.
    async fn claim_where(
        &self,
        kind: Claimable,
        limit: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<AnyRow>> {
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1
             WHERE id IN (SELECT id FROM {} WHERE {} ORDER BY {} LIMIT $3 {lock})
             RETURNING id, flow_id, event_id, attempts, waits, created_at, run_after",
            kind.table(self.backend()),
            kind.condition(),
            kind.order()
        );
        Ok(sqlx::query(&sql)
            .bind(now)
            .bind(now + lease)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?)
    }

    /// Claimed runs with their events, in the order they became due.
    async fn with_events(&self, rows: Vec<AnyRow>) -> Result<Vec<ClaimedRun>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            due.push((
                row.try_get::<Timestamp, _>("run_after")?,
                row.try_get::<Timestamp, _>("created_at")?,
            ));
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&index| due[index]);
        let event_ids: Vec<EventId> = rows
            .iter()
            .map(|row| row.try_get("event_id"))
            .collect::<std::result::Result<_, _>>()?;
        let sql = format!(
            "SELECT id, event_type, payload FROM events WHERE id IN ({})",
            placeholders(1, event_ids.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
        for id in &event_ids {
            query = query.bind(id);
        }
        let events: std::collections::HashMap<String, (String, String)> = query
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|(id, event_type, payload)| (id, (event_type, payload)))
            .collect();
        let mut claimed = Vec::with_capacity(rows.len());
        for index in order {
            let row = &rows[index];
            let event_id = &event_ids[index];
            let Some((event_type, payload)) = events.get(event_id.as_str()) else {
                return Err(Error::Corrupt(format!("run's event {event_id} is missing")));
            };
            claimed.push(ClaimedRun {
                id: row.try_get("id")?,
                flow_id: row.try_get("flow_id")?,
                event_id: event_id.clone(),
                event_type: event_type.clone(),
                payload: serde_json::from_str(payload).map_err(|err| {
                    Error::Corrupt(format!("the payload of event {event_id}: {err}"))
                })?,
                attempt: row.try_get("attempts")?,
                waits: row.try_get("waits")?,
                created_at: row.try_get("created_at")?,
            });
        }
        Ok(claimed)
    }

    /// The request the first attempt of a run's step sent (or was about to send), so a
    /// retry repeats the same intent even when its inputs depend on the time. Attempts up to
    /// a definitive refusal (step status `refused`: a 4xx that changed nothing) do not count:
    /// after one, the step is evaluated afresh, with the flow as it is now.
    pub async fn first_request(&self, run_id: &RunId, step_index: i32) -> Result<Option<Value>> {
        let rows = sqlx::query(
            "SELECT request, status FROM steps WHERE run_id = $1 AND step_index = $2 AND request IS NOT NULL
             ORDER BY attempt",
        )
        .bind(run_id)
        .bind(step_index)
        .fetch_all(self.pool())
        .await?;
        let mut first = None;
        for row in &rows {
            let status: StepStatus = row.try_get("status")?;
            // Refused, nothing changed; unknown, a person replayed it: either way the next
            // attempt is the step evaluated afresh.
            if matches!(status, StepStatus::Refused | StepStatus::Unknown) {
                first = None;
            } else if first.is_none() {
                first = Some(row);
            }
        }
        first.map(|row| parse_json(row, "request")).transpose()
    }

    /// Keeps the leases of a worker's claims alive (the run it executes and those of its
    /// batch it has not started: each run with the attempt it claimed), in one statement;
    /// answers the runs it still holds. A run whose lease ran out and that another worker
    /// claimed since (a later attempt) is not renewed, nor answered.
    pub async fn extend_leases(
        &self,
        claims: &[(RunId, i32)],
        lease: Duration,
    ) -> Result<Vec<RunId>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let each: Vec<String> = (0..claims.len())
            .map(|n| format!("(id = ${} AND attempts = ${})", 2 + 2 * n, 3 + 2 * n))
            .collect();
        let sql = format!(
            "UPDATE runs SET locked_until = $1 WHERE status = 'running' AND ({}) RETURNING id",
            each.join(" OR ")
        );
        let mut query = sqlx::query(&sql).bind(Timestamp::now() + lease);
        for (id, attempt) in claims {
            query = query.bind(id).bind(attempt);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok(row.try_get::<RunId, _>("id")?)).collect()
    }

    /// Gives back claimed runs a worker did not start (it is stopping): they are due again at
    /// once, and the claim does not count as an attempt.
    pub async fn release(&self, run_ids: &[RunId]) -> Result<u64> {
        if run_ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE runs SET status = 'queued', attempts = attempts - 1, locked_until = NULL, updated_at = $1
             WHERE status = 'running' AND id IN ({})",
            placeholders(2, run_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(Timestamp::now());
        for id in run_ids {
            query = query.bind(id);
        }
        Ok(query.execute(self.pool()).await?.rows_affected())
    }

    /// Records how the `attempt` a worker claimed of a run ended. When that claim ran out and
    /// another worker claimed the run since, nothing changes: [`Error::ClaimLost`].
    pub async fn finish(&self, run_id: &RunId, attempt: i32, outcome: &RunOutcome) -> Result<()> {
        let now = Timestamp::now();
        let (status, run_after, error, waited) = match outcome {
            RunOutcome::Done => (RunStatus::Done, now, None, 0),
            RunOutcome::Skipped => (RunStatus::Skipped, now, None, 0),
            RunOutcome::RetryAt { at, error } => (RunStatus::Queued, *at, Some(error.as_str()), 0),
            RunOutcome::WaitUntil { at, reason } => (RunStatus::Waiting, *at, reason.as_deref(), 1),
            RunOutcome::Dead { error } => (RunStatus::Dead, now, Some(error.as_str()), 0),
        };
        let changed = sqlx::query(
            "UPDATE runs SET status = $1, run_after = $2, last_error = $3, waits = waits + $4, locked_until = NULL,
                 updated_at = $5 WHERE id = $6 AND attempts = $7 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(run_after)
        .bind(error)
        .bind(waited)
        .bind(now)
        .bind(run_id)
        .bind(attempt)
        .execute(self.pool())
        .await?;
        if changed.rows_affected() == 0 {
            return Err(crate::Error::ClaimLost(run_id.clone()));
        }
        Ok(())
    }

    /// Puts a dead run back in the queue; answers whether there was one to replay.
    pub async fn replay(&self, run_id: &RunId) -> Result<bool> {
        let now = Timestamp::now();
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', run_after = $1, updated_at = $2 WHERE id = $3 AND status = 'dead'",
        )
        .bind(now)
        .bind(now)
        .bind(run_id)
        .execute(self.pool())
        .await?;
        Ok(changed.rows_affected() == 1)
    }

    /// Records a step, and the effect it applied if any, in one transaction: after a crash
    /// either both are there or neither.
    pub async fn record_step(
        &self,
        step: &StepRecord,
        effect: Option<(&str, &Value)>,
    ) -> Result<()> {
        self.record_write(step, effect, &[]).await
    }

    /// [`Store::record_step`], with what the write changes or changed (for recognising its
    /// echo) in the same transaction; in one round trip to the database.
    pub async fn record_write(
        &self,
        step: &StepRecord,
        effect: Option<(&str, &Value)>,
        writes: &[crate::OwnWrite],
    ) -> Result<()> {
        let text = |value: &Option<Value>| value.as_ref().map(Value::to_string);
        let mut binds = Binds::default();
        let values = [
            binds.text(step.run_id.as_str()),
            binds.int(i64::from(step.attempt)),
            binds.int(i64::from(step.step_index)),
            binds.text(&step.name),
            binds.text(step.status.as_str()),
            binds.optional_text(text(&step.input).as_deref()),
            binds.optional_text(text(&step.request).as_deref()),
            binds.optional_text(text(&step.response).as_deref()),
            binds.optional_text(step.error.as_deref()),
            binds.int(step.duration_ms),
        ]
        .join(", ");
        let mut statements = vec![format!(
            "INSERT INTO steps (run_id, attempt, step_index, name, status, input, request, response, error, duration_ms)
             VALUES ({values})
             ON CONFLICT (run_id, attempt, step_index) DO UPDATE SET status = excluded.status, input = excluded.input,
                 request = excluded.request, response = excluded.response, error = excluded.error,
                 duration_ms = excluded.duration_ms"
        )];
        if let Some((key, result)) = effect {
            let values = [
                binds.text(key),
                binds.text(step.run_id.as_str()),
                binds.text(result.to_string()),
                binds.int(Timestamp::now().as_millis()),
            ]
            .join(", ");
            statements.push(format!(
                "INSERT INTO effects (effect_key, run_id, result, created_at) VALUES ({values})
                 ON CONFLICT (effect_key) DO NOTHING"
            ));
        }
        statements.extend(crate::own_writes::record(&mut binds, writes));
        self.write_together(&statements, binds).await
    }

    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let limit = if filter.limit <= 0 { 100 } else { filter.limit };
        let mut binds = Binds::default();
        let clauses = filter.clauses(&mut binds);
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_TABLES} {filter_sql} ORDER BY r.created_at DESC LIMIT {}",
            binds.int(limit)
        );
        let rows = binds.query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(run_summary).collect()
    }

    /// Runs changed (created, or their status changed) after `after`, in the order of their
    /// change, at most `limit`, as `filter` says (its `limit` is not used). `updated_at` is
    /// the change marker: every write of a run's status sets it (intake, claim, release,
    /// finish, replay), and index `runs_by_update` (migration 0010) reads it in order. A run
    /// changed at the same millisecond as `after` but with a greater id comes after it, so a
    /// reader can page through runs changed together.
    pub async fn runs_changed_after(
        &self,
        after: &RunChange,
        filter: &RunFilter,
        limit: i64,
    ) -> Result<Vec<RunSummary>> {
        let mut binds = Binds::default();
        let (updated_at, id) =
            (binds.int(after.updated_at.as_millis()), binds.text(after.id.as_str()));
        let mut clauses = vec![
            format!("r.updated_at >= {updated_at}"),
            format!("(r.updated_at > {updated_at} OR r.id > {id})"),
        ];
        clauses.extend(filter.clauses(&mut binds));
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_TABLES} WHERE {} ORDER BY r.updated_at, r.id LIMIT {}",
            clauses.join(" AND "),
            binds.int(limit.max(1))
        );
        let rows = binds.query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(run_summary).collect()
    }

    pub async fn flow_by_id(&self, flow_id: &FlowId) -> Result<Option<crate::FlowRecord>> {
        let row = sqlx::query(&format!("SELECT {} FROM flows WHERE id = $1", crate::FLOW_COLUMNS))
            .bind(flow_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(crate::flow_record).transpose()
    }

    pub async fn run(&self, run_id: &RunId) -> Result<Option<RunSummary>> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM {RUN_TABLES} WHERE r.id = $1"))
            .bind(run_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run_summary).transpose()
    }

    pub async fn steps(&self, run_id: &RunId) -> Result<Vec<StepRecord>> {
        let rows = sqlx::query(
            "SELECT run_id, attempt, step_index, name, status, input, request, response, error, duration_ms
             FROM steps WHERE run_id = $1 ORDER BY attempt, step_index",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(step_record).collect()
    }

    /// Runs per status, for the queue-depth metric and the dashboard.
    pub async fn run_counts(&self) -> Result<Vec<(RunStatus, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status ORDER BY status")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| Ok((run_status(row.try_get("status")?)?, row.try_get("n")?)))
            .collect()
    }
}

/// The two kinds of claimable run, each found by its own partial index (migration 0006), so
/// a claim reads only claimable runs, never the finished ones.
#[derive(Debug, Clone, Copy)]
enum Claimable {
    /// Running, but its worker's lease ran out (the worker died): index `runs_leased`.
    Expired,
    /// Queued or waiting, and due: index `runs_due`.
    Due,
}

impl Claimable {
    fn name(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Due => "due",
        }
    }

    /// The condition (`$1` is now), in the words of the index's own `WHERE`, so that both
    /// stores see the index applies.
    fn condition(self) -> &'static str {
        match self {
            Self::Expired => "status = 'running' AND locked_until < $1",
            Self::Due => "status IN ('queued', 'waiting') AND run_after <= $1",
        }
    }

    fn order(self) -> &'static str {
        match self {
            Self::Expired => "locked_until",
            Self::Due => "run_after",
        }
    }

    /// The runs table, read through the kind's index. SQLite's planner, without statistics,
    /// prefers `runs_by_status` and sorts every waiting run, so it is told the index.
    fn table(self, backend: Backend) -> &'static str {
        match (backend, self) {
            (Backend::Postgres, _) => "runs",
            (Backend::Sqlite, Self::Expired) => "runs INDEXED BY runs_leased",
            (Backend::Sqlite, Self::Due) => "runs INDEXED BY runs_due",
        }
    }
}

/// `$first, $first+1, ...`: `count` bind parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

const RUN_COLUMNS: &str = "r.id, r.flow_id, f.name AS flow_name, r.event_id, e.event_type, \
     r.status, r.attempts, r.last_error, r.created_at, r.updated_at";
/// A run with its flow's name and its event's type.
const RUN_TABLES: &str =
    "runs r LEFT JOIN flows f ON f.id = r.flow_id LEFT JOIN events e ON e.id = r.event_id";

fn run_status(word: String) -> Result<RunStatus> {
    word.parse().map_err(|err: UnknownWord| Error::Corrupt(err.to_string()))
}

fn run_summary(row: &AnyRow) -> Result<RunSummary> {
    Ok(RunSummary {
        id: row.try_get("id")?,
        flow_id: row.try_get("flow_id")?,
        flow_name: row.try_get("flow_name")?,
        event_id: row.try_get("event_id")?,
        trigger: row.try_get("event_type")?,
        status: run_status(row.try_get("status")?)?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn step_record(row: &AnyRow) -> Result<StepRecord> {
    let json = |column: &str| -> Result<Option<Value>> {
        let text: Option<String> = row.try_get(column)?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    };
    Ok(StepRecord {
        run_id: row.try_get("run_id")?,
        attempt: row.try_get("attempt")?,
        step_index: row.try_get("step_index")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        input: json("input")?,
        request: json("request")?,
        response: json("response")?,
        error: row.try_get("error")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}
