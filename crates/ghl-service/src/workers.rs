//! A serving process's heartbeat in the store: while it beats, `flows run` knows that queued
//! runs are executed (`runs().executed()`); a process that stops says it is gone.

use ghl_store::Store;
pub use ghl_store::WorkerBeat;

use crate::ServiceError;

/// The heartbeat use cases (`Service::workers`).
pub struct Workers<'a> {
    pub(crate) store: &'a Store,
}

impl Workers<'_> {
    /// Says that the process `beat` names serves this store, now.
    pub async fn beat(&self, beat: &WorkerBeat<'_>) -> Result<(), ServiceError> {
        Ok(self.store.heartbeat(beat).await?)
    }

    /// Says that the process `id` no longer serves this store.
    pub async fn gone(&self, id: &str) -> Result<(), ServiceError> {
        Ok(self.store.worker_gone(id).await?)
    }
}
