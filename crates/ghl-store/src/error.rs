//! Store errors, and the one way a database address is shown in them (without its password).

use crate::{Backend, CONNECT_TIMEOUT};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Key(String),
    #[error("unsupported database URL {0}: use sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database could not be opened or reached; `url` has no password.
    #[error("cannot reach the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The store's secrets were sealed under another master key.
    #[error("the master key does not open this store: its secrets were sealed under another key")]
    WrongKey,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A write's task stopped before it answered (the process is stopping): whether it was
    /// committed is unknown; an ingest retried is then a duplicate.
    #[error("a write to the database was interrupted: {0}")]
    Interrupted(String),
    /// This worker's claim on the run may have run out (its lease was not renewed in time),
    /// so another worker may hold the run now: this one must change nothing more of it.
    #[error("the claim on run {0} ran out; another worker may hold it")]
    ClaimLost(crate::RunId),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Opening `url` failed with `err`: say why in words.
    pub(crate) fn unreachable(backend: Backend, url: &str, err: sqlx::Error) -> Self {
        let waited = CONNECT_TIMEOUT.as_secs();
        let reason = match (backend, err) {
            (Backend::Sqlite, sqlx::Error::Database(err)) => {
                format!("{} (does its folder exist, and may this user write there?)", err.message())
            }
            (Backend::Sqlite, sqlx::Error::PoolTimedOut) => format!(
                "the file did not open within {waited} s (is it on a slow or unreachable disk?)"
            ),
            (Backend::Postgres, sqlx::Error::PoolTimedOut) => format!(
                "no database answered within {waited} s (is PostgreSQL running and listening \
                 on that host and port?)"
            ),
            (Backend::Postgres, sqlx::Error::Database(err)) => err.message().to_owned(),
            (_, sqlx::Error::Io(err)) => err.to_string(),
            (_, err) => err.to_string(),
        };
        Self::Unreachable { url: redact_url(url), reason }
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_show_in_a_database_address() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:[redacted]@db:5432/x"
        );
        assert_eq!(super::redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(super::redact_url("sqlite:data.db"), "sqlite:data.db");
    }
}
