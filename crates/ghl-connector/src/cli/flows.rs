//! `ghl-connector flows ...` and `catalog`.

use anyhow::{bail, Context};
use clap::Subcommand;

use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Check a flow file and store it (replacing the flow of that name).
    Apply {
        /// The flow file (YAML).
        file: std::path::PathBuf,
    },
    /// List the flows with whether they are enabled.
    List,
    /// Print a flow's file as stored.
    Show {
        /// The flow's name.
        name: String,
    },
    /// Write every flow to `DIR/<name>.yaml`, as applied (to keep them in git).
    Export {
        /// The folder to write to (created if missing).
        dir: std::path::PathBuf,
    },
    /// Let a flow's trigger start runs again.
    Enable {
        /// The flow's name.
        name: String,
    },
    /// Stop a flow's trigger from starting runs (its runs in the queue still run).
    Disable {
        /// The flow's name.
        name: String,
    },
    /// Remove a flow.
    Delete {
        /// The flow's name.
        name: String,
    },
    /// Run a flow now on a sample record (JSON file), as its trigger would; `serve` executes
    /// the run. The same `--key` runs once.
    Run {
        /// The flow's name.
        name: String,
        /// A JSON file with the trigger record (e.g. a ContactCreate webhook body).
        #[arg(long)]
        sample: std::path::PathBuf,
        /// What makes two manual runs the same: a key runs once (random when not given).
        #[arg(long)]
        key: Option<String>,
    },
}

pub async fn flows(command: FlowsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        FlowsCommand::Apply { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let engine = ghl_engine::Engine::new(store.open().await?);
            let applied = engine
                .apply_flow(&text)
                .await
                .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))?;
            for warning in &applied.warnings {
                eprintln!("warning: {}: {warning}", file.display());
            }
            say!("applied {}", file.display());
        }
        FlowsCommand::List => {
            for flow in store.open().await?.flows().await? {
                let reason = flow.paused_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                say!("{:<32} {}{reason}", flow.name, flow.status);
            }
        }
        FlowsCommand::Show { name } => {
            let flow = store
                .open()
                .await?
                .flow(&name)
                .await?
                .with_context(|| format!("no flow named `{name}`"))?;
            if let Some(reason) = &flow.paused_reason {
                say!("# paused: {reason}");
            }
            print!("{}", flow.definition);
        }
        FlowsCommand::Export { dir } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for flow in store.open().await?.flows().await? {
                let safe: String = flow
                    .name
                    .chars()
                    .map(
                        |c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' },
                    )
                    .collect();
                let path = dir.join(format!("{safe}.yaml"));
                std::fs::write(&path, &flow.definition)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                say!("{}", path.display());
            }
        }
        FlowsCommand::Enable { name } => toggle(store, &name, true).await?,
        FlowsCommand::Disable { name } => toggle(store, &name, false).await?,
        FlowsCommand::Delete { name } => {
            if !store.open().await?.delete_flow(&name).await? {
                bail!("no flow named `{name}`");
            }
            say!("deleted `{name}`");
        }
        FlowsCommand::Run { name, sample, key } => {
            let text = std::fs::read_to_string(&sample)
                .with_context(|| format!("cannot read {}", sample.display()))?;
            let trigger = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", sample.display()))?;
            let engine = ghl_engine::Engine::new(store.open().await?);
            match engine.run_now(&name, trigger, key.as_deref()).await? {
                ghl_store::IngestOutcome::Stored { run_ids, .. } => {
                    say!("queued run {} (`ghl-connector runs show` it)", run_ids.join(", "));
                    let live = engine.store().live_workers(ghl_store::HEARTBEAT_FRESH).await?;
                    if live == 0 {
                        say!("queued; no server is running against this store: start `ghl-connector serve` to execute it");
                    }
                }
                ghl_store::IngestOutcome::Duplicate => say!("already run with this --key"),
            }
        }
    }
    Ok(())
}

async fn toggle(store: &StoreArgs, name: &str, enabled: bool) -> anyhow::Result<()> {
    if !store.open().await?.set_flow_enabled(name, enabled).await? {
        bail!("no flow named `{name}`");
    }
    say!("{} `{name}`", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

pub fn catalog(json: bool) -> anyhow::Result<()> {
    let actions = ghl_engine::catalog::actions();
    let triggers = ghl_engine::catalog::triggers();
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "actions": actions, "triggers": triggers })
            )?
        );
        return Ok(());
    }
    say!("Triggers (and the fields of .trigger):");
    for trigger in triggers {
        say!("  {:<34} {}", trigger.trigger, trigger.summary);
        if !trigger.output.is_empty() {
            say!("  {:<34}   -> {}", "", trigger.output.join(", "));
        }
    }
    say!("Actions (input fields, * required; -> output fields):");
    for action in actions {
        let fields: Vec<String> =
            action
                .input
                .iter()
                .map(|field| {
                    if action.required.contains(field) {
                        format!("{field}*")
                    } else {
                        field.clone()
                    }
                })
                .collect();
        say!("  {:<44} {}", action.action, fields.join(", "));
        if !action.output.is_empty() {
            say!("  {:<44}   -> {}", "", action.output.join(", "));
        }
    }
    Ok(())
}
