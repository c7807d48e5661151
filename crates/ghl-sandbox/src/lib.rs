//! A faithful local HighLevel: the Contacts API (and the appointment operations of the
//! Calendars API) at the spec's paths, its OAuth 2.0 server, rate limits, signed webhooks,
//! fault injection, deterministic seed data, and an admin API under `/_sandbox/`.
//!
//! Start it with [`Sandbox::start`] on a listener you give it; it stops on the token.

pub mod admin;
pub mod api;
pub mod clock;
pub mod config;
pub mod error;
pub mod oauth;
pub mod rate_limit;
pub mod seed;
pub mod signing;
pub mod webhooks;
pub mod world;

// The general machinery lives in the kit; these paths stay for the code that names them.
pub use ghl_sandbox_kit::{faults, server, stats};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{FaultConfig, FaultRule, RateLimits, SandboxConfig, WebhookConfig};
pub use signing::SigningKeys;

use crate::faults::Faults;
use crate::oauth::{AccessGrant, PRIVATE_INTEGRATION_APP};
use crate::rate_limit::RateLimiter;
use crate::webhooks::Webhooks;
use crate::world::World;
use ghl_types::spec_rules::BodyRules;

/// The sandbox's OAuth app (a Marketplace app's client id and secret).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
}

/// State every handler shares.
pub struct Shared {
    pub world: Mutex<World>,
    pub rate_limiter: RateLimiter,
    pub faults: Faults,
    pub webhooks: Arc<Webhooks>,
    pub keys: Arc<SigningKeys>,
    pub oauth_client: OAuthClient,
    pub body_rules: &'static BodyRules,
    pub token_lifetime: Duration,
    pub base_url: String,
    pub config: SandboxConfig,
}

/// What the sandbox prints once listening: everything a client needs to talk to it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxInfo {
    pub base_url: String,
    pub location_id: String,
    pub company_id: String,
    pub private_integration_token: String,
    pub oauth: OAuthInfo,
    pub webhook_public_keys: WebhookKeys,
    pub calendar_id: String,
    pub admin_url: String,
    pub locations: Vec<LocationInfo>,
    /// Always empty: the manifest apps' sandboxes are the `apps` that `ghl-connector sandbox`
    /// adds to its ready line (ghl-app-sandbox).
    pub partners: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OAuthInfo {
    pub client_id: String,
    pub client_secret: String,
    pub authorize_url: String,
    pub token_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookKeys {
    pub rsa_pem: String,
    pub ed25519: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationInfo {
    pub location_id: String,
    pub name: String,
    pub private_integration_token: String,
    pub calendar_id: String,
    pub contacts: usize,
}

pub struct Sandbox {
    pub info: SandboxInfo,
    pub shared: Arc<Shared>,
    pub server: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Seeds the data and serves on `listener` until `shutdown` is cancelled.
    pub async fn start(
        config: SandboxConfig,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Sandbox> {
        config.validate()?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        let keys = match &config.signing_keys {
            Some(keys) => keys.clone(),
            None => {
                let seed = config.seed;
                tokio::task::spawn_blocking(move || SigningKeys::for_seed(seed)).await??
            }
        };
        let mut world = World::new(config.seed);
        for index in 0..config.locations.max(1) {
            let contacts = if index == 0 { config.contacts } else { config.contacts.min(10) };
            seed::add_location(
                &mut world,
                &format!("Sandbox Location {}", index + 1),
                contacts,
                config.allow_duplicates,
            );
        }
        let oauth_client = OAuthClient {
            client_id: format!("{}-sandbox", clock::new_id(&mut world.rng)),
            client_secret: clock::new_secret(&mut world.rng, "", 36),
        };
        let webhooks = Webhooks::start(config.webhooks.clone(), keys.clone(), shutdown.clone());
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            rate_limiter: RateLimiter::new(config.rate_limits, config.quota_day),
            faults: Faults::new(config.faults.clone(), config.seed),
            webhooks,
            keys,
            oauth_client,
            body_rules: ghl_types::spec_rules::body_rules(),
            token_lifetime: config.token_lifetime,
            base_url,
            config,
        });
        let info = info(&shared);
        let router = router(shared.clone());
        let server = tokio::spawn(server::serve(listener, router, shutdown));
        Ok(Sandbox { info, shared, server })
    }
}

/// All routes: the HighLevel API behind its gate, OAuth, and the admin API.
pub fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.config.max_body_bytes;
    let api =
        api::routes().route_layer(axum::middleware::from_fn_with_state(shared.clone(), api::gate));
    Router::new()
        .merge(api)
        .route("/oauth/chooselocation", get(oauth::choose_location_page).post(oauth::approve))
        .route("/v2/oauth/chooselocation", get(oauth::choose_location_page))
        .route("/oauth/token", axum::routing::post(oauth::token))
        .nest("/_sandbox", admin::routes())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(error::json_errors))
        .with_state(shared)
}

/// Registers a location's private integration token: every Contacts and appointment scope,
/// never expiring.
pub fn grant_private_token(world: &mut World, token: &str, location_id: &str) {
    let scopes: BTreeSet<String> =
        ghl_types::OPERATIONS.iter().map(|op| op.scope.to_owned()).collect();
    world.grants.add_access(
        token.to_owned(),
        AccessGrant {
            app_id: PRIVATE_INTEGRATION_APP.into(),
            location_id: location_id.to_owned(),
            scopes,
            expires_at: None,
        },
    );
}

pub fn info(shared: &Shared) -> SandboxInfo {
    let world = shared.world.lock();
    let mut locations: Vec<LocationInfo> = world
        .locations
        .values()
        .map(|location| LocationInfo {
            location_id: location.id.clone(),
            name: location.name.clone(),
            private_integration_token: location.private_integration_token.clone(),
            calendar_id: location.calendars.first().map(|c| c.id.clone()).unwrap_or_default(),
            contacts: location.contact_count(),
        })
        .collect();
    locations.sort_by(|a, b| a.name.cmp(&b.name));
    let first = locations.first().cloned();
    let base = &shared.base_url;
    SandboxInfo {
        base_url: base.clone(),
        location_id: first.as_ref().map(|l| l.location_id.clone()).unwrap_or_default(),
        company_id: world.company_id.clone(),
        private_integration_token: first
            .as_ref()
            .map(|l| l.private_integration_token.clone())
            .unwrap_or_default(),
        oauth: OAuthInfo {
            client_id: shared.oauth_client.client_id.clone(),
            client_secret: shared.oauth_client.client_secret.clone(),
            authorize_url: format!("{base}/oauth/chooselocation"),
            token_url: format!("{base}/oauth/token"),
        },
        webhook_public_keys: WebhookKeys {
            rsa_pem: shared.keys.rsa_public_pem().to_owned(),
            ed25519: shared.keys.ed25519_public_spki_base64(),
        },
        calendar_id: first.as_ref().map(|l| l.calendar_id.clone()).unwrap_or_default(),
        admin_url: format!("{base}/_sandbox"),
        locations,
        partners: Default::default(),
    }
}
