//! Apps a user added: each manifest kept as its text (so the file the user wrote is what is
//! loaded again, comments and all), by app id. The store does not read manifests; the caller
//! checks one before it is put here.

use sqlx::Row;

use crate::error::Result;
use crate::{Store, Timestamp};

/// An added app's manifest, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedApp {
    /// The manifest's `app:`.
    pub id: String,
    pub manifest: String,
    pub added_at: Timestamp,
}

impl Store {
    /// Adds the manifest of app `id`, or replaces the one added before; true when it replaced
    /// one.
    pub async fn put_added_app(&self, id: &str, manifest: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let before = sqlx::query("SELECT id FROM added_apps WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO added_apps (id, manifest, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest, added_at = excluded.added_at",
        )
        .bind(id)
        .bind(manifest)
        .bind(Timestamp::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(before.is_some())
    }

    /// Every added app, by id.
    pub async fn added_apps(&self) -> Result<Vec<AddedApp>> {
        let rows = sqlx::query("SELECT id, manifest, added_at FROM added_apps ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AddedApp {
                    id: row.try_get("id")?,
                    manifest: row.try_get("manifest")?,
                    added_at: row.try_get("added_at")?,
                })
            })
            .collect()
    }

    /// Removes an added app; false when there was none of that id.
    pub async fn remove_added_app(&self, id: &str) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM added_apps WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected() == 1)
    }
}
