//! The flow editor's samples and live preview: a trigger's sample (the last real event of that
//! trigger stored, else its example from the catalog), and a jq mapping evaluated on a sample
//! with the engine's one mapping compiler and evaluator (`ghl_engine::flow::Mapping`), so the
//! preview shows what a run would compute.

use ghl_engine::catalog;
use ghl_engine::flow::Mapping;
use ghl_engine::Engine;
use ghl_store::{EventId, RunFilter, RunId, StepStatus, Store, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};

use crate::ServiceError;

/// The sample use cases (`Service::samples`).
pub struct Samples<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a Engine,
}

/// Where a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSource {
    /// The last event of the trigger stored.
    LastEvent,
    /// The trigger's example (its app's documents, or its catalog fields, each `null`).
    Example,
    /// Given with the request.
    Given,
}

/// A trigger's `.trigger` for the editor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerSample {
    /// The catalog's id of the trigger.
    pub trigger: String,
    pub source: SampleSource,
    pub payload: Value,
    /// The event's id and arrival, for a `last_event`.
    pub event_id: Option<EventId>,
    pub received_at: Option<Timestamp>,
}

/// What a mapping is previewed on.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewOn {
    /// `.trigger` given, and the earlier steps' outputs (`.steps`).
    Sample { trigger: Value, steps: Vec<Value> },
    /// The sample of a catalog trigger.
    Trigger(String),
    /// A step of a stored flow: the sample of its trigger, and the outputs of the steps
    /// before it in the newest run of the flow that has them all.
    Step { flow: String, step: String },
}

/// A mapping's value on a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub value: Value,
    /// Where `.trigger` came from.
    pub source: SampleSource,
    /// The run whose step outputs are `.steps` (a step's preview), if one has them.
    pub steps_from_run: Option<RunId>,
}

impl Samples<'_> {
    /// The sample of the catalog trigger `id`: its last stored event, else its example.
    pub async fn trigger(&self, id: &str) -> Result<TriggerSample, ServiceError> {
        let apps = self.engine.apps();
        let entry =
            catalog::trigger(apps, id).ok_or_else(|| ServiceError::NoTrigger(id.to_owned()))?;
        let stored = catalog::stored_as(&entry);
        Ok(match self.store.last_event(&stored.source, &stored.event_type).await? {
            Some(event) => TriggerSample {
                trigger: entry.trigger,
                source: SampleSource::LastEvent,
                payload: event.payload,
                event_id: Some(event.id),
                received_at: Some(event.received_at),
            },
            None => TriggerSample {
                source: SampleSource::Example,
                payload: catalog::example(apps, &entry),
                trigger: entry.trigger,
                event_id: None,
                received_at: None,
            },
        })
    }

    /// The value of `expression` (jq, or a text with `{{ }}`, as a flow's input field takes
    /// it) on `{trigger, steps, now}` built from `on`; an expression that is not valid jq or
    /// fails on the sample is refused with jaq's reason.
    pub async fn preview(&self, expression: &str, on: PreviewOn) -> Result<Preview, ServiceError> {
        let mapping = Mapping::compile(&Value::String(expression.to_owned()))
            .map_err(ServiceError::Mapping)?;
        let (trigger, steps, source, steps_from_run) = match on {
            PreviewOn::Sample { trigger, steps } => (trigger, steps, SampleSource::Given, None),
            PreviewOn::Trigger(id) => {
                let sample = self.trigger(&id).await?;
                (sample.payload, Vec::new(), sample.source, None)
            }
            PreviewOn::Step { flow, step } => self.step_context(&flow, &step).await?,
        };
        let context =
            json!({ "trigger": trigger, "steps": steps, "now": Timestamp::now().to_rfc3339() });
        let value = mapping.evaluate(&context).map_err(ServiceError::Mapping)?;
        Ok(Preview { value, source, steps_from_run })
    }

    /// The sample a step of a stored flow sees: its trigger's, and the earlier steps'
    /// outputs from the newest of the flow's last runs that recorded them all.
    async fn step_context(
        &self,
        flow: &str,
        step: &str,
    ) -> Result<(Value, Vec<Value>, SampleSource, Option<RunId>), ServiceError> {
        let record =
            self.store.flow(flow).await?.ok_or_else(|| ServiceError::NoFlow(flow.into()))?;
        let parsed = ghl_engine::flow::Flow::parse_off_runtime_with(
            record.definition,
            self.engine.apps().clone(),
        )
        .await
        .map_err(ServiceError::BrokenFlow)?;
        let names: Vec<String> = parsed.steps.iter().map(|step| step.spec.name.clone()).collect();
        let index = names.iter().position(|name| name == step).ok_or_else(|| {
            ServiceError::NoStep { flow: flow.into(), step: step.into(), steps: names.clone() }
        })?;
        let sample = self.trigger(&catalog::trigger_id(&parsed.trigger)).await?;
        let (outputs, run) = match self.step_outputs(flow, index).await? {
            Some((run, outputs)) => (outputs, Some(run)),
            None => (Vec::new(), None),
        };
        Ok((sample.payload, outputs, sample.source, run))
    }

    /// The outputs of the first `count` steps of a stored flow, from the newest of its last
    /// runs that recorded them all, with that run's id; `None` when none did.
    pub async fn step_outputs(
        &self,
        flow: &str,
        count: usize,
    ) -> Result<Option<(RunId, Vec<Value>)>, ServiceError> {
        let filter =
            RunFilter { flow: Some(flow.into()), status: None, limit: 10, ..RunFilter::default() };
        for run in self.store.runs(&filter).await? {
            if let Some(outputs) = self.outputs_before(&run.id, count).await? {
                return Ok(Some((run.id, outputs)));
            }
        }
        Ok(None)
    }

    /// The outputs of a run's steps before `index` (each step's last attempt that gave one),
    /// if it recorded them all.
    async fn outputs_before(
        &self,
        run: &RunId,
        index: usize,
    ) -> Result<Option<Vec<Value>>, ServiceError> {
        let records = self.store.steps(run).await?;
        let mut outputs = Vec::with_capacity(index);
        for step_index in 0..index {
            let output = records
                .iter()
                .rev()
                .filter(|record| usize::try_from(record.step_index).ok() == Some(step_index))
                .filter(|record| {
                    matches!(
                        record.status,
                        StepStatus::Done | StepStatus::Recovered | StepStatus::AlreadyApplied
                    )
                })
                .find_map(|record| record.response.clone());
            match output {
                Some(output) => outputs.push(output),
                None => return Ok(None),
            }
        }
        Ok(Some(outputs))
    }
}
