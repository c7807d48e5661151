//! `ghl-connector demo`: the whole product on one machine with no account. Starts the
//! HighLevel sandbox, the engine on a fresh SQLite file, connects them, applies the template
//! flow, then makes changes in the sandbox (people adding contacts) so signed webhooks flow,
//! and shows the runs completing, where the API is, and the counts.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ghl_sandbox::{Sandbox, SandboxConfig};
use ghl_server::webhook_signature::WebhookKeys;
use ghl_server::ServerConfig;
use ghl_store::{MasterKey, RunFilter, Store};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TEMPLATE_FLOW: &str = include_str!("../../../../flows/welcome.yaml");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port of the connector (webhooks, API); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Contacts people "add" in the sandbox during the demo.
    #[arg(long, default_value_t = 25)]
    contacts: usize,
    /// Contacts the sandbox starts with.
    #[arg(long, default_value_t = 200)]
    seed_contacts: usize,
    /// Stop once every run is done, instead of serving until Ctrl-C.
    #[arg(long)]
    exit_when_done: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let dir = std::env::temp_dir().join(format!("ghl-connector-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = dir.join("demo.db");
    let store =
        Store::open(&format!("sqlite:{}", database.display()), &MasterKey::generate()).await?;

    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .context("cannot listen for the connector")?;
    let connector_url = format!("http://{}", listener.local_addr()?);
    let mut config = SandboxConfig { contacts: args.seed_contacts, ..SandboxConfig::default() };
    config.webhooks.urls = vec![format!("{connector_url}/webhooks/highlevel").parse()?];
    let sandbox = Sandbox::start(config, TcpListener::bind("127.0.0.1:0").await?, shutdown.clone())
        .await?
        .info;

    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    ghl_engine::connections::save_private_token(&store, "highlevel", base, location, token).await?;
    let engine = ghl_engine::Engine::new(store.clone());
    engine.apply_flow(TEMPLATE_FLOW).await?;

    let admin_token: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let keys = WebhookKeys::new(
        Some(&sandbox.webhook_public_keys.ed25519),
        Some(&sandbox.webhook_public_keys.rsa_pem),
    )
    .map_err(anyhow::Error::msg)?;
    let server_config = ServerConfig {
        webhook_keys: keys,
        admin_token: admin_token.clone(),
        workers: 2,
        worker_idle: Duration::from_millis(50),
    };
    let server = tokio::spawn(ghl_server::serve(engine, server_config, listener, shutdown.clone()));

    say!("HighLevel sandbox:  {} (location {})", sandbox.base_url, sandbox.location_id);
    say!("ghl-connector:      {connector_url}  (API: {connector_url}/api, admin token {admin_token})");
    say!("                    try: curl -H 'Authorization: Bearer {admin_token}' {connector_url}/api/runs");
    say!("store:              {}", database.display());
    say!("flow:               welcome-new-contacts (new contact -> welcome task + note)");

    let http = reqwest::Client::new();
    let progress = ProgressBar::new(args.contacts as u64);
    progress.set_style(
        ProgressStyle::with_template("{msg:<22} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message("contacts added");
    for n in 0..args.contacts {
        let body = json!({ "locationId": sandbox.location_id, "firstName": format!("Demo{n}"), "email": format!("demo{n}@example.com") });
        http.post(format!(
            "{}/_sandbox/as-user/{}/contacts/",
            sandbox.base_url, sandbox.location_id
        ))
        .json(&body)
        .send()
        .await?;
        progress.inc(1);
    }
    progress.finish();

    let done = ProgressBar::new(args.contacts as u64);
    done.set_style(
        ProgressStyle::with_template("{msg:<22} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    done.set_message("runs done");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counts = store.run_counts().await?;
        let count = |status: &str| counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        done.set_position(count("done") as u64);
        if count("done") + count("dead") >= args.contacts as i64 {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("runs did not finish within two minutes: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.finish();
    let stats: serde_json::Value =
        http.get(format!("{}/_sandbox/stats", sandbox.base_url)).send().await?.json().await?;
    let dead = store.runs(&RunFilter { status: Some("dead".into()), limit: 1000 }).await?.len();
    say!(
        "in the sandbox: {} tasks and {} notes created by the flow; {} webhooks delivered; {dead} runs dead-lettered",
        stats["effects"]["task.created"], stats["effects"]["note.created"], stats["webhooks"]["delivered"]
    );
    if !args.exit_when_done {
        say!("serving until Ctrl-C ...");
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
    let _ = server.await;
    Ok(())
}
