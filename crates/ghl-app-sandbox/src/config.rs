//! What an app sandbox can be told at start: seed, faults, rate-limit windows, webhooks.

use std::time::Duration;

use ghl_apps::Manifest;
use ghl_sandbox_kit::{FaultConfig, Window};
use url::Url;

#[derive(Debug, Clone)]
pub struct AppSandboxConfig {
    /// Seed of every id, key and secret the sandbox makes, and of fault draws.
    pub seed: u64,
    /// Faults per operation name (the manifest's `create-contact`, `post-message`).
    pub faults: FaultConfig,
    /// Rate-limit windows per credential or webhook URL; `None`: the manifest's.
    pub rate_limits: Option<Vec<Window>>,
    pub webhooks: WebhookConfig,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Lifetime of the access tokens an OAuth app's server issues.
    pub token_lifetime: Duration,
}

impl Default for AppSandboxConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            faults: FaultConfig::default(),
            rate_limits: None,
            webhooks: WebhookConfig::default(),
            max_body_bytes: 1024 * 1024,
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// Webhooks a REST app sends to its registered targets.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Targets at start; more with `POST /_sandbox/webhook-targets`.
    pub urls: Vec<Url>,
    /// Attempts per event and target, the first included; a retry keeps the `webhook-id`.
    pub max_attempts: u32,
    pub retry_delay: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The manifest's `rate_limit.windows`, in milliseconds.
pub fn manifest_windows(manifest: &Manifest) -> Vec<Window> {
    manifest
        .rate_limit
        .iter()
        .flat_map(|limit| &limit.windows)
        .map(|window| Window {
            requests: window.requests,
            per_ms: u64::from(window.per_secs) * 1_000,
        })
        .collect()
}
