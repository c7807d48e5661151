//! `ghl-connector connect highlevel` and `ghl-connector connections list | test | remove`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The app to connect: `highlevel`.
    app: String,
    /// A private integration token of the location.
    #[arg(long, env = "GHL_CONNECTOR_TOKEN", hide_env_values = true)]
    private_token: String,
    /// The location (sub-account) the token belongs to.
    #[arg(long)]
    location_id: String,
    /// The API address (a sandbox's base_url to try things offline).
    #[arg(long, default_value = ghl_types::PRODUCTION_BASE_URL)]
    base_url: url::Url,
    /// The connection's name, as flows refer to it.
    #[arg(long, default_value = "highlevel")]
    name: String,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List connections (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check a connection with a harmless read.
    Test { name: String },
    /// Remove a connection and its secrets.
    Remove { name: String },
}

pub async fn connect(args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    if args.app != "highlevel" {
        bail!("unknown app `{}`: `highlevel` is the one app so far", args.app);
    }
    let store = store.open().await?;
    let base_url = args.base_url.to_string();
    ghl_engine::connections::save_private_token(
        &store,
        &args.name,
        &base_url,
        &args.location_id,
        &args.private_token,
    )
    .await?;
    let engine = ghl_engine::Engine::new(store);
    check(&engine, &args.name).await?;
    println!("connected `{}` to HighLevel location {}", args.name, args.location_id);
    Ok(())
}

/// The side-effect-free check behind `connections test`: one small read.
async fn check(engine: &ghl_engine::Engine, name: &str) -> anyhow::Result<()> {
    let client = engine.connections().client(name).await?;
    client
        .list_contacts(&[("limit", "1")])
        .await
        .with_context(|| format!("connection `{name}` does not work"))?;
    Ok(())
}

pub async fn connections(command: ConnectionsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        ConnectionsCommand::List { json } => {
            let connections = store.open().await?.connections().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&connections)?);
            } else {
                for c in connections {
                    let reason = c.status_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    println!(
                        "{:<20} {:<10} {:<24} {}{reason}",
                        c.name,
                        c.app,
                        c.location_id.unwrap_or_default(),
                        c.status
                    );
                }
            }
        }
        ConnectionsCommand::Test { name } => {
            let engine = ghl_engine::Engine::new(store.open().await?);
            check(&engine, &name).await?;
            println!("connection `{name}` works");
        }
        ConnectionsCommand::Remove { name } => {
            if !store.open().await?.remove_connection(&name).await? {
                bail!("no connection named `{name}`");
            }
            println!("removed `{name}`");
        }
    }
    Ok(())
}
