//! The web UI's users and their sessions. A user is kept with a password hash the caller made
//! (the store never sees a password); a session with the SHA-256 of its token (never the
//! token), the CSRF token of its forms and when it ends. The rules (hashing, lifetimes,
//! comparisons) are the service's; the store keeps rows.

use sqlx::Row;

use crate::error::Result;
use crate::{new_id, Store, Timestamp};

/// A user who may sign in to the web UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    /// The password's hash, in the PHC string format (`$argon2id$...`).
    pub password_hash: String,
    pub created_at: Timestamp,
}

/// A session to store: the hash of its token, whose it is, its CSRF token and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUiSession<'a> {
    /// The SHA-256 of the session token, in hex.
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub csrf_token: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A stored session, with the name of its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    pub user_id: String,
    pub user_name: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Store {
    /// Adds a user; false (and nothing changed) when the name is taken.
    pub async fn add_user(&self, name: &str, password_hash: &str) -> Result<bool> {
        let added = sqlx::query(
            "INSERT INTO users (id, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(password_hash)
        .bind(Timestamp::now())
        .execute(self.pool())
        .await?;
        Ok(added.rows_affected() == 1)
    }

    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row =
            sqlx::query("SELECT id, name, password_hash, created_at FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(user).transpose()
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows =
            sqlx::query("SELECT id, name, password_hash, created_at FROM users ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(user).collect()
    }

    /// Removes a user and every session of theirs; false when there was none of that name.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM ui_sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let removed =
            sqlx::query("DELETE FROM users WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(removed.rows_affected() == 1)
    }

    pub async fn put_ui_session(&self, session: &NewUiSession<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO ui_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.token_hash)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if it has not ended by `now`.
    pub async fn ui_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<UiSession>> {
        let row = sqlx::query(
            "SELECT s.user_id, u.name, s.csrf_token, s.created_at, s.expires_at
             FROM ui_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(UiSession {
                user_id: row.try_get(0)?,
                user_name: row.try_get(1)?,
                csrf_token: row.try_get(2)?,
                created_at: row.try_get(3)?,
                expires_at: row.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Moves a session's end to `expires_at`; false when there is no such session.
    pub async fn extend_ui_session(&self, token_hash: &str, expires_at: Timestamp) -> Result<bool> {
        let moved = sqlx::query("UPDATE ui_sessions SET expires_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Ends a session; false when there was none.
    pub async fn remove_ui_session(&self, token_hash: &str) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected() == 1)
    }

    /// Forgets the sessions that ended by `now`; answers how many.
    pub async fn remove_ended_ui_sessions(&self, now: Timestamp) -> Result<u64> {
        let removed = sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected())
    }

    /// How many sessions are stored (ended or not), for tests and metrics.
    pub async fn ui_session_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM ui_sessions").fetch_one(self.pool()).await?;
        Ok(row.try_get(0)?)
    }
}

fn user(row: &sqlx::any::AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}
