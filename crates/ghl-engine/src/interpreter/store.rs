//! The store's recorder, for real runs: every step is recorded (masked) with its input,
//! request, response, duration and error. A step that writes records its result as an
//! effect in the same transaction as the step, keyed by (run, step): a retried run finds it
//! and does not write again. A write records its intent (and what it is about to change, to
//! recognise its echo) before it is sent; on a later attempt it repeats the first recorded
//! request, and after a crash between sending a create and recording it, the create is
//! looked up before it is sent again (the client's recovery), so nothing is created twice.

use std::time::Duration;

use ghl_store::{ClaimedRun, OwnWrite, StepRecord, StepStatus, Store, Timestamp};
use serde_json::{json, Value};

use super::{Delay, Recorder, Sending, StepResult, Trace};
use crate::catalog::Action;
use crate::flow::Step;
use crate::mask::Masker;
use crate::metrics::EngineMetrics;
use crate::steps::{Request, StepError};
use crate::worker::Claim;

pub(crate) struct StoreRecorder<'a> {
    store: &'a Store,
    masker: &'a Masker,
    metrics: &'a EngineMetrics,
    run: &'a ClaimedRun,
    /// The worker's claim on the run: a write is sent only while it surely holds.
    claim: &'a Claim,
}

impl<'a> StoreRecorder<'a> {
    pub fn new(
        store: &'a Store,
        masker: &'a Masker,
        metrics: &'a EngineMetrics,
        run: &'a ClaimedRun,
        claim: &'a Claim,
    ) -> Self {
        Self { store, masker, metrics, run, claim }
    }

    /// The key of a step's effect: the run and the step's place in the flow.
    fn effect_key(&self, index: usize) -> String {
        format!("{}:{index}", self.run.id)
    }

    fn step_record(&self, trace: &Trace) -> StepRecord {
        StepRecord {
            run_id: self.run.id.clone(),
            attempt: self.run.attempt,
            step_index: trace.index as i32,
            name: trace.name.clone(),
            status: trace.status,
            input: trace.input.clone(),
            request: trace.request.clone(),
            response: trace.response.clone(),
            error: None,
            duration_ms: trace.started.elapsed().as_millis() as i64,
        }
    }

    /// Records a step that ended with `output` (and the effect it applied, and what it
    /// changed, in the same transaction).
    async fn finish(
        &self,
        trace: &Trace,
        output: &Value,
        effect_key: Option<&str>,
        writes: &[OwnWrite],
    ) -> Result<(), ghl_store::Error> {
        let record = StepRecord { response: Some(output.clone()), ..self.step_record(trace) };
        self.record(&record, effect_key.map(|key| (key, output)), writes).await
    }

    /// The one way a step reaches the store: every field masked first, the effect's result
    /// and what it changed too.
    async fn record(
        &self,
        record: &StepRecord,
        effect: Option<(&str, &Value)>,
        writes: &[OwnWrite],
    ) -> Result<(), ghl_store::Error> {
        let masker = self.masker;
        let masked = StepRecord {
            input: record.input.as_ref().map(|value| masker.value(value)),
            request: record.request.as_ref().map(|value| masker.value(value)),
            response: record.response.as_ref().map(|value| masker.value(value)),
            error: record.error.as_deref().map(|error| masker.text(error)),
            ..record.clone()
        };
        let result = effect.map(|(key, result)| (key, masker.value(result)));
        let writes: Vec<OwnWrite> = writes
            .iter()
            .map(|write| OwnWrite { record: masker.value(&write.record), ..write.clone() })
            .collect();
        self.store
            .record_write(&masked, result.as_ref().map(|(key, result)| (*key, result)), &writes)
            .await
    }
}

impl Recorder for StoreRecorder<'_> {
    type Error = ghl_store::Error;

    fn run_label(&self) -> &str {
        self.run.id.as_str()
    }

    async fn applied(
        &mut self,
        step: &Step,
        trace: &mut Trace,
    ) -> Result<Option<StepResult>, Self::Error> {
        let Some(result) = self.store.effect(&self.effect_key(trace.index)).await? else {
            return Ok(None);
        };
        if let Some(until) = still_waiting(step, &result) {
            return Ok(Some(StepResult::Wait(until)));
        }
        // Applied on an earlier attempt: not again.
        trace.status = StepStatus::AlreadyApplied;
        self.finish(trace, &result, None, &[]).await?;
        Ok(Some(StepResult::Output(result)))
    }

    fn idempotency_key(&self, index: usize) -> Option<String> {
        Some(self.effect_key(index))
    }

    async fn done(&mut self, trace: &Trace, output: &Value) -> Result<(), Self::Error> {
        self.finish(trace, output, None, &[]).await
    }

    async fn delay(&mut self, trace: &mut Trace, until: Timestamp) -> Result<Delay, Self::Error> {
        // The time to wait until is an effect: a retry or resumption keeps it.
        let result = json!({ "until": until.to_rfc3339() });
        trace.status = StepStatus::Waiting;
        self.finish(trace, &result, Some(&self.effect_key(trace.index)), &[]).await?;
        Ok(Delay::Wait)
    }

    async fn stopped(&mut self, trace: &mut Trace) -> Result<(), Self::Error> {
        trace.status = StepStatus::Stopped;
        self.finish(trace, &Value::Null, None, &[]).await
    }

    async fn failed(&mut self, trace: &mut Trace, error: &StepError) -> Result<(), Self::Error> {
        trace.status = if error.refused {
            StepStatus::Refused
        } else if error.outcome_unknown {
            StepStatus::Unknown
        } else {
            StepStatus::Failed
        };
        let record = StepRecord { error: Some(error.message.clone()), ..self.step_record(trace) };
        self.record(&record, None, &[]).await
    }

    async fn before_send(
        &mut self,
        trace: &mut Trace,
        step: &Step,
        mut request: Request,
    ) -> Result<(Request, Sending), Self::Error> {
        let writes = step.entry.writes;
        if writes && !self.claim.holds() {
            return Err(ghl_store::Error::ClaimLost(self.run.id.clone()));
        }
        // An earlier attempt whose outcome is unknown is repeated as it was; after a
        // definitive refusal (or none) the request is the one evaluated now.
        let mut unknown_outcome = false;
        if writes && self.run.attempt > 1 {
            let index = trace.index as i32;
            if let Some(earlier) = self.store.first_request(&self.run.id, index).await? {
                request = request.repeat(&earlier);
                unknown_outcome = true;
            }
        }
        trace.request = Some(request.describe());
        if unknown_outcome {
            if let Some(held) = request.held() {
                return Ok((request, Sending::Failed(held)));
            }
        }
        if writes && !unknown_outcome {
            // A write that cannot be repeated waits for its budget before its intent is
            // recorded: a crash during the wait would otherwise hold a message never sent.
            if let Err(error) = request.reserve().await {
                return Ok((request, Sending::Failed(error)));
            }
        }
        if writes {
            // What it is about to change, too: its echo may come before its answer.
            trace.status = StepStatus::Sending;
            let own = self.own_writes(trace.index, &request, &Value::Null);
            self.record(&self.step_record(trace), None, &own).await?;
            trace.status = StepStatus::Done;
        }
        if unknown_outcome {
            if let Some(found) = request.find_created(self.run.created_at).await {
                trace.status = StepStatus::Recovered;
                return Ok((request, Sending::Answered(found)));
            }
        }
        Ok((request, Sending::Now))
    }

    async fn answered(
        &mut self,
        trace: &Trace,
        step: &Step,
        request: &Request,
        answer: &Value,
    ) -> Result<(), Self::Error> {
        if !step.entry.writes {
            return self.finish(trace, answer, None, &[]).await;
        }
        let key = self.effect_key(trace.index);
        let own = self.own_writes(trace.index, request, answer);
        self.finish(trace, answer, Some(&key), &own).await
    }

    async fn send_failed(
        &mut self,
        trace: &mut Trace,
        error: &StepError,
    ) -> Result<(), Self::Error> {
        if error.refused {
            // Nothing changed, so no echo is coming.
            self.store.forget_own_writes(&self.effect_key(trace.index)).await?;
        }
        self.failed(trace, error).await
    }

    fn measured(&self, action: &str, outcome: &str, took: Duration) {
        self.metrics.step(action, outcome, took);
    }
}

impl StoreRecorder<'_> {
    /// What an app write changed, for recognising its webhook echo: the record it wrote (as
    /// its app finds it in the answer) once per event type it causes.
    fn own_writes(&self, index: usize, request: &Request, answer: &Value) -> Vec<OwnWrite> {
        let Request::App { app, operation, params, .. } = request else { return Vec::new() };
        let events = &operation.causes;
        if events.is_empty() {
            return Vec::new();
        }
        let record = app.written_record(answer);
        // The record's own id, else the most specific id in the path
        // (`/contacts/{contactId}/tags`).
        let record_id = record["id"].as_str().map(str::to_owned).or_else(|| {
            operation.path.params().iter().rev().find_map(|name| {
                params.iter().find(|(param, _)| param == name).map(|(_, value)| value.clone())
            })
        });
        let Some(record_id) = record_id else { return Vec::new() };
        let effect_key = self.effect_key(index);
        events
            .iter()
            .map(|event| OwnWrite {
                effect_key: effect_key.clone(),
                flow_id: self.run.flow_id.clone(),
                record_id: record_id.clone(),
                event_type: event.clone(),
                record: record.clone(),
            })
            .collect()
    }
}

/// The time a delay step still waits until, if it has not come yet.
fn still_waiting(step: &Step, result: &Value) -> Option<Timestamp> {
    if step.action != Action::Delay {
        return None;
    }
    let until = chrono::DateTime::parse_from_rfc3339(result["until"].as_str()?).ok()?;
    Some(Timestamp::from(until.to_utc())).filter(|until| *until > Timestamp::now())
}
