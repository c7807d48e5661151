//! `ghl-connector sandbox`: the local HighLevel and a sandbox of each shipped manifest app
//! (Your App, Slack, Teams), and of each manifest file given (an app you wrote), for trying
//! and testing without an account.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ghl_app_sandbox::AppSandboxConfig;
use ghl_sandbox::{FaultConfig, FaultRule, RateLimits, Sandbox, SandboxConfig, WebhookConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks any free port (see base_url in the printed line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Contacts to seed in the first location (with tags, tasks, notes, appointments).
    #[arg(long, default_value_t = 50)]
    contacts: usize,
    /// Seed of the data generator and of the webhook signing keys: the same seed gives the
    /// same data, ids and keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Locations (sub-accounts) to create; more can be added with POST /_sandbox/locations.
    #[arg(long, default_value_t = 1)]
    locations: usize,
    /// Let locations hold duplicate contacts (HighLevel's default: refuse them).
    #[arg(long)]
    allow_duplicates: bool,
    /// Requests allowed per app and location in any interval (HighLevel: 100).
    #[arg(long, default_value_t = 100)]
    rate_burst: u32,
    /// The rate-limit interval in milliseconds (HighLevel: 10000).
    #[arg(long, default_value_t = 10_000)]
    rate_interval_ms: u64,
    /// Requests allowed per app and location per UTC day (HighLevel: 200000).
    #[arg(long, default_value_t = 200_000)]
    rate_daily: u32,
    /// URL to POST webhook events to (repeatable; more can be added with POST /_sandbox/webhooks).
    #[arg(long = "webhook-url")]
    webhook_urls: Vec<url::Url>,
    /// Retry deliveries on any failure, not only on 429 as HighLevel does.
    #[arg(long)]
    webhook_retry_any_failure: bool,
    /// Retries of a delivery answered 429, with the same signed bytes (HighLevel: 6).
    #[arg(long, default_value_t = 6)]
    webhook_retries: u32,
    /// Time between webhook retries in milliseconds, ±20 % jitter (HighLevel: about 10 minutes).
    #[arg(long, alias = "webhook-retry-delay-ms", default_value_t = 600_000)]
    webhook_retry_interval_ms: u64,
    /// Share (0-1) of events delivered twice.
    #[arg(long, default_value_t = 0.0)]
    webhook_duplicate_share: f64,
    /// Share (0-1) of API requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    fault_429: f64,
    /// Share (0-1) of API requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    fault_500: f64,
    /// Share (0-1) of API requests answered 502 (an HTML proxy page).
    #[arg(long, default_value_t = 0.0)]
    fault_502: f64,
    /// Share (0-1) of API requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    fault_503: f64,
    /// Share (0-1) of API requests whose connection is dropped before they are handled.
    #[arg(long, default_value_t = 0.0)]
    fault_reset: f64,
    /// Share (0-1) of API requests whose connection is dropped after they took effect.
    #[arg(long, default_value_t = 0.0)]
    fault_reset_after: f64,
    /// Share (0-1) of API requests answered only after --slow-ms (a timeout for short timeouts).
    #[arg(long, default_value_t = 0.0)]
    fault_slow: f64,
    /// How long a slow answer is held back, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    slow_ms: u64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Full fault configuration as JSON ({"default": {...}, "operations": {"create-contact": {...}}});
    /// replaces the --fault-* flags.
    #[arg(long)]
    faults_json: Option<String>,
    /// Lifetime of OAuth access tokens in seconds (HighLevel: 86399).
    #[arg(long, default_value_t = 86_399)]
    token_lifetime_secs: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Faults of the app sandboxes as JSON, per app: {"your-app": {"default": {"500": 0.2}}}
    /// (the same rules as --faults-json, by the manifest's operation names).
    #[arg(long)]
    app_faults_json: Option<String>,
    /// A manifest file to start a sandbox of too (an app you wrote, before or after `apps
    /// add`); its base URL and working credentials are in the ready line's `apps`. Repeatable.
    #[arg(long = "app-manifest", value_name = "FILE")]
    app_manifests: Vec<std::path::PathBuf>,
    /// Lifetime of the access tokens an OAuth app's sandbox issues, in seconds.
    #[arg(long, default_value_t = 3600)]
    app_token_lifetime_secs: u64,
}

impl SandboxArgs {
    fn config(&self) -> anyhow::Result<SandboxConfig> {
        let faults = match &self.faults_json {
            Some(text) => serde_json::from_str::<FaultConfig>(text)
                .context("--faults-json is not a valid fault configuration")?,
            None => FaultConfig {
                default: FaultRule {
                    reset: self.fault_reset,
                    too_many_requests: self.fault_429,
                    internal_error: self.fault_500,
                    bad_gateway: self.fault_502,
                    unavailable: self.fault_503,
                    reset_after: self.fault_reset_after,
                    slow: self.fault_slow,
                    slow_ms: self.slow_ms,
                    latency_ms: self.latency_ms,
                    retry_after_secs: 1,
                },
                operations: Default::default(),
            },
        };
        let config = SandboxConfig {
            contacts: self.contacts,
            seed: self.seed,
            locations: self.locations,
            allow_duplicates: self.allow_duplicates,
            rate_limits: RateLimits {
                burst: self.rate_burst,
                interval_ms: self.rate_interval_ms,
                daily: self.rate_daily,
            },
            webhooks: WebhookConfig {
                urls: self.webhook_urls.clone(),
                retry_on_any_failure: self.webhook_retry_any_failure,
                max_attempts: self.webhook_retries.saturating_add(1),
                retry_delay: Duration::from_millis(self.webhook_retry_interval_ms),
                duplicate_share: self.webhook_duplicate_share,
                ..WebhookConfig::default()
            },
            faults,
            token_lifetime: Duration::from_secs(self.token_lifetime_secs),
            max_body_bytes: self.max_body_bytes,
            signing_keys: None,
            quota_day: SandboxConfig::default().quota_day,
        };
        config.validate()?;
        Ok(config)
    }
}

pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let app_faults: HashMap<String, FaultConfig> = match &args.app_faults_json {
        Some(text) => serde_json::from_str(text)
            .context("--app-faults-json is not {\"APP\": fault configuration, ...}")?,
        None => HashMap::new(),
    };
    for (app, faults) in &app_faults {
        faults.validate().map_err(|reason| anyhow::anyhow!("--app-faults-json {app}: {reason}"))?;
    }
    let started = Instant::now();
    let address = format!("{}:{}", args.host, args.port);
    let listener =
        TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
    let shutdown = CancellationToken::new();
    let seed = config.seed;
    let sandbox = Sandbox::start(config, listener, shutdown.clone()).await?;
    let mut manifests = Vec::new();
    for path in &args.app_manifests {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --app-manifest {}", path.display()))?;
        let manifest = ghl_apps::load(&text)
            .map_err(|err| anyhow::anyhow!("--app-manifest {}: {err}", path.display()))?;
        manifests.push(manifest);
    }
    let token_lifetime = Duration::from_secs(args.app_token_lifetime_secs);
    let app_config = |app: &str| AppSandboxConfig {
        seed,
        faults: app_faults.get(app).cloned().unwrap_or_default(),
        token_lifetime,
        ..AppSandboxConfig::default()
    };
    let mut apps = ghl_app_sandbox::start_builtin(&args.host, app_config, shutdown.clone()).await?;
    for manifest in manifests {
        let app = manifest.app.clone();
        if apps.contains_key(&app) {
            anyhow::bail!("--app-manifest: `{app}` is the id of an app this program ships");
        }
        let listener = TcpListener::bind((args.host.as_str(), 0))
            .await
            .with_context(|| format!("cannot listen on {} for the `{app}` sandbox", args.host))?;
        let running = ghl_app_sandbox::AppSandbox::start(
            manifest,
            app_config(&app),
            listener,
            shutdown.clone(),
        )
        .await?;
        apps.insert(app, running);
    }
    // The HighLevel fields as they were, and `apps`: each app's base URL and credentials.
    let mut ready = serde_json::to_value(&sandbox.info)?;
    let apps_info: serde_json::Map<String, serde_json::Value> = apps
        .iter()
        .map(|(app, running)| Ok((app.clone(), serde_json::to_value(&running.info)?)))
        .collect::<Result<_, serde_json::Error>>()?;
    if let serde_json::Value::Object(fields) = &mut ready {
        fields.insert("apps".into(), apps_info.into());
    }
    say!("{}", serde_json::to_string(&ready)?);
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "sandbox listening");
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    shutdown.cancel();
    let _ = sandbox.server.await;
    for running in apps.into_values() {
        let _ = running.server.await;
    }
    Ok(())
}
