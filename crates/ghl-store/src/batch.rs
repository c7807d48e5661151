//! Writes made in one round trip to the database: the bind parameters of a statement built
//! piece by piece ([`Binds`]), a whole SQLite transaction sent as one batch
//! ([`sqlite_transaction`]), and statements written together on either backend
//! (`Store::write_together`).
//!
//! SQLite has one writer: its lock is held from a transaction's first write to its commit.
//! Sent statement by statement, every statement is a hop to the connection's thread and back
//! to the async task, and on a busy machine each hop can wait for a CPU while the lock is
//! held and every other writer sleeps in SQLite's busy handler. As one batch (`BEGIN`, the
//! statements, `COMMIT`), the connection's thread takes the lock, writes and commits without
//! coming back in between.

use futures_util::TryStreamExt;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Connection, Either, Executor};

use crate::error::{Error, Result};

/// The bind parameters of one statement, numbered `$1`, `$2`, ... as they are added.
#[derive(Default)]
pub(crate) struct Binds(Vec<Bind>);

enum Bind {
    Text(Option<String>),
    Int(i64),
}

impl Binds {
    /// Adds a value; answers its placeholder.
    fn push(&mut self, bind: Bind) -> String {
        self.0.push(bind);
        format!("${}", self.0.len())
    }

    pub fn text(&mut self, value: impl Into<String>) -> String {
        self.push(Bind::Text(Some(value.into())))
    }

    pub fn optional_text(&mut self, value: Option<&str>) -> String {
        self.push(Bind::Text(value.map(str::to_owned)))
    }

    pub fn int(&mut self, value: i64) -> String {
        self.push(Bind::Int(value))
    }

    /// `sql` with these values bound.
    pub fn query(self, sql: &str) -> Query<'_, Any, AnyArguments<'_>> {
        self.0.into_iter().fold(sqlx::query(sql), |query, bind| match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Int(int) => query.bind(int),
        })
    }
}

impl crate::Store {
    /// Runs `statements` (parameters `$n` from `binds`) as one transaction in one round trip:
    /// on SQLite as one batch ([`sqlite_transaction`]), on PostgreSQL as one statement (the
    /// others in its `WITH`; each statement must write rows the others do not touch).
    pub(crate) async fn write_together(&self, statements: &[String], binds: Binds) -> Result<()> {
        match self.backend() {
            crate::Backend::Sqlite => {
                sqlite_transaction(self.pool(), &statements.join(";\n"), binds).await?;
            }
            crate::Backend::Postgres => {
                let Some((last, before)) = statements.split_last() else { return Ok(()) };
                let sql = if before.is_empty() {
                    last.clone()
                } else {
                    let parts: Vec<String> = before
                        .iter()
                        .enumerate()
                        .map(|(n, statement)| format!("w{n} AS ({statement})"))
                        .collect();
                    format!("WITH {} {last}", parts.join(", "))
                };
                binds.query(&sql).execute(self.pool()).await?;
            }
        }
        Ok(())
    }
}

/// What each statement of a batch did: the rows it answered and the rows it changed.
#[derive(Default)]
pub(crate) struct Done {
    pub rows: Vec<AnyRow>,
    pub changed: u64,
}

/// Runs `statements` (separated by `;`, parameters `$n` from `binds`) as one SQLite
/// transaction in one round trip, and answers what each statement did, in order (a `SELECT`'s
/// `changed` means nothing). Every statement's outcome is committed: a statement that must not
/// write in some case says so in its own `WHERE`.
///
/// The batch runs to its end on a task of its own, so a caller that stops waiting (a timeout)
/// cannot cut it short and leave its transaction open on a pooled connection; a batch that
/// fails midway closes its connection, which rolls the transaction back.
pub(crate) async fn sqlite_transaction(
    pool: &AnyPool,
    statements: &str,
    binds: Binds,
) -> Result<Vec<Done>> {
    let pool = pool.clone();
    let sql = format!("BEGIN;\n{statements};\nCOMMIT");
    let task = tokio::spawn(async move {
        let mut connection = pool.acquire().await.map_err(Error::from)?;
        let results: std::result::Result<Vec<Either<AnyQueryResult, AnyRow>>, sqlx::Error> =
            (&mut *connection).fetch_many(binds.query(&sql)).try_collect().await;
        match results {
            Ok(results) => Ok(results),
            Err(err) => {
                // The transaction may be open: closing the connection rolls it back.
                let _ = connection.detach().close().await;
                Err(Error::from(err))
            }
        }
    });
    let results = task.await.map_err(|err| Error::Interrupted(err.to_string()))??;
    // Each statement answers its rows, then what it changed; `BEGIN` and `COMMIT` are the
    // first and the last.
    let mut done = Vec::new();
    let mut current = Done::default();
    for result in results {
        match result {
            Either::Right(row) => current.rows.push(row),
            Either::Left(result) => {
                current.changed = result.rows_affected();
                done.push(std::mem::take(&mut current));
            }
        }
    }
    // Without `BEGIN` and `COMMIT`.
    if done.len() < 2 {
        return Err(Error::Corrupt("a SQLite batch answered fewer statements than it has".into()));
    }
    done.pop();
    done.remove(0);
    Ok(done)
}
