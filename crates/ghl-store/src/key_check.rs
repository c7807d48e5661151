//! The master key check: a known value sealed under the key when the store is first opened.
//! A store opened with another key is refused at once, instead of every secret it holds
//! failing later (and every run with it).

use sqlx::Row;

use crate::error::{Error, Result};
use crate::{Store, Timestamp};

/// The sealed value's associated data and plaintext.
const CHECK_ID: &str = "key-check";
const CHECK_TEXT: &[u8] = b"ghl-connector store key check";

impl Store {
    /// Before migrations run: a store that already has a check value must open with this key,
    /// so a wrong key changes nothing. A store from before the check has no table yet.
    pub(crate) async fn check_key_before_migrating(&self) -> Result<()> {
        let sealed = sqlx::query("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_optional(self.pool())
            .await;
        match sealed {
            Ok(Some(row)) => self.open_check(&row.try_get::<Vec<u8>, _>("sealed")?),
            // No table yet (a new or older store): the check after migrating decides.
            Ok(None) | Err(_) => Ok(()),
        }
    }

    /// After migrations: the check value opens with this key; a store without one gets it,
    /// once its existing secrets (if any) are shown to open with this key.
    pub(crate) async fn check_key(&self) -> Result<()> {
        if let Some(sealed) = self.check_value().await? {
            return self.open_check(&sealed);
        }
        let secret = sqlx::query("SELECT id, secret FROM connections LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = secret {
            let id: String = row.try_get("id")?;
            let sealed: Vec<u8> = row.try_get("secret")?;
            self.cipher.open(&id, &sealed).map_err(|_| Error::WrongKey)?;
        }
        let sealed = self.cipher.seal(CHECK_ID, CHECK_TEXT)?;
        sqlx::query(
            "INSERT INTO key_check (id, sealed, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .bind(Timestamp::now())
        .execute(self.pool())
        .await?;
        // Another process may have written it first, under its key.
        match self.check_value().await? {
            Some(sealed) => self.open_check(&sealed),
            None => Err(Error::Corrupt("the key check value was not written".into())),
        }
    }

    async fn check_value(&self) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get("sealed")).transpose()?)
    }

    fn open_check(&self, sealed: &[u8]) -> Result<()> {
        match self.cipher.open(CHECK_ID, sealed) {
            Ok(plain) if plain == CHECK_TEXT => Ok(()),
            _ => Err(Error::WrongKey),
        }
    }
}
