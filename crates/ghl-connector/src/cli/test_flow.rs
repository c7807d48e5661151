//! `ghl-connector test FLOW --sample FILE | --contact ID [--dry-run]`: run a flow step by step
//! on a sample record against the real connections, and show each step's input, request and
//! response. Nothing is recorded; with `--dry-run` no write is sent.

use anyhow::{bail, Context};
use clap::Args;
use ghl_engine::flow::Flow;
use serde_json::Value;

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
    let engine = ghl_engine::Engine::new(store.open().await?);
    let file = std::path::Path::new(&args.flow);
    let text = match file.is_file() {
        true => super::flows::read_bounded(file, ghl_engine::document_bounds::MAX_FLOW_BYTES)
            .with_context(|| args.flow.clone())?,
        false => {
            engine
                .store()
                .flow(&args.flow)
                .await?
                .with_context(|| format!("no flow file or applied flow `{}`", args.flow))?
                .definition
        }
    };
    let flow = Flow::parse_with(&text, engine.apps())
        .map_err(|err| anyhow::anyhow!("{}: {err}", args.flow))?;
    let trigger: Value = match (&args.sample, &args.contact) {
        (Some(path), _) => super::flows::read_sample(path)?,
        (None, Some(id)) => {
            let connection = flow
                .connections()
                .first()
                .map(|name| name.to_string())
                .context("the flow uses no connection to read the contact with")?;
            let client = engine.connections().client(&connection).await?;
            let mut record = client.record(id).await?;
            if let (Value::Object(fields), Some(event)) = (&mut record, flow.event()) {
                fields.insert("type".into(), event.into());
            }
            record
        }
        (None, None) => bail!("give a sample: --sample FILE or --contact ID"),
    };
    let reports = engine.test_flow(&flow, trigger, args.dry_run).await;
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
