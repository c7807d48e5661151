//! The report's recorder, for test runs: nothing is recorded; each step's input, request,
//! response and error are collected, masked, for the author to see. In a dry run writes are
//! shown but not sent (reads are sent, so later steps see real data); delays are shown,
//! never waited.

use std::convert::Infallible;

use ghl_store::Timestamp;
use ghl_types::remedy::Remedy;
use serde_json::{json, Value};

use super::{Delay, Recorder, Sending, Trace};
use crate::flow::Step;
use crate::mask::Masker;
use crate::steps::{Request, StepError};

/// What one step of a test run did (nothing is recorded).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    pub name: String,
    /// What the step did, in words: its step status, or what a test run did instead
    /// (`would wait until ...`, `dry run: not sent`).
    pub status: String,
    pub input: Option<Value>,
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<String>,
    /// What to do about the error, for the front end to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

pub(crate) struct ReportRecorder<'a> {
    masker: &'a Masker,
    dry_run: bool,
    /// The step in hand is a dry run's write, shown and not sent.
    withheld: bool,
    reports: Vec<StepReport>,
}

impl<'a> ReportRecorder<'a> {
    pub fn new(masker: &'a Masker, dry_run: bool) -> Self {
        Self { masker, dry_run, withheld: false, reports: Vec::new() }
    }

    /// What each step did, in order.
    pub fn into_reports(self) -> Vec<StepReport> {
        self.reports
    }

    /// Reports a step as `status` says it.
    fn push(&mut self, trace: &Trace, status: String, error: Option<&StepError>) {
        let masker = self.masker;
        let shown = |value: &Option<Value>| value.as_ref().map(|value| masker.value(value));
        self.reports.push(StepReport {
            name: trace.name.clone(),
            status,
            input: shown(&trace.input),
            request: shown(&trace.request),
            response: shown(&trace.response),
            error: error.map(|error| masker.text(&error.message)),
            remedy: error.and_then(|error| error.remedy.clone()),
        });
    }
}

impl Recorder for ReportRecorder<'_> {
    type Error = Infallible;

    fn run_label(&self) -> &str {
        "test"
    }

    fn flow_filtered(&mut self, error: Option<&str>) {
        let status = match error {
            None => "stopped: the flow's filter does not hold for this trigger",
            Some(_) => "failed",
        };
        self.reports.push(StepReport {
            name: "filter".into(),
            status: status.into(),
            input: None,
            request: None,
            response: None,
            error: error.map(|error| self.masker.text(error)),
            remedy: None,
        });
    }

    async fn done(&mut self, trace: &Trace, _output: &Value) -> Result<(), Self::Error> {
        let status = if std::mem::take(&mut self.withheld) {
            "dry run: not sent".to_owned()
        } else {
            trace.status.to_string()
        };
        self.push(trace, status, None);
        Ok(())
    }

    async fn delay(&mut self, trace: &mut Trace, until: Timestamp) -> Result<Delay, Self::Error> {
        self.push(trace, format!("would wait until {until}"), None);
        Ok(Delay::Continue(json!({ "until": until.to_rfc3339() })))
    }

    async fn stopped(&mut self, trace: &mut Trace) -> Result<(), Self::Error> {
        self.push(trace, "stopped: the condition does not hold".into(), None);
        Ok(())
    }

    async fn failed(&mut self, trace: &mut Trace, error: &StepError) -> Result<(), Self::Error> {
        self.push(trace, "failed".into(), Some(error));
        Ok(())
    }

    async fn before_send(
        &mut self,
        trace: &mut Trace,
        step: &Step,
        request: Request,
    ) -> Result<(Request, Sending), Self::Error> {
        trace.request = Some(request.describe());
        if self.dry_run && step.entry.writes {
            self.withheld = true;
            return Ok((request, Sending::Withheld));
        }
        Ok((request, Sending::Now))
    }

    async fn answered(
        &mut self,
        trace: &Trace,
        _step: &Step,
        _request: &Request,
        _answer: &Value,
    ) -> Result<(), Self::Error> {
        self.push(trace, trace.status.to_string(), None);
        Ok(())
    }
}
