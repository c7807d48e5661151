//! Heartbeats of the `serve` processes working on this store, so a command that enqueues work
//! can tell whether anything will execute it.

use std::time::Duration;

use sqlx::Row;

use crate::error::Result;
use crate::{Store, Timestamp};

/// How often a `serve` process says it is alive.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(5);
/// A process not heard from for this long is taken for gone (three missed heartbeats).
pub const HEARTBEAT_FRESH: Duration = Duration::from_secs(15);

/// A process serving this store.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerBeat<'a> {
    pub id: &'a str,
    pub pid: u32,
    pub started_at: Timestamp,
}

impl Store {
    /// Says the worker process is alive now.
    pub async fn heartbeat(&self, worker: &WorkerBeat<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, pid, started_at, seen_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(worker.id)
        .bind(i64::from(worker.pid))
        .bind(worker.started_at)
        .bind(Timestamp::now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The worker process stops: it no longer counts.
    pub async fn worker_gone(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Worker processes heard from within `within`.
    pub async fn live_workers(&self, within: Duration) -> Result<i64> {
        let since = Timestamp::now() - within;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE seen_at >= $1")
            .bind(since)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
