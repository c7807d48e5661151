//! The commands of `ghl-connector`.

mod api;
mod sandbox;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ghl-connector",
    version,
    about = "A self-hosted app connector for the HighLevel Contacts API"
)]
pub struct Cli {
    /// Log more (repeat for more still); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the local HighLevel sandbox; prints one JSON line with its addresses and credentials.
    Sandbox(sandbox::SandboxArgs),
    /// Call any HighLevel API operation by its operationId; JSON on stdout.
    Api(api::ApiArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Api(args) => api::run(args).await,
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GHL_CONNECTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
