//! Intake: events become runs, durably and once. An event that echoes a flow's own write does
//! not run that flow (unless it says `on_own_writes: run`), and a flow that runs one record
//! too often is paused as a runaway. A run on demand (`run_now`) is a manual event for one
//! flow. Triggers that fire on their own are in `triggers.rs`: a schedule or a poll stores
//! its events for its own flow, a reconciliation poll for the flows `flows_on` gives.

use std::sync::atomic::{AtomicU32, Ordering};

use ghl_store::{IngestOutcome, NewEvent, Store, Target};
use serde_json::Value;

use crate::flow::OwnWrites;
use crate::metrics::EngineMetrics;
use crate::registry::Registry;
use crate::runner::{EngineError, DEFAULT_RUNAWAY_LIMIT};

pub(crate) struct Intake {
    store: Store,
    /// Runs of one flow for one record within a minute beyond which the flow is paused.
    runaway_limit: AtomicU32,
}

impl Intake {
    pub fn new(store: Store) -> Self {
        Self { store, runaway_limit: AtomicU32::new(DEFAULT_RUNAWAY_LIMIT) }
    }

    pub fn set_runaway_limit(&self, runs_per_minute: u32) {
        self.runaway_limit.store(runs_per_minute.max(1), Ordering::Relaxed);
    }

    pub fn runaway_limit(&self) -> u32 {
        self.runaway_limit.load(Ordering::Relaxed)
    }

    /// Stores an event with one run per enabled flow it triggers, durably, once.
    pub async fn ingest(
        &self,
        registry: &Registry,
        metrics: &EngineMetrics,
        event: &NewEvent,
    ) -> Result<IngestOutcome, EngineError> {
        // A webhook's source is its app.
        let targets = self.flows_on(registry, &event.source, &event.event_type).await?;
        let outcome = self.store.ingest_for(event, &targets, None).await?;
        if let IngestOutcome::Stored { echoes, paused, .. } = &outcome {
            for flow in echoes {
                tracing::debug!(flow = %flow, event = %event.dedup_key, "the echo of the flow's own write: not run");
            }
            metrics.echoes(echoes.len());
            for pause in paused {
                tracing::warn!(flow = %pause.flow_id, reason = %pause.reason, "flow paused");
                metrics.runaway();
            }
        }
        Ok(outcome)
    }

    /// The enabled flows an app's event triggers, with their guards.
    pub async fn flows_on(
        &self,
        registry: &Registry,
        app: &str,
        event_type: &str,
    ) -> Result<Vec<Target>, EngineError> {
        let limit = self.runaway_limit();
        let mut targets = Vec::new();
        for (record, flow) in registry.enabled_flows().await? {
            if flow.app_event().is_some_and(|(on, event)| *on == *app && event == event_type) {
                targets.push(Target {
                    flow_id: record.id,
                    skip_own_echoes: flow.on_own_writes == OwnWrites::Skip,
                    runs_per_minute_limit: Some(limit),
                });
            }
        }
        Ok(targets)
    }

    /// A run of a flow on demand with `trigger` as `.trigger`; asked twice with one `key`,
    /// it runs once.
    pub async fn run_now(
        &self,
        flow_name: &str,
        trigger: Value,
        key: Option<&str>,
    ) -> Result<IngestOutcome, EngineError> {
        let Some(flow) = self.store.flow(flow_name).await? else {
            return Err(EngineError::UnknownFlow(flow_name.to_owned()));
        };
        let event = NewEvent {
            dedup_key: format!(
                "manual:{}:{}",
                flow.id,
                key.map_or_else(ghl_store::new_id, str::to_owned)
            ),
            source: "manual".into(),
            event_type: "manual".into(),
            location_id: None,
            payload: trigger,
        };
        Ok(self.store.ingest(&event, &[flow.id], None).await?)
    }
}
