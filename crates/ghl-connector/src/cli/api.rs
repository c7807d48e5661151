//! `ghl-connector api <operationId>`: call any HighLevel operation from the command line,
//! through the same client the engine uses (rate budget, retries, pagination).

use std::io::Write;

use anyhow::{bail, Context};
use clap::Args;
use futures_util::StreamExt;
use ghl_client::pagination::paged_operations;
use ghl_client::{Client, ClientConfig, Credentials};
use ghl_types::operations::{Paging, Place};
use ghl_types::{Operation, OPERATIONS};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The operation, by the spec's operationId (`get-contact`, `create-task`, ...).
    #[arg(required_unless_present = "list")]
    operation: Option<String>,
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
    /// Bearer token: a private integration token or an OAuth access token.
    #[arg(long, env = "GHL_CONNECTOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Call through a stored connection (its token, location and base URL; OAuth tokens are
    /// refreshed) instead of --token.
    #[arg(long, conflicts_with = "token")]
    connection: Option<String>,
    /// The location the token speaks for; filled into `locationId` where the operation takes it.
    #[arg(long, env = "GHL_CONNECTOR_LOCATION_ID")]
    location_id: Option<String>,
    /// The API's address (a sandbox's `base_url` to try things offline).
    #[arg(long, default_value = ghl_types::PRODUCTION_BASE_URL)]
    base_url: url::Url,
    /// For list operations: follow every page and print all records as one JSON array, with
    /// the largest page the operation allows unless `limit` or `pageLimit` is given; the
    /// records so far are counted on stderr when it is a terminal.
    #[arg(long)]
    all_pages: bool,
}

pub async fn run(args: ApiArgs, store: &StoreArgs) -> anyhow::Result<()> {
    if args.list {
        return list(args.json);
    }
    let name = args.operation.as_deref().unwrap_or_default();
    let operation = Operation::find(name).with_context(|| {
        format!("unknown operation `{name}`; `ghl-connector api --list` shows them all")
    })?;
    let mut params = parse_params(&args.params)?;
    let mut body = read_body(args.body.as_deref())?;
    let (client, location) = client(&args, &params, store).await?;
    if let Some(location) = &location {
        operation.fill_tenant(location, &mut params, &mut body);
    }
    let mut out = std::io::stdout().lock();
    if args.all_pages {
        let Some(paging) = operation.paging else {
            let paged: Vec<&str> = paged_operations().map(|operation| operation.id).collect();
            bail!("--all-pages works with {}; {} has no pages", paged.join(", "), operation.id);
        };
        largest_pages(paging, &mut params, &mut body);
        let progress = ProgressBar::new_spinner();
        progress.set_style(
            ProgressStyle::with_template("{spinner} {pos} records")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        // One record at a time, so memory stays flat however many pages there are.
        let mut records = Box::pin(client.records(operation.id, params, body));
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
    let borrowed: Vec<(&str, &str)> =
        params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let answer = client.call(operation.id, &borrowed, body.as_ref()).await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    Ok(())
}

/// The client to call with, and the location it speaks for: a stored connection's, or one
/// made from `--token` and `--location-id` (or a `locationId` parameter).
async fn client(
    args: &ApiArgs,
    params: &[(String, String)],
    store: &StoreArgs,
) -> anyhow::Result<(Client, Option<String>)> {
    if let Some(name) = &args.connection {
        let store = store.open().await?;
        let summary = store.connection_summary(name).await?.with_context(|| {
            format!("no connection named `{name}` (`ghl-connector connections list`)")
        })?;
        let engine = ghl_engine::Engine::new(store);
        let client = engine.connections().client(name).await?;
        return Ok((client, args.location_id.clone().or(summary.location_id)));
    }
    let token = args.token.clone().context(
        "give --token (or GHL_CONNECTOR_TOKEN), or --connection NAME to use a stored one",
    )?;
    let location = args.location_id.clone().or_else(|| {
        params.iter().find(|(name, _)| name == "locationId").map(|(_, value)| value.clone())
    });
    let config = ClientConfig::new(
        args.base_url.clone(),
        Credentials::PrivateToken(token.into()),
        location.clone().unwrap_or_default(),
    );
    Ok((Client::new(config)?, location))
}

/// The largest page the operation allows, where the caller did not choose one: fewer
/// requests, so less of the rate budget.
fn largest_pages(paging: Paging, params: &mut Vec<(String, String)>, body: &mut Option<Value>) {
    let Paging { limit, max_limit, .. } = paging;
    match limit.place {
        Place::Path | Place::Query => {
            if !params.iter().any(|(name, _)| name == limit.name) {
                params.push((limit.name.into(), max_limit.to_string()));
            }
        }
        Place::Body => {
            if let Value::Object(fields) = body.get_or_insert_with(|| serde_json::json!({})) {
                fields.entry(limit.name).or_insert_with(|| max_limit.into());
            }
        }
    }
}

fn list(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for operation in OPERATIONS {
        if json {
            let line = serde_json::json!({
                "operation": operation.id, "method": operation.method, "path": operation.path,
                "scope": operation.scope, "summary": operation.summary, "query": operation.query,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{:<38} {:<6} {:<52} {}",
                operation.id, operation.method, operation.path, operation.summary
            )?;
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
