//! `ghl-connector api <operationId>`: call any operation of a registered app from the command
//! line, through the same client the engine uses (rate budget, retries, pagination).

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use futures_util::StreamExt;
use ghl_engine::apps::{AppClient, AppOperation, Apps, CallOptions};
use ghl_engine::connections::AuthSecret;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The operation, by the spec's operationId (`get-contact`, `create-task`, ...), or
    /// `app.operation` (`your-app.create-contact`); an id several apps have is the first
    /// registered app's (HighLevel's) unless the app is named.
    #[arg(required_unless_present = "list")]
    operation: Option<String>,
    /// The app whose operation it is (by default the connection's, or the one app that has
    /// the operation).
    #[arg(long)]
    app: Option<String>,
    /// List the operations and exit.
    #[arg(long)]
    list: bool,
    /// With --list: one JSON object per operation.
    #[arg(long, requires = "list")]
    json: bool,
    /// A path or query parameter, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// The JSON body, or `@file` to read it from a file.
    #[arg(long)]
    body: Option<String>,
    /// Bearer token: a private token (HighLevel's private integration token) or an OAuth
    /// access token.
    #[arg(long, env = "GHL_CONNECTOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Call through a stored connection (its token, account and base URL; OAuth tokens are
    /// refreshed) instead of --token.
    #[arg(long, conflicts_with = "token")]
    connection: Option<String>,
    /// The account (HighLevel's location) the token speaks for; filled into the operation
    /// where it takes it (`locationId`).
    #[arg(long, env = "GHL_CONNECTOR_LOCATION_ID")]
    location_id: Option<String>,
    /// The API's address: the app's by default (a sandbox's `base_url` to try things offline).
    #[arg(long)]
    base_url: Option<url::Url>,
    /// For list operations: follow every page and print all records as one JSON array, with
    /// the largest page the operation allows unless `limit` or `pageLimit` is given; the
    /// records so far are counted on stderr when it is a terminal.
    #[arg(long)]
    all_pages: bool,
}

pub async fn run(args: ApiArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let apps = Apps::builtin();
    if args.list {
        return list(&apps, args.app.as_deref(), args.json);
    }
    let name = args.operation.as_deref().unwrap_or_default();
    let mut params = parse_params(&args.params)?;
    let mut body = read_body(args.body.as_deref())?;
    let (operation, client) = match &args.connection {
        Some(connection) => {
            // The store's service knows the apps added to it as well.
            let service = store.service().await?;
            let (summary, client) = service.connections().client(connection).await?;
            (find_operation(service.engine().apps(), Some(&summary.app), name)?, client)
        }
        None => {
            let operation = find_operation(&apps, args.app.as_deref(), name)?;
            (operation.clone(), token_client(&apps, &args, &operation, &params)?)
        }
    };
    let operation = operation.operation;
    if client.account().is_some_and(|account| !account.is_empty()) {
        client.fill(&operation, &mut params, &mut body);
    }
    let mut out = std::io::stdout().lock();
    if args.all_pages {
        let Some(mut records) = client.records(&operation, params, body) else {
            bail!(
                "--all-pages works with {}; {} has no pages",
                client.paged_operations().join(", "),
                operation.id
            );
        };
        let progress = ProgressBar::new_spinner();
        progress.set_style(
            ProgressStyle::with_template("{spinner} {pos} records")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        // One record at a time, so memory stays flat however many pages there are.
        write!(out, "[")?;
        let mut first = true;
        while let Some(record) = records.next().await {
            let record = record?;
            write!(out, "{}{}", if first { "\n" } else { ",\n" }, serde_json::to_string(&record)?)?;
            first = false;
            progress.inc(1);
        }
        progress.finish_and_clear();
        writeln!(out, "\n]")?;
        return Ok(());
    }
    // Outside a run: no intent to repeat, so none is sent.
    let answer = client.call(&operation, &params, body.as_ref(), CallOptions::default()).await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    Ok(())
}

/// The operation `name` (`operationId` or `app.operationId`) of `app`, or of the first
/// registered app that has it.
fn find_operation(apps: &Apps, app: Option<&str>, name: &str) -> anyhow::Result<AppOperation> {
    let unknown =
        || format!("unknown operation `{name}`; `ghl-connector api --list` shows them all");
    if let Some(app) = app {
        let known = apps.require(app)?;
        let id = name.strip_prefix(&format!("{app}.")).unwrap_or(name);
        return apps.operation(&format!("{}.{id}", known.id())).with_context(unknown);
    }
    // Operation ids have no `.`: a name with one is `app.operation`.
    if let Some((app, _)) = name.split_once('.') {
        return find_operation(apps, Some(app), name);
    }
    // Several apps may have it (`create-contact`): the first registered is meant, as the
    // commands written before there were several apps meant (`app.operation` names another).
    let mut found = apps.iter().filter_map(|app| apps.operation(&format!("{}.{name}", app.id())));
    found.next().with_context(unknown)
}

/// A client of `--token` and `--location-id` (or a `locationId` parameter) for the operation's
/// app.
fn token_client(
    apps: &Apps,
    args: &ApiArgs,
    operation: &AppOperation,
    params: &[(String, String)],
) -> anyhow::Result<Arc<dyn AppClient>> {
    let app = apps.require(operation.app.as_str())?;
    let token = args.token.clone().context(
        "give --token (or GHL_CONNECTOR_TOKEN), or --connection NAME to use a stored one",
    )?;
    let account = args.location_id.clone().or_else(|| {
        params.iter().find(|(name, _)| name == "locationId").map(|(_, value)| value.clone())
    });
    let base_url = match &args.base_url {
        Some(url) => url.clone(),
        None => app.connect_info().default_base_url.parse()?,
    };
    let auth = AuthSecret::PrivateToken {
        token,
        base_url: base_url.to_string(),
        account: account.unwrap_or_default(),
    };
    // A client outside any store: nothing of it is kept.
    Ok(apps.unstored_client(operation.app.as_str(), auth)?)
}

fn list(apps: &Apps, only: Option<&str>, json: bool) -> anyhow::Result<()> {
    if let Some(app) = only {
        apps.require(app)?;
    }
    let mut out = std::io::stdout().lock();
    for app in apps.iter().filter(|app| only.is_none_or(|only| app.id() == *only)) {
        for operation in app.operations() {
            if json {
                let line = serde_json::json!({
                    "app": app.id(), "operation": operation.id,
                    "method": operation.method.as_str(), "path": operation.path.as_str(),
                    "scope": operation.scopes.join(" "), "summary": operation.summary,
                    "query": operation.query,
                });
                writeln!(out, "{line}")?;
            } else {
                writeln!(
                    out,
                    "{:<48} {:<6} {:<52} {}",
                    format!("{}.{}", app.id(), operation.id),
                    operation.method.as_str(),
                    operation.path.as_str(),
                    operation.summary
                )?;
            }
        }
    }
    Ok(())
}

fn parse_params(params: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|param| match param.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => bail!("--param must be NAME=VALUE, got `{param}`"),
        })
        .collect()
}

fn read_body(body: Option<&str>) -> anyhow::Result<Option<Value>> {
    let Some(body) = body else { return Ok(None) };
    let text = match body.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the body file {path}"))?,
        None => body.to_owned(),
    };
    let value: Value = serde_json::from_str(&text).context("--body is not valid JSON")?;
    Ok(Some(value))
}
