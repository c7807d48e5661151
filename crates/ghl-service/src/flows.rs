//! Flows: apply a flow file, list, show, enable, disable and delete flows, test one on a
//! trigger record (nothing recorded) and run one now (recorded like any run). Flows are parsed
//! with the engine's apps, off the async runtime.

use std::sync::Arc;

use ghl_engine::flow::Flow;
pub use ghl_engine::Applied;
use ghl_engine::{Engine, StepReport};
pub use ghl_store::{FlowRecord, FlowStatus};
use ghl_store::{IngestOutcome, Store};
use serde_json::Value;

use crate::ServiceError;

/// The flow use cases (`Service::flows`).
pub struct Flows<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a Arc<Engine>,
}

/// The flow a test runs: an applied one, by name, or a flow file not applied.
#[derive(Debug, Clone)]
pub enum FlowToTest {
    Applied(String),
    File(String),
}

/// The record that plays a test's trigger: given, or read through the flow's first
/// connection by its id (HighLevel: a contact id).
#[derive(Debug, Clone)]
pub enum TriggerRecord {
    Given(Value),
    Read { id: String },
}

/// Whether a test sends its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestMode {
    /// Every step as a real run would do it, nothing recorded.
    Real,
    /// The writes are shown, not sent.
    DryRun,
}

/// What a manual run did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunNow {
    /// Queued: the runs' ids.
    Queued(Vec<ghl_store::RunId>),
    /// This key ran before; nothing more runs.
    AlreadyRun,
}

impl Flows<'_> {
    /// Checks a flow file and stores it, enabled (see `Engine::apply_flow`).
    pub async fn apply(&self, text: &str) -> Result<Applied, ServiceError> {
        Ok(self.engine.apply_flow(text).await?)
    }

    /// Parses a flow file with the engine's apps, without storing it.
    pub async fn parse(&self, text: String) -> Result<Flow, ServiceError> {
        Flow::parse_off_runtime_with(text, self.engine.apps().clone())
            .await
            .map_err(ServiceError::InvalidFlow)
    }

    pub async fn list(&self) -> Result<Vec<FlowRecord>, ServiceError> {
        Ok(self.store.flows().await?)
    }

    pub async fn show(&self, name: &str) -> Result<FlowRecord, ServiceError> {
        self.store.flow(name).await?.ok_or_else(|| ServiceError::NoFlow(name.into()))
    }

    pub async fn enable(&self, name: &str) -> Result<(), ServiceError> {
        self.set_enabled(name, true).await
    }

    pub async fn disable(&self, name: &str) -> Result<(), ServiceError> {
        self.set_enabled(name, false).await
    }

    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), ServiceError> {
        match self.store.set_flow_enabled(name, enabled).await? {
            true => Ok(()),
            false => Err(ServiceError::NoFlow(name.into())),
        }
    }

    pub async fn delete(&self, name: &str) -> Result<(), ServiceError> {
        match self.store.delete_flow(name).await? {
            true => Ok(()),
            false => Err(ServiceError::NoFlow(name.into())),
        }
    }

    /// Runs a flow step by step on a trigger record against the real connections; nothing is
    /// recorded, and in a dry run no write is sent.
    pub async fn test(
        &self,
        flow: FlowToTest,
        trigger: TriggerRecord,
        mode: TestMode,
    ) -> Result<Vec<StepReport>, ServiceError> {
        let apps = self.engine.apps().clone();
        let flow = match flow {
            FlowToTest::Applied(name) => {
                let record = self.show(&name).await?;
                Flow::parse_off_runtime_with(record.definition, apps)
                    .await
                    .map_err(ServiceError::BrokenFlow)?
            }
            FlowToTest::File(text) => {
                Flow::parse_off_runtime_with(text, apps).await.map_err(ServiceError::InvalidFlow)?
            }
        };
        let trigger = match trigger {
            TriggerRecord::Given(record) => record,
            TriggerRecord::Read { id } => self.read_trigger(&flow, &id).await?,
        };
        Ok(self.engine.test_flow(&flow, trigger, mode == TestMode::DryRun).await)
    }

    /// A record read through the flow's first connection, typed as the flow's event.
    async fn read_trigger(&self, flow: &Flow, id: &str) -> Result<Value, ServiceError> {
        let connection = flow.connections().first().map(|name| name.to_string());
        let connection = connection.ok_or(ServiceError::NothingToRead)?;
        let client = self.engine.connections().client(&connection).await?;
        let mut record = client.record(id).await.map_err(ServiceError::Read)?;
        if let (Value::Object(fields), Some(event)) = (&mut record, flow.event()) {
            fields.insert("type".into(), event.into());
        }
        Ok(record)
    }

    /// Queues a run of a flow on a trigger record, recorded like any run; the same `key` runs
    /// once (a random one when none is given).
    pub async fn run_now(
        &self,
        name: &str,
        trigger: Value,
        key: Option<&str>,
    ) -> Result<RunNow, ServiceError> {
        match self.engine.run_now(name, trigger, key).await? {
            IngestOutcome::Stored { run_ids, .. } => Ok(RunNow::Queued(run_ids)),
            IngestOutcome::Duplicate => Ok(RunNow::AlreadyRun),
        }
    }
}
