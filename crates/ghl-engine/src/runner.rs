//! The engine: a thin composition of the flow registry (`registry`), intake (`intake`), the
//! worker (`worker`) and the one interpreter (`interpreter`), which real runs (recorded by
//! the store) and test runs (recorded into a report) share. Its methods are what the front
//! ends call; each hands the work to the part that does it.

use std::sync::Arc;
use std::time::Duration;

use ghl_client::{Backoff, LocalBudget, RateBudget};
use ghl_store::{FlowId, FlowRecord, IngestOutcome, NewEvent, Store, Target};
use ghl_types::remedy::{Listing, Remedy};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::apps::{AppId, Apps};
use crate::connections::Connections;
use crate::flow::Flow;
use crate::intake::Intake;
pub use crate::interpreter::StepReport;
use crate::interpreter::{Interpreter, ReportRecorder};
use crate::metrics::EngineMetrics;
use crate::registry::Registry;
use crate::worker::{Execution, Worker};

/// Runs of one flow for one record within a minute beyond which the flow is paused as a
/// runaway, by default.
pub const DEFAULT_RUNAWAY_LIMIT: u32 = 20;

/// Attempts of a run before it is dead-lettered (waits for a rate limit, a quota or a delay
/// step are not attempts).
pub const MAX_ATTEMPTS: i32 = 6;
/// The run-level backoff: from 2 s, doubling per attempt, at most 10 minutes.
pub const RUN_BACKOFF: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(600));
/// How long a claimed run stays its worker's without a heartbeat; a worker that dies
/// (kill -9) gives its runs back after this. The worker renews it every third of it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Runs a worker claims at once: one claim is paid for several runs, and a worker that dies
/// holds back at most this many until their lease runs out.
pub const CLAIM_BATCH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Flow(#[from] crate::flow::FlowError),
    #[error("flow uses connection `{0}`, which does not exist; add it")]
    MissingConnection(String),
    #[error(
        "flow uses connection `{connection}`, which was not granted {}; widen its scopes and \
         apply the flow again",
        scopes.join(", ")
    )]
    MissingScopes { connection: String, app: String, scopes: Vec<String> },
    #[error("no flow named `{0}`")]
    UnknownFlow(String),
    #[error(
        "step `{step}` uses connection `{connection}`, a `{app}` connection; {action} steps \
         need a `{wanted}` connection"
    )]
    WrongConnection { step: String, connection: String, app: String, action: String, wanted: AppId },
    #[error(transparent)]
    Store(#[from] ghl_store::Error),
}

impl EngineError {
    /// What to do about it, for each front end to say its own way.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::MissingConnection(connection) => {
                Some(Remedy::Connect { app: None, connection: Some(connection.clone()) })
            }
            Self::MissingScopes { connection, app, scopes } => Some(Remedy::Reconnect {
                app: app.clone(),
                connection: connection.clone(),
                scopes: scopes.clone(),
                replay_dead_runs: false,
            }),
            Self::UnknownFlow(_) => Some(Remedy::Choose { from: Listing::Flows }),
            Self::WrongConnection { wanted, .. } => {
                Some(Remedy::Connect { app: Some(wanted.to_string()), connection: None })
            }
            Self::Flow(_) | Self::Store(_) => None,
        }
    }
}

/// How an engine is put together (`Engine::with_config`), beyond its store.
pub struct EngineConfig {
    /// The apps flows can use.
    pub apps: Apps,
    /// How failed runs back off (tests shorten it).
    pub backoff: Backoff,
    /// How long a claimed run stays its worker's without a heartbeat.
    pub lease: Duration,
    /// The rate budget every client of the engine spends; give one shared by several
    /// processes when they call the same accounts.
    pub budget: Arc<dyn RateBudget>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            apps: Apps::builtin(),
            backoff: RUN_BACKOFF,
            lease: DEFAULT_LEASE,
            budget: LocalBudget::new(),
        }
    }
}

pub struct Engine {
    store: Store,
    apps: Apps,
    connections: Connections,
    /// For `http.request` steps.
    http: reqwest::Client,
    metrics: EngineMetrics,
    registry: Registry,
    intake: Intake,
    worker: Worker,
}

/// A flow as `apply_flow` stored it, and what the author should know about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Applied {
    pub id: FlowId,
    /// The flow can trigger itself, and so on.
    pub warnings: Vec<String>,
}

impl Engine {
    pub fn new(store: Store) -> Arc<Self> {
        Self::with_config(store, EngineConfig::default())
    }

    pub fn with_retry_base(store: Store, retry_base: Duration) -> Arc<Self> {
        Self::with_lease(store, retry_base, DEFAULT_LEASE)
    }

    /// An engine whose runs back off from `retry_base` and whose claims last `lease`.
    pub fn with_lease(store: Store, retry_base: Duration, lease: Duration) -> Arc<Self> {
        let backoff = Backoff::new(retry_base, RUN_BACKOFF.max);
        Self::with_config(store, EngineConfig { backoff, lease, ..EngineConfig::default() })
    }

    /// An engine on `store`, set up as `config` says (its apps, budget, backoff and lease).
    pub fn with_config(store: Store, config: EngineConfig) -> Arc<Self> {
        let EngineConfig { apps, backoff, lease, budget } = config;
        Arc::new(Self {
            connections: Connections::new(store.clone(), apps.clone(), budget),
            registry: Registry::new(store.clone(), apps.clone()),
            intake: Intake::new(store.clone()),
            worker: Worker::new(store.clone(), backoff, lease),
            apps,
            store,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("ghl-connector/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            metrics: EngineMetrics::default(),
        })
    }

    /// Sets how many runs of one flow for one record a minute make it a runaway (paused).
    pub fn set_runaway_limit(&self, runs_per_minute: u32) {
        self.intake.set_runaway_limit(runs_per_minute);
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The apps flows can use.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Checks a flow file (that its connections exist, are of the app its steps need and were
    /// granted the scopes they need) and stores it, enabled (lifting a runaway pause); warns
    /// when the flow can trigger itself. It is parsed off the async runtime.
    pub async fn apply_flow(&self, text: &str) -> Result<Applied, EngineError> {
        self.registry.apply(text, self.intake.runaway_limit()).await
    }

    /// The scopes the stored flows need from a connection: what `connect` asks for, so a
    /// connection is widened only as far as its flows write.
    pub async fn scopes_needed(&self, connection: &str) -> Result<Vec<String>, EngineError> {
        self.registry.scopes_needed(connection).await
    }

    /// Stores an event with one run per enabled flow it triggers, durably, once. An event
    /// that echoes a flow's own write does not run that flow (unless it says
    /// `on_own_writes: run`), and a flow that runs one record too often is paused.
    pub async fn ingest(&self, event: &NewEvent) -> Result<IngestOutcome, EngineError> {
        self.intake.ingest(&self.registry, &self.metrics, event).await
    }

    /// The enabled flows an app's event triggers, with their guards.
    pub(crate) async fn flows_on(
        &self,
        app: &str,
        event_type: &str,
    ) -> Result<Vec<Target>, EngineError> {
        self.intake.flows_on(&self.registry, app, event_type).await
    }

    /// The enabled flows, compiled (a broken or paused flow is left out).
    pub(crate) async fn enabled_flows(&self) -> Result<Vec<(FlowRecord, Arc<Flow>)>, EngineError> {
        self.registry.enabled_flows().await
    }

    /// Loads every stored flow (at start): a flow that cannot be loaded is marked broken, with
    /// the reason, and skipped, never a reason not to start. Answers how many are broken.
    pub async fn load_flows(&self) -> Result<usize, EngineError> {
        self.registry.load_flows().await
    }

    /// Runs a flow on demand (its trigger whatever it is) with `trigger` as `.trigger`. A
    /// `key` makes the request idempotent: asked twice with one key, it runs once.
    pub async fn run_now(
        &self,
        flow_name: &str,
        trigger: Value,
        key: Option<&str>,
    ) -> Result<IngestOutcome, EngineError> {
        self.intake.run_now(flow_name, trigger, key).await
    }

    /// Claims a batch of due runs and executes them; `false` when none is due.
    pub async fn run_next(&self) -> Result<bool, EngineError> {
        self.worker.run_batch(&self.execution(), &CancellationToken::new()).await
    }

    /// Works the queue until `shutdown`; `idle` is how long to wait when nothing is due.
    pub async fn work(self: Arc<Self>, shutdown: CancellationToken, idle: Duration) {
        let execution = self.execution();
        while !shutdown.is_cancelled() {
            match self.worker.run_batch(&execution, &shutdown).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(idle) => {}
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "worker cannot reach the store");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }

    /// The test feature: runs a flow step by step on a sample trigger against the real
    /// connections, recording nothing. With `dry_run`, writes are shown but not sent (reads are
    /// sent, so later steps see real data); delays are shown, not waited.
    pub async fn test_flow(&self, flow: &Flow, trigger: Value, dry_run: bool) -> Vec<StepReport> {
        let mut recorder = ReportRecorder::new(self.connections.masker(), dry_run);
        match self.interpreter().run(flow, &trigger, &mut recorder).await {
            Ok(_) => {}
            Err(never) => match never {},
        }
        recorder.into_reports()
    }

    /// The one interpreter, over this engine's apps, connections and HTTP client.
    fn interpreter(&self) -> Interpreter<'_> {
        Interpreter { apps: &self.apps, connections: &self.connections, http: &self.http }
    }

    /// What the worker executes runs with.
    fn execution(&self) -> Execution<'_> {
        Execution {
            registry: &self.registry,
            interpreter: self.interpreter(),
            metrics: &self.metrics,
        }
    }
}
