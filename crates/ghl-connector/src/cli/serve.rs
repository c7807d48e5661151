//! `ghl-connector serve`: webhook ingress, workers, the REST API, health and metrics.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ghl_engine::apps::highlevel::verify::{TrustedKeys, HIGHLEVEL_ED25519_KEY};
use ghl_engine::apps::highlevel::HighLevel;
use ghl_engine::{Apps, EngineConfig};
use ghl_server::ServerConfig;
use ghl_service::Service;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (`0.0.0.0` to be reached from other machines).
    #[arg(long, env = "GHL_CONNECTOR_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port of webhooks, the API, /healthz and /metrics; 0 picks a free one.
    #[arg(long, env = "GHL_CONNECTOR_PORT", default_value_t = 8080)]
    port: u16,
    /// Bearer token of the REST API.
    #[arg(long, env = "GHL_CONNECTOR_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Workers executing runs.
    #[arg(long, env = "GHL_CONNECTOR_WORKERS", default_value_t = 2)]
    workers: usize,
    /// The Ed25519 key webhooks are signed with (SPKI DER, base64); HighLevel's by default.
    /// The keys of sandboxes connected with `connect highlevel --base-url` are trusted too.
    #[arg(long, env = "GHL_CONNECTOR_WEBHOOK_ED25519_KEY", default_value = HIGHLEVEL_ED25519_KEY)]
    webhook_ed25519_key: String,
    /// Seconds a claimed run stays its worker's without a heartbeat (a killed worker's runs
    /// are taken over after this).
    #[arg(long, env = "GHL_CONNECTOR_RUN_LEASE_SECS", default_value_t = 30)]
    run_lease_secs: u64,
    /// Runs of one flow for one record within a minute beyond which the flow is paused as a
    /// runaway (a flow that triggers itself).
    #[arg(long, env = "GHL_CONNECTOR_RUNAWAY_RUNS_PER_MINUTE", default_value_t = ghl_engine::DEFAULT_RUNAWAY_LIMIT, value_parser = clap::value_parser!(u32).range(1..))]
    runaway_runs_per_minute: u32,
    /// A PEM file with the RSA key of legacy `x-wh-signature` webhooks.
    #[arg(long, env = "GHL_CONNECTOR_WEBHOOK_RSA_PEM_FILE")]
    webhook_rsa_pem_file: Option<std::path::PathBuf>,
}

pub async fn run(args: ServeArgs, store: &StoreArgs) -> anyhow::Result<()> {
    if args.admin_token.len() < 16 {
        anyhow::bail!("--admin-token must be at least 16 characters");
    }
    let rsa = args
        .webhook_rsa_pem_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let keys = TrustedKeys::new(Some(&args.webhook_ed25519_key), rsa.as_deref())
        .map_err(anyhow::Error::msg)?;
    if args.run_lease_secs < 3 {
        anyhow::bail!("--run-lease-secs must be at least 3");
    }
    let engine = EngineConfig {
        apps: with_webhook_keys(keys),
        backoff: ghl_client::Backoff::new(
            Duration::from_secs(2),
            ghl_engine::runner::RUN_BACKOFF.max,
        ),
        lease: Duration::from_secs(args.run_lease_secs),
        ..EngineConfig::default()
    };
    let service = Service::open(store.open().await?, engine).await?;
    service.engine().set_runaway_limit(args.runaway_runs_per_minute);
    let address = format!("{}:{}", args.host, args.port);
    let listener =
        TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
    eprintln!("ghl-connector serving on http://{} (webhooks: /webhooks/highlevel, API: /api, metrics: /metrics)", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new work; runs in progress finish");
        stop.cancel();
    });
    let config = ServerConfig {
        admin_token: args.admin_token,
        workers: args.workers,
        worker_idle: Duration::from_millis(200),
    };
    ghl_server::serve(service, config, listener, shutdown).await?;
    Ok(())
}

/// The built-in apps, HighLevel's webhooks verified with `keys` (and those learned with
/// connections).
pub(super) fn with_webhook_keys(keys: TrustedKeys) -> Apps {
    Apps::builtin().with(std::sync::Arc::new(HighLevel::default().with_webhook_keys(keys)))
}

/// Ctrl-C, or SIGTERM (what `docker stop` and systemd send).
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
