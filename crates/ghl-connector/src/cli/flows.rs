//! `ghl-connector flows ...` and `catalog`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use ghl_service::flows::RunNow;
use ghl_service::Service;

use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Check flow files and store them (each replaces the flow of its name). A folder stands
    /// for its `*.yaml` and `*.yml` files, as `flows export` writes them.
    Apply {
        /// Flow files (YAML), or folders of them.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Every flow: enabled, disabled or paused (and why), and why it is broken when it cannot
    /// be loaded.
    List,
    /// Print a flow's file as stored (and on stderr why it is broken, if it is).
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
        FlowsCommand::Apply { files } => apply(&files, store).await?,
        FlowsCommand::List => {
            for flow in store.service().await?.flows().list().await? {
                let paused = flow.paused_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                match &flow.broken {
                    Some(reason) => say!("{:<32} {:<8} broken: {reason}", flow.name, flow.status),
                    None => say!("{:<32} {}{paused}", flow.name, flow.status),
                }
            }
        }
        FlowsCommand::Show { name } => {
            let flow = store.service().await?.flows().show(&name).await?;
            if let Some(reason) = &flow.paused_reason {
                say!("# paused: {reason}");
                say!("# resume it with `ghl-connector flows enable {name}`");
            }
            if let Some(reason) = &flow.broken {
                eprintln!("this flow is broken and skipped: {reason}");
            }
            print!("{}", flow.definition);
        }
        FlowsCommand::Export { dir } => export(&dir, store).await?,
        FlowsCommand::Enable { name } => toggle(store, &name, true).await?,
        FlowsCommand::Disable { name } => toggle(store, &name, false).await?,
        FlowsCommand::Delete { name } => {
            store.service().await?.flows().delete(&name).await?;
            say!("deleted `{name}`");
        }
        FlowsCommand::Run { name, sample, key } => {
            let trigger = read_sample(&sample)?;
            let service = store.service().await?;
            match service.flows().run_now(&name, trigger, key.as_deref()).await? {
                RunNow::Queued(run_ids) => {
                    let run_ids: Vec<&str> = run_ids.iter().map(|id| id.as_str()).collect();
                    say!("queued run {} (`ghl-connector runs show` it)", run_ids.join(", "));
                    if !service.runs().executed().await? {
                        say!("queued; no server is running against this store: start `ghl-connector serve` to execute it");
                    }
                }
                RunNow::AlreadyRun => say!("already run with this --key"),
            }
        }
    }
    Ok(())
}

/// Applies each file (a folder: its YAML files, in name order); one refused file does not stop
/// the others, and the command fails if any was refused.
async fn apply(paths: &[PathBuf], store: &StoreArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read the folder {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| {
                    file.is_file()
                        && file.extension().is_some_and(|ext| ext == "yaml" || ext == "yml")
                })
                .collect();
            if found.is_empty() {
                bail!("{} holds no .yaml or .yml file", path.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let service = store.service().await?;
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    let mut refused = 0;
    for file in &files {
        match apply_file(&service, file, &mut names).await {
            Ok(name) => say!("applied {} ({name})", file.display()),
            Err(err) => {
                refused += 1;
                eprintln!("{}: {err:#}", file.display());
                if let Some(remedy) = super::remedy::of(&err) {
                    eprintln!("  to fix it: {}", super::remedy::say(&remedy));
                }
            }
        }
    }
    if refused > 0 {
        bail!("{refused} of {} flow files refused; the others were applied", files.len());
    }
    Ok(())
}

/// Applies one file; `names` are the flows applied so far in this command, so that two files
/// with one name do not silently replace each other.
async fn apply_file(
    service: &Service,
    file: &Path,
    names: &mut HashMap<String, PathBuf>,
) -> anyhow::Result<String> {
    let text = read_bounded(file, ghl_engine::document_bounds::MAX_FLOW_BYTES)?;
    let flow = service.flows().parse(text.clone()).await?;
    let name = flow.spec.name.clone();
    if let Some(earlier) = names.get(&name) {
        bail!("the flow `{name}` is also in {}; flow names are unique", earlier.display());
    }
    let applied = service.flows().apply(&text).await?;
    for warning in &applied.warnings {
        eprintln!("warning: {}: {warning}", file.display());
    }
    names.insert(name.clone(), file.to_owned());
    Ok(name)
}

/// A sample record (`--sample FILE`): JSON, bounded in size before it is read and in depth.
pub(super) fn read_sample(file: &Path) -> anyhow::Result<serde_json::Value> {
    let text = read_bounded(file, ghl_engine::document_bounds::MAX_SAMPLE_BYTES)
        .with_context(|| format!("{}", file.display()))?;
    ghl_engine::document_bounds::parse_json_sample(&text)
        .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))
}

/// A text file, refused when larger than `limit` bytes (before it is read whole).
pub(super) fn read_bounded(file: &Path, limit: usize) -> anyhow::Result<String> {
    let size =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if size.len() > limit as u64 {
        bail!("the file is {} bytes; at most {limit} are allowed", size.len());
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Writes every flow to `DIR/<name>.yaml`; a flow that cannot be written is reported and the
/// others are still written.
async fn export(dir: &Path, store: &StoreArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut failed = 0;
    let flows = store.service().await?.flows().list().await?;
    let mut taken = std::collections::HashSet::new();
    for flow in &flows {
        let base = file_name(&flow.name);
        let stem = (1..)
            .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
            .find(|stem| taken.insert(stem.clone()))
            .unwrap_or(base);
        let path = dir.join(format!("{stem}.yaml"));
        match std::fs::write(&path, &flow.definition) {
            Ok(()) => say!("{}", path.display()),
            Err(err) => {
                failed += 1;
                eprintln!("flow `{}`: cannot write {}: {err}", flow.name, path.display());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} flows could not be written; the others were", flows.len());
    }
    Ok(())
}

/// A flow's file name: its name (letters, digits, `-`, `_`, `.` since names are checked),
/// with anything else (names stored before the check) replaced, and cut to 100 characters.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .take(ghl_engine::flow::MAX_NAME_LENGTH)
        .collect();
    match safe.trim_start_matches('.') {
        "" => "_".into(),
        safe => safe.into(),
    }
}

async fn toggle(store: &StoreArgs, name: &str, enabled: bool) -> anyhow::Result<()> {
    let service = store.service().await?;
    match enabled {
        true => service.flows().enable(name).await?,
        false => service.flows().disable(name).await?,
    }
    say!("{} `{name}`", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

/// The catalog of the built-in apps and, with a store, of the apps added to it.
pub async fn catalog(
    app: Option<&str>,
    json: bool,
    store: Option<&StoreArgs>,
) -> anyhow::Result<()> {
    let service = match store {
        Some(store) => Some(store.service().await?),
        None => None,
    };
    let builtin = ghl_engine::Apps::builtin();
    let apps = service.as_ref().map_or(&builtin, |service| service.engine_apps());
    let catalog = match app {
        Some(app) => ghl_service::catalog::Catalog::of_app(apps, app)?,
        None => ghl_service::catalog::Catalog::of(apps),
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&catalog)?);
        return Ok(());
    }
    let ghl_service::catalog::Catalog { actions, triggers } = catalog;
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
        let fields = match action.any_input {
            true => "any fields (the body)".to_owned(),
            false => fields.join(", "),
        };
        say!("  {:<44} {fields}", action.action);
        if !action.output.is_empty() {
            say!("  {:<44}   -> {}", "", action.output.join(", "));
        }
    }
    Ok(())
}
