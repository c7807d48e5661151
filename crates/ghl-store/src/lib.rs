//! The connector's durable store, on SQLite (one file, WAL) by default or PostgreSQL to scale
//! out, through sqlx's `Any` driver with one set of migrations per backend. It holds
//! connections (secrets encrypted), flows, events, runs (the queue and the history at once),
//! step logs, the effects ledger, polling cursors, and the web UI's users and sessions.
//!
//! **Invariant**: an event and the runs it causes are written in one transaction, and so are
//! a step's record and the effect it applied; a cursor advances with the runs it enqueues.

mod added_apps;
mod batch;
mod cipher;
mod error;
mod events;
mod ids;
mod ingest;
mod key_check;
mod own_writes;
mod runs;
mod series;
mod statuses;
mod timestamp;
mod ui_users;
mod webhook_keys;
mod workers;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use added_apps::AddedApp;
pub use cipher::{Cipher, MasterKey};
pub use error::{redact_url, Error, Result};
pub use events::StoredEvent;
pub use ids::{new_id, ConnectionId, EventId, FlowId, RunId};
pub use ingest::{IngestOutcome, NewEvent, Paused, Target};
pub use own_writes::{agrees, OwnWrite, ECHO_WINDOW};
pub use runs::{ClaimedRun, RunChange, RunFilter, RunOutcome, RunSummary, StepRecord};
pub use series::{ArrivedEvents, Buckets, FinishedRuns, QueueDepth};
pub use statuses::{AuthKind, ConnectionStatus, RunStatus, StepStatus, UnknownWord};
pub use timestamp::Timestamp;
pub use ui_users::{NewUiSession, UiSession, UserRecord};
pub use webhook_keys::LearnedWebhookKeys;
pub use workers::{WorkerBeat, HEARTBEAT_FRESH, HEARTBEAT_PERIOD};

/// How long opening the store waits for the database before saying it cannot be reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    cipher: Cipher,
}

/// A connection as listed: everything but its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionSummary {
    pub id: ConnectionId,
    pub name: String,
    pub app: String,
    pub location_id: Option<String>,
    pub auth_kind: AuthKind,
    pub scopes: String,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
}

/// A connection with its decrypted secret (tokens, keys).
#[derive(Debug, Clone)]
pub struct Connection {
    pub summary: ConnectionSummary,
    pub secret: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRecord {
    pub id: FlowId,
    pub name: String,
    pub definition: String,
    pub enabled: bool,
    /// `enabled`, `disabled`, or `paused` by the runaway detector (see `paused_reason`).
    pub status: FlowStatus,
    pub paused_reason: Option<String>,
    /// Why the flow cannot be loaded, when it cannot: it is skipped.
    pub broken: Option<String>,
}

/// Whether a flow's trigger runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    Enabled,
    Disabled,
    /// Enabled, but held by the runaway detector until enabled or applied again.
    Paused,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Paused => "paused",
        }
    }
}

impl std::fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`: `sqlite:PATH` or
    /// `postgres://...`. A database that cannot be reached fails within `CONNECT_TIMEOUT`
    /// ([`Error::Unreachable`]); a store sealed under another master key is refused
    /// ([`Error::WrongKey`]) before anything is written.
    pub async fn open(url: &str, key: &MasterKey) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(redact_url(url)));
        };
        let unreachable = |err: sqlx::Error| Error::unreachable(backend, url, err);
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains("mode=") {
                    url.to_owned()
                } else {
                    format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
                };
                // A busy timeout on every connection: writers queue instead of failing.
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            connection.execute("PRAGMA busy_timeout = 10000").await?;
                            connection.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(unreachable)?;
                // WAL: readers never block the writer. The mode is kept in the file.
                sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
                pool
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect(url)
                .await
                .map_err(unreachable)?,
        };
        let store = Self { pool, backend, cipher: Cipher::new(key) };
        store.check_key_before_migrating().await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&store.pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&store.pool).await?,
        }
        store.check_key().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Adds a connection, or replaces the one of that name (its id stays).
    pub async fn put_connection(
        &self,
        summary: &ConnectionSummary,
        secret: &Value,
    ) -> Result<ConnectionId> {
        let existing = self.connection_summary(&summary.name).await?;
        let id = existing.map_or_else(ConnectionId::new, |found| found.id);
        let sealed = self.cipher.seal(id.as_str(), secret.to_string().as_bytes())?;
        let now = Timestamp::now();
        sqlx::query(
            "INSERT INTO connections (id, app, name, location_id, auth_kind, secret, scopes, status, status_reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (name) DO UPDATE SET app = excluded.app, location_id = excluded.location_id,
                 auth_kind = excluded.auth_kind, secret = excluded.secret, scopes = excluded.scopes,
                 status = excluded.status, status_reason = excluded.status_reason, updated_at = excluded.updated_at",
        )
        .bind(&id)
        .bind(&summary.app)
        .bind(&summary.name)
        .bind(&summary.location_id)
        .bind(summary.auth_kind)
        .bind(sealed)
        .bind(&summary.scopes)
        .bind(summary.status)
        .bind(&summary.status_reason)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Replaces a connection's secret in one statement (a rotated refresh token is durable
    /// before this returns).
    pub async fn replace_secret(&self, name: &str, secret: &Value) -> Result<bool> {
        let Some(found) = self.connection_summary(name).await? else { return Ok(false) };
        let sealed = self.cipher.seal(found.id.as_str(), secret.to_string().as_bytes())?;
        let changed =
            sqlx::query("UPDATE connections SET secret = $1, updated_at = $2 WHERE id = $3")
                .bind(sealed)
                .bind(Timestamp::now())
                .bind(&found.id)
                .execute(&self.pool)
                .await?;
        Ok(changed.rows_affected() == 1)
    }

    pub async fn set_connection_status(
        &self,
        name: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
    ) -> Result<bool> {
        let changed =
            sqlx::query("UPDATE connections SET status = $1, status_reason = $2, updated_at = $3 WHERE name = $4")
                .bind(status)
                .bind(reason)
                .bind(Timestamp::now())
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(changed.rows_affected() == 1)
    }

    pub async fn connection(&self, name: &str) -> Result<Option<Connection>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS}, secret FROM connections WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let summary = connection_summary(&row)?;
        let sealed: Vec<u8> = row.try_get("secret")?;
        let plain = self.cipher.open(summary.id.as_str(), &sealed)?;
        let secret =
            serde_json::from_slice(&plain).map_err(|err| Error::Corrupt(err.to_string()))?;
        Ok(Some(Connection { summary, secret }))
    }

    pub async fn connection_summary(&self, name: &str) -> Result<Option<ConnectionSummary>> {
        let row =
            sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(connection_summary).transpose()
    }

    pub async fn connections(&self) -> Result<Vec<ConnectionSummary>> {
        let rows =
            sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY name"))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(connection_summary).collect()
    }

    /// Removes a connection with its secret and the webhook keys learned with it.
    pub async fn remove_connection(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_keys WHERE connection_id IN (SELECT id FROM connections WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query("DELETE FROM connections WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed.rows_affected() == 1)
    }

    /// Adds or replaces a flow by name; answers its id.
    pub async fn put_flow(&self, name: &str, definition: &str, enabled: bool) -> Result<FlowId> {
        let id = match self.flow(name).await? {
            Some(found) => found.id,
            None => FlowId::new(),
        };
        sqlx::query(
            "INSERT INTO flows (id, name, definition, enabled, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, enabled = excluded.enabled,
                 updated_at = excluded.updated_at, paused_reason = NULL, paused_at = NULL, broken = NULL",
        )
        .bind(&id)
        .bind(name)
        .bind(definition)
        .bind(i32::from(enabled))
        .bind(Timestamp::now())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn flow(&self, name: &str) -> Result<Option<FlowRecord>> {
        let row = sqlx::query(&format!("SELECT {FLOW_COLUMNS} FROM flows WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(flow_record).transpose()
    }

    pub async fn flows(&self) -> Result<Vec<FlowRecord>> {
        let rows = sqlx::query(&format!("SELECT {FLOW_COLUMNS} FROM flows ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(flow_record).collect()
    }

    /// Enables or disables a flow; either way a runaway pause is lifted.
    pub async fn set_flow_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        let changed = sqlx::query(
            "UPDATE flows SET enabled = $1, updated_at = $2, paused_reason = NULL, paused_at = NULL WHERE name = $3",
        )
            .bind(i32::from(enabled))
            .bind(Timestamp::now())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(changed.rows_affected() == 1)
    }

    /// Marks a flow broken with the reason (or loadable again with `None`); answers whether
    /// the flow exists.
    pub async fn set_flow_broken(&self, id: &FlowId, reason: Option<&str>) -> Result<bool> {
        let changed = sqlx::query("UPDATE flows SET broken = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(changed.rows_affected() == 1)
    }

    pub async fn delete_flow(&self, name: &str) -> Result<bool> {
        let removed =
            sqlx::query("DELETE FROM flows WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(removed.rows_affected() == 1)
    }

    /// The recorded result of an effect, if it was applied already.
    pub async fn effect(&self, key: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT result FROM effects WHERE effect_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| parse_json(&row, "result")).transpose()
    }

    /// Sets a cursor outside any ingest (a schedule's starting point, say).
    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query(SET_CURSOR)
            .bind(name)
            .bind(value)
            .bind(Timestamp::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }
}

pub(crate) const SET_CURSOR: &str =
    "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

const CONNECTION_COLUMNS: &str =
    "id, name, app, location_id, auth_kind, scopes, status, status_reason";

fn connection_summary(row: &AnyRow) -> Result<ConnectionSummary> {
    Ok(ConnectionSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        app: row.try_get("app")?,
        location_id: row.try_get("location_id")?,
        auth_kind: row.try_get("auth_kind")?,
        scopes: row.try_get("scopes")?,
        status: row.try_get("status")?,
        status_reason: row.try_get("status_reason")?,
    })
}

pub(crate) const FLOW_COLUMNS: &str = "id, name, definition, enabled, paused_reason, broken";

pub(crate) fn flow_record(row: &AnyRow) -> Result<FlowRecord> {
    let enabled = row.try_get::<i32, _>("enabled")? != 0;
    let paused_reason: Option<String> = row.try_get("paused_reason")?;
    let status = match (enabled, &paused_reason) {
        (false, _) => FlowStatus::Disabled,
        (true, Some(_)) => FlowStatus::Paused,
        (true, None) => FlowStatus::Enabled,
    };
    Ok(FlowRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        definition: row.try_get("definition")?,
        enabled,
        status,
        paused_reason,
        broken: row.try_get("broken")?,
    })
}

pub(crate) fn parse_json(row: &AnyRow, column: &str) -> Result<Value> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|err| Error::Corrupt(format!("{column}: {err}")))
}
