//! What every handler shares: the service and the engine it runs on (whose apps verify their
//! webhooks), the admin token and the metrics; and the process's heartbeat (through the
//! service), which also renews what the apps' verifiers learn from the store.

use std::sync::Arc;

use ghl_engine::Engine;
use ghl_service::Service;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

pub struct AppState {
    /// The service's engine: ingress hands it verified webhooks.
    pub engine: Arc<Engine>,
    /// The use cases the REST API serves.
    pub service: Service,
    pub(crate) admin_token: String,
    pub(crate) metrics: Metrics,
    /// When this process started serving.
    started_at: ghl_store::Timestamp,
    /// Cancelled when the server stops: long answers (the live run stream) end with it, so a
    /// graceful shutdown does not wait for their clients.
    pub(crate) shutdown: CancellationToken,
}

impl AppState {
    pub(crate) fn new(service: Service, admin_token: String, shutdown: CancellationToken) -> Self {
        let engine = service.engine().clone();
        Self {
            metrics: Metrics::new(&engine),
            service,
            engine,
            admin_token,
            started_at: ghl_store::Timestamp::now(),
            shutdown,
        }
    }

    /// Says in the store that this process serves it (so `flows run` knows a run will be
    /// executed), renews what the verifiers learn (webhook keys learned with connections) and
    /// samples the dashboard's levels, every `HEARTBEAT_PERIOD` until shutdown; then says it
    /// is gone.
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
            self.engine.renew_verifiers().await;
            if let Err(err) = self.service.dashboard().sample().await {
                tracing::warn!(error = %err, "cannot sample the queue for the dashboard");
            }
        }
        if let Err(err) = self.service.workers().gone(&process).await {
            tracing::warn!(error = %err, "cannot remove the heartbeat");
        }
    }

    pub(crate) async fn heartbeat(&self, process: &str) {
        let beat = ghl_service::workers::WorkerBeat {
            id: process,
            pid: std::process::id(),
            started_at: self.started_at,
        };
        if let Err(err) = self.service.workers().beat(&beat).await {
            tracing::warn!(error = %err, "cannot record the heartbeat");
        }
    }
}
