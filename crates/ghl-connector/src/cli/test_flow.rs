//! `ghl-connector test FLOW --sample FILE | --contact ID [--dry-run]`: run a flow step by step
//! on a sample record against the real connections, and show each step's input, request and
//! response. Nothing is recorded; with `--dry-run` no write is sent.

use anyhow::{bail, Context};
use clap::Args;
use ghl_service::flows::{FlowToTest, TestMode, TriggerRecord};
use ghl_service::ServiceError;

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A flow file, or the name of an applied flow.
    flow: String,
    /// A JSON file with the trigger record (e.g. a ContactCreate webhook body).
    #[arg(long, conflicts_with = "contact")]
    sample: Option<std::path::PathBuf>,
    /// A record id (HighLevel: a contact id): the record, read through the flow's first
    /// connection, is the trigger.
    #[arg(long, alias = "record")]
    contact: Option<String>,
    /// Show the writes without sending them.
    #[arg(long)]
    dry_run: bool,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: TestArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let service = store.service().await?;
    let file = std::path::Path::new(&args.flow);
    let flow = match file.is_file() {
        true => FlowToTest::File(
            super::flows::read_bounded(file, ghl_engine::document_bounds::MAX_FLOW_BYTES)
                .with_context(|| args.flow.clone())?,
        ),
        false => FlowToTest::Applied(args.flow.clone()),
    };
    let trigger = match (&args.sample, &args.contact) {
        (Some(path), _) => TriggerRecord::Given(super::flows::read_sample(path)?),
        (None, Some(id)) => TriggerRecord::Read { id: id.clone() },
        (None, None) => bail!("give a sample: --sample FILE or --contact ID"),
    };
    let mode = if args.dry_run { TestMode::DryRun } else { TestMode::Real };
    let reports = match service.flows().test(flow, trigger, mode).await {
        Ok(reports) => reports,
        Err(ServiceError::NoFlow(_)) => {
            bail!("no flow file or applied flow `{}`", args.flow)
        }
        Err(err @ (ServiceError::InvalidFlow(_) | ServiceError::BrokenFlow(_))) => {
            bail!("{}: {err}", args.flow)
        }
        Err(err) => return Err(err.into()),
    };
    if args.json {
        say!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for (index, report) in reports.iter().enumerate() {
            say!("step {} `{}`: {}", index + 1, report.name, report.status);
            for (label, value) in [
                ("input", &report.input),
                ("request", &report.request),
                ("response", &report.response),
            ] {
                if let Some(value) = value {
                    say!("  {label}: {}", serde_json::to_string(value)?);
                }
            }
            if let Some(error) = &report.error {
                say!("  error: {error}");
            }
            if let Some(remedy) = &report.remedy {
                say!("  to fix it: {}", super::remedy::say(remedy));
            }
        }
    }
    if reports.iter().any(|report| report.error.is_some()) {
        bail!("a step failed");
    }
    Ok(())
}
