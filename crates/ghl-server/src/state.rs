//! What every handler shares: the engine and the service over it, the webhook verifiers by app, the admin token and
//! the metrics; and the process's heartbeat in the store, which also renews what the verifiers
//! learn from it.

use std::sync::Arc;

use ghl_engine::Engine;
use ghl_service::Service;
use tokio_util::sync::CancellationToken;

use crate::ingress::Verifiers;
use crate::metrics::Metrics;

pub struct AppState {
    pub engine: Arc<Engine>,
    /// The use cases the REST API serves (over the same engine).
    pub service: Service,
    /// Each app's webhook verifier, by the app's name in `/webhooks/{app}`.
    pub(crate) verifiers: Verifiers,
    pub(crate) admin_token: String,
    pub(crate) metrics: Metrics,
    /// When this process started serving.
    started_at: ghl_store::Timestamp,
}

impl AppState {
    pub(crate) fn new(engine: Arc<Engine>, verifiers: Verifiers, admin_token: String) -> Self {
        Self {
            metrics: Metrics::new(&engine),
            service: Service::new(engine.clone()),
            engine,
            verifiers,
            admin_token,
            started_at: ghl_store::Timestamp::now(),
        }
    }

    /// Says in the store that this process serves it (so `flows run` knows a run will be
    /// executed) and renews what the verifiers learn (webhook keys learned with connections),
    /// every `HEARTBEAT_PERIOD` until shutdown; then says it is gone.
    pub(crate) async fn heartbeat_until(
        self: Arc<Self>,
        process: String,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(ghl_store::HEARTBEAT_PERIOD) => {}
            }
            self.heartbeat(&process).await;
            self.renew_verifiers().await;
        }
        if let Err(err) = self.engine.store().worker_gone(&process).await {
            tracing::warn!(error = %err, "cannot remove the heartbeat");
        }
    }

    pub(crate) async fn heartbeat(&self, process: &str) {
        let beat = ghl_store::WorkerBeat {
            id: process,
            pid: std::process::id(),
            started_at: self.started_at,
        };
        if let Err(err) = self.engine.store().heartbeat(&beat).await {
            tracing::warn!(error = %err, "cannot record the heartbeat");
        }
    }

    pub(crate) async fn renew_verifiers(&self) {
        self.verifiers.renew(self.engine.store()).await;
    }
}
