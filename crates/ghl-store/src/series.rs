//! What the dashboard charts, counted by the database (`GROUP BY` a time bucket) so that a day
//! of history costs one indexed range read, never a load of every run: runs finished per
//! bucket by how they ended, events taken in per bucket by source, and the queue as it is now.

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::{RunStatus, Store, Timestamp, UnknownWord};

/// `count` consecutive time buckets of `width`, the first starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: Timestamp,
    pub width: Duration,
    pub count: usize,
}

impl Buckets {
    /// Where the last bucket ends.
    pub fn end(&self) -> Timestamp {
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        self.start.saturating_add(self.width.saturating_mul(count))
    }

    /// The width in milliseconds (at least 1).
    fn width_ms(&self) -> i64 {
        i64::try_from(self.width.as_millis()).unwrap_or(i64::MAX).max(1)
    }
}

/// Runs that ended in one bucket with one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRuns {
    /// The bucket's index, from 0.
    pub bucket: usize,
    /// `done`, `skipped` or `dead`.
    pub status: RunStatus,
    pub runs: i64,
}

/// Events from one source (`highlevel`, `schedule`, `poll`, ...) stored in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivedEvents {
    pub bucket: usize,
    pub source: String,
    pub events: i64,
}

/// The queue now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    pub queued: i64,
    pub waiting: i64,
    pub running: i64,
    /// Queued or waiting runs whose time has come: what the workers would take now.
    pub due: i64,
    /// Dead-lettered runs, waiting for a replay.
    pub dead: i64,
}

impl Store {
    /// The rows of a count per bucket: `sql` takes the first bucket's start as `$1`, the
    /// buckets' width in ms as `$2` and the end of the last as `$3`.
    async fn per_bucket(&self, sql: &str, buckets: &Buckets) -> Result<Vec<AnyRow>> {
        let query = sqlx::query(sql).bind(buckets.start).bind(buckets.width_ms());
        Ok(query.bind(buckets.end()).fetch_all(self.pool()).await?)
    }

    /// Runs that ended (done, skipped, dead-lettered) in each of `buckets`, by status; a
    /// bucket with none is left out. A run counts in the bucket of its last change, so a
    /// replayed run that ends again moves to its new bucket.
    pub async fn finished_runs(&self, buckets: &Buckets) -> Result<Vec<FinishedRuns>> {
        let sql = "SELECT (updated_at - $1) / $2 AS bucket, status, COUNT(*) AS n FROM runs
             WHERE updated_at >= $1 AND updated_at < $3 AND status IN ('done', 'skipped', 'dead')
             GROUP BY 1, 2";
        let rows = self.per_bucket(sql, buckets).await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok(FinishedRuns {
                    bucket: bucket_index(row.try_get("bucket")?)?,
                    status: status
                        .parse()
                        .map_err(|err: UnknownWord| Error::Corrupt(err.to_string()))?,
                    runs: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// Events stored in each of `buckets`, by source; a bucket with none is left out. A
    /// delivery of an event already stored is not one more.
    pub async fn arrived_events(&self, buckets: &Buckets) -> Result<Vec<ArrivedEvents>> {
        let sql = "SELECT (received_at - $1) / $2 AS bucket, source, COUNT(*) AS n FROM events
             WHERE received_at >= $1 AND received_at < $3
             GROUP BY 1, 2";
        let rows = self.per_bucket(sql, buckets).await?;
        rows.iter()
            .map(|row| {
                Ok(ArrivedEvents {
                    bucket: bucket_index(row.try_get("bucket")?)?,
                    source: row.try_get("source")?,
                    events: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// The runs in the queue at `now` (and the dead-lettered ones), counted per status.
    pub async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN run_after <= $1 THEN 1 ELSE 0 END) AS due
             FROM runs WHERE status IN ('queued', 'waiting', 'running', 'dead') GROUP BY status",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut depth = QueueDepth::default();
        for row in &rows {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            let due: i64 = row.try_get("due")?;
            match status.as_str() {
                "queued" => (depth.queued, depth.due) = (n, depth.due + due),
                "waiting" => (depth.waiting, depth.due) = (n, depth.due + due),
                "running" => depth.running = n,
                _ => depth.dead = n,
            }
        }
        Ok(depth)
    }
}

fn bucket_index(bucket: i64) -> Result<usize> {
    usize::try_from(bucket).map_err(|_| Error::Corrupt(format!("time bucket {bucket} is negative")))
}
