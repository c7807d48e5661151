//! Webhook public keys learned with a connection (a sandbox publishes its own): public, so kept
//! in clear, and removed with their connection.

use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::{Store, Timestamp};

/// The keys a connection's sender signs webhooks with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedWebhookKeys {
    /// The connection's name.
    pub connection: String,
    /// Where they were learned (the API's base URL).
    pub origin: String,
    /// Ed25519, SPKI DER in base64.
    pub ed25519: Option<String>,
    /// RSA, PEM.
    pub rsa_pem: Option<String>,
}

impl Store {
    /// Keeps the keys learned for the connection `name`; false when there is no such connection.
    pub async fn put_webhook_keys(&self, keys: &LearnedWebhookKeys) -> Result<bool> {
        let Some(found) = self.connection_summary(&keys.connection).await? else {
            return Ok(false);
        };
        sqlx::query(
            "INSERT INTO webhook_keys (connection_id, origin, ed25519, rsa_pem, learned_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (connection_id) DO UPDATE SET origin = excluded.origin,
                 ed25519 = excluded.ed25519, rsa_pem = excluded.rsa_pem, learned_at = excluded.learned_at",
        )
        .bind(&found.id)
        .bind(&keys.origin)
        .bind(&keys.ed25519)
        .bind(&keys.rsa_pem)
        .bind(Timestamp::now())
        .execute(self.pool())
        .await?;
        Ok(true)
    }

    /// Forgets the keys learned for the connection `name` (it now talks to HighLevel itself).
    pub async fn forget_webhook_keys(&self, name: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM webhook_keys WHERE connection_id IN (SELECT id FROM connections WHERE name = $1)",
        )
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every connection's learned keys, by connection name.
    pub async fn webhook_keys(&self) -> Result<Vec<LearnedWebhookKeys>> {
        let rows = sqlx::query(
            "SELECT c.name, k.origin, k.ed25519, k.rsa_pem FROM webhook_keys k
             JOIN connections c ON c.id = k.connection_id ORDER BY c.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LearnedWebhookKeys {
                    connection: row.try_get("name")?,
                    origin: row.try_get("origin")?,
                    ed25519: row.try_get("ed25519")?,
                    rsa_pem: row.try_get("rsa_pem")?,
                })
            })
            .collect()
    }
}
