//! Connections: list them (no secrets), check one with a harmless read, remove one with its
//! secrets and this process's client of it. Making them is `connect.rs`.

use std::sync::Arc;

use ghl_engine::connections::ConnectionError;
use ghl_engine::AppClient;
use ghl_engine::Engine;
pub use ghl_store::ConnectionSummary;
use ghl_store::Store;

use crate::ServiceError;

/// The connection use cases (`Service::connections`).
pub struct Connections<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a Arc<Engine>,
    pub(crate) pending: &'a crate::connect::Pending,
}

/// What a connection's check found.
#[derive(Debug)]
pub enum Check {
    Works,
    /// It does not work, and why (with its remedy); one whose authorisation is gone is marked
    /// so in the store.
    Fails(ConnectionError),
}

impl Connections<'_> {
    pub async fn list(&self) -> Result<Vec<ConnectionSummary>, ServiceError> {
        Ok(self.store.connections().await?)
    }

    /// Checks a connection with a harmless read. A missing connection or a failing store is an
    /// error; a connection that does not work is an answer.
    pub async fn test(&self, name: &str) -> Result<Check, ServiceError> {
        match self.engine.connections().check(name).await {
            Ok(()) => Ok(Check::Works),
            Err(err @ (ConnectionError::Missing(_) | ConnectionError::Store(_))) => Err(err.into()),
            Err(err) => Ok(Check::Fails(err)),
        }
    }

    /// A client of a stored connection (its credentials and account; OAuth tokens refreshed),
    /// for calls outside any flow (`api --connection`), with the connection it is of.
    pub async fn client(
        &self,
        name: &str,
    ) -> Result<(ConnectionSummary, Arc<dyn AppClient>), ServiceError> {
        let summary = self
            .store
            .connection_summary(name)
            .await?
            .ok_or_else(|| ServiceError::NoConnection(name.into()))?;
        Ok((summary, self.engine.connections().client(name).await?))
    }

    /// Removes a connection, its secrets and the client this process holds of it.
    pub async fn remove(&self, name: &str) -> Result<(), ServiceError> {
        match self.engine.connections().remove(name).await? {
            true => Ok(()),
            false => Err(ServiceError::NoConnection(name.into())),
        }
    }
}
