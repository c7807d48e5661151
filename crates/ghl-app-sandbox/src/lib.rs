//! Local sandboxes of the manifest apps (`apps/<app>/manifest.yaml`), each built from its
//! manifest plus what the manifest cannot say (the app's quirks):
//!
//! - a REST app (`rest`): records kept in memory per resource at the manifest's paths and
//!   methods, its auth kind checked with its own 401/403 bodies (an OAuth app's tokens
//!   issued by its OAuth server, `oauth`), its paging style, its error
//!   bodies (a missing required field, a natural key already taken with the existing id where
//!   `write.duplicate` says), creation and modification times stamped in the format of the
//!   resource's poll (`times`), and its webhooks sent to
//!   registered targets, signed per the manifest's scheme;
//! - Slack's and Teams' incoming webhooks (`messaging`): what was posted is recorded, and
//!   they answer as the real services do (`ok`, `invalid_payload`, `channel_is_archived`,
//!   `1`, `202`...);
//! - the receiver of a `signed_webhook` app (`receiver`, the outgoing webhook): each
//!   delivery's Standard Webhooks signature verified, deliveries recorded with their
//!   `webhook-id`, a message counted once per id.
//!
//! Every sandbox has the same fault injection, latency and rate-limit windows (from
//! `ghl-sandbox-kit`) and an admin API under `/_sandbox/` (stats with effect counts, faults,
//! limits, webhook targets, posts).

pub mod admin;
pub mod answer;
pub mod config;
pub mod expression;
pub mod gate;
pub mod messaging;
pub mod oauth;
pub mod quirks;
pub mod receiver;
pub mod rest;
pub mod times;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use ghl_apps::auth::Auth;
use ghl_apps::Manifest;
use ghl_sandbox_kit::{Faults, Stats, Windows};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{AppSandboxConfig, WebhookConfig};

/// Which sandbox a manifest gets: its quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A REST API described by its operations.
    Rest,
    /// Slack incoming webhooks.
    Slack,
    /// Microsoft Teams webhooks: Workflows and the legacy connector.
    Teams,
    /// The receiving end of signed outgoing webhooks (any `signed_webhook` app).
    Webhook,
}

impl Kind {
    /// A `secret_url` app is a messaging webhook whose quirks this crate knows (Slack,
    /// Teams); a `signed_webhook` app gets a receiver; any other is a REST app.
    pub fn of(manifest: &Manifest) -> anyhow::Result<Self> {
        match (&manifest.auth, manifest.app.as_str()) {
            (Auth::SignedWebhook, _) => Ok(Self::Webhook),
            (Auth::SecretUrl, "slack") => Ok(Self::Slack),
            (Auth::SecretUrl, "teams") => Ok(Self::Teams),
            (Auth::SecretUrl, other) => anyhow::bail!(
                "no sandbox knows the incoming webhook of `{other}` (only Slack's and Teams')"
            ),
            _ => Ok(Self::Rest),
        }
    }
}

/// What a sandbox prints once listening: where it is and credentials that work.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// The base URL a connection uses instead of the manifest's. For a `secret_url` app it
    /// is the webhook URL itself (the credential).
    pub base_url: String,
    pub admin_url: String,
    /// Credentials a connection gives at `connect` (`api_key`, `url`, `webhook_secret`).
    pub credentials: BTreeMap<String, String>,
    /// Credentials that may read but are refused any write (403), where the app has them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub read_only_credentials: BTreeMap<String, String>,
    /// The account a connection names (`--account`), where the manifest's operations take
    /// one (Qonto's bank account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// State every handler shares.
pub struct Shared {
    pub manifest: Manifest,
    pub kind: Kind,
    pub address: String,
    pub config: AppSandboxConfig,
    pub faults: Faults,
    pub windows: Windows,
    pub stats: Mutex<Stats>,
    pub rng: Mutex<ChaCha8Rng>,
    pub rest: Option<rest::Rest>,
    pub messaging: Option<messaging::Hooks>,
    pub receivers: Option<receiver::Receivers>,
    pub webhooks: Arc<webhooks::Webhooks>,
    /// What the app does beyond its manifest.
    pub quirks: &'static dyn quirks::Quirks,
}

pub struct AppSandbox {
    pub info: AppInfo,
    pub shared: Arc<Shared>,
    pub server: tokio::task::JoinHandle<()>,
}

impl AppSandbox {
    /// Builds the sandbox of `manifest` and serves on `listener` until `shutdown` is
    /// cancelled. A manifest whose auth kind or paging style the sandbox cannot play is
    /// refused here, naming the app.
    pub async fn start(
        manifest: Manifest,
        config: AppSandboxConfig,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<AppSandbox> {
        config.faults.validate()?;
        let app = manifest.app.clone();
        let kind = Kind::of(&manifest)?;
        let address = format!("http://{}", listener.local_addr()?);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let windows =
            config.rate_limits.clone().unwrap_or_else(|| config::manifest_windows(&manifest));
        let account_id = quirks::of(&app).new_id(&mut rng);
        let receivers = (kind == Kind::Webhook).then(|| receiver::Receivers::new(&mut rng));
        let (rest, messaging) = match kind {
            Kind::Rest => (
                Some(
                    rest::Rest::new(&manifest, &account_id, config.token_lifetime, &mut rng)
                        .with_context(|| format!("cannot build the sandbox of `{app}`"))?,
                ),
                None,
            ),
            Kind::Slack | Kind::Teams => (None, Some(messaging::Hooks::new(kind, &mut rng))),
            Kind::Webhook => (None, None),
        };
        let quirks = quirks::of(&app);
        if let Some(rest) = &rest {
            // Records the app holds from the start.
            quirks.seed(rest, &mut rng);
        }
        let webhooks = webhooks::Webhooks::new(&manifest, &account_id, &config.webhooks, &mut rng)?;
        let shared = Arc::new(Shared {
            faults: Faults::new(config.faults.clone(), config.seed),
            windows: Windows::new(windows),
            stats: Mutex::new(Stats::default()),
            rng: Mutex::new(rng),
            manifest,
            kind,
            address,
            config,
            rest,
            messaging,
            receivers,
            webhooks,
            quirks,
        });
        if let Some(server) = shared.rest.as_ref().and_then(|rest| rest.oauth.as_ref()) {
            let prefix = shared.rest.as_ref().map(|rest| rest.prefix.as_str()).unwrap_or_default();
            server.set_api_url(format!("{}{prefix}", shared.address));
        }
        let info = info(&shared);
        let router = router(shared.clone());
        let server =
            tokio::spawn(ghl_sandbox_kit::server::serve(listener, router, shutdown.clone()));
        shared.webhooks.run(shutdown);
        Ok(AppSandbox { info, shared, server })
    }
}

/// Starts the sandbox of every shipped manifest on `host`, each on a free port.
pub async fn start_builtin(
    host: &str,
    config: impl Fn(&str) -> AppSandboxConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<BTreeMap<String, AppSandbox>> {
    let manifests = ghl_apps::builtin::manifests()
        .map_err(|(app, err)| anyhow::anyhow!("the shipped manifest of `{app}`: {err}"))?;
    let mut sandboxes = BTreeMap::new();
    for manifest in manifests {
        let listener = TcpListener::bind((host, 0)).await.with_context(|| {
            format!("cannot listen on {host} for the `{}` sandbox", manifest.app)
        })?;
        let app = manifest.app.clone();
        let sandbox = AppSandbox::start(manifest, config(&app), listener, shutdown.clone()).await?;
        sandboxes.insert(app, sandbox);
    }
    Ok(sandboxes)
}

fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.config.max_body_bytes;
    let api = match shared.kind {
        Kind::Rest => {
            let oauth = shared.rest.as_ref().and_then(|rest| rest.oauth.as_ref());
            let routes = rest::routes(&shared);
            match oauth {
                Some(server) => routes.merge(oauth::routes(server)),
                None => routes,
            }
        }
        Kind::Slack | Kind::Teams => messaging::routes(shared.kind),
        Kind::Webhook => receiver::routes(),
    };
    api.nest("/_sandbox", admin::routes()).layer(DefaultBodyLimit::max(max_body)).with_state(shared)
}

pub fn info(shared: &Shared) -> AppInfo {
    let mut info = AppInfo {
        base_url: shared.address.clone(),
        admin_url: format!("{}/_sandbox", shared.address),
        credentials: BTreeMap::new(),
        read_only_credentials: BTreeMap::new(),
        account: None,
    };
    if let Some(rest) = &shared.rest {
        info.base_url = format!("{}{}", shared.address, rest.connect_prefix);
        info.credentials = rest.credentials.full.clone();
        info.read_only_credentials = rest.credentials.read_only.clone();
        let takes_account = shared.manifest.operations.iter().any(|op| op.account.is_some());
        info.account = takes_account.then(|| rest.account_id.clone());
    }
    if let Some(hooks) = &shared.messaging {
        let url = hooks.first_url(&shared.address);
        info.base_url = url.clone();
        info.credentials.insert("url".into(), url);
        if let Some(legacy) = hooks.legacy_url(&shared.address) {
            info.credentials.insert("legacy_url".into(), legacy);
        }
    }
    if let Some((url, secret)) =
        shared.receivers.as_ref().and_then(|receivers| receivers.credentials(&shared.address))
    {
        info.base_url = url.clone();
        info.credentials.insert("url".into(), url);
        info.credentials.insert("secret".into(), secret);
    }
    if let Some(secret) = shared.webhooks.secret_text() {
        info.credentials.insert("webhook_secret".into(), secret);
    }
    info
}
