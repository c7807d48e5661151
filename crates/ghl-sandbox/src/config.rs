//! Everything a sandbox can be told at start: seed data, rate limits, webhooks, faults, tokens.

use std::sync::Arc;
use std::time::Duration;

use ghl_types::rate_limit::{DEFAULT_BURST, DEFAULT_DAILY, DEFAULT_INTERVAL_MS};
use serde::{Deserialize, Serialize};
use url::Url;

pub use ghl_sandbox_kit::faults::{FaultConfig, FaultError, FaultRule};

use crate::signing::SigningKeys;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Contacts seeded into the first location.
    pub contacts: usize,
    /// Seed of the data generator and of every id the sandbox makes: same seed, same data.
    pub seed: u64,
    /// How many locations (sub-accounts) exist at start; more can be added by the admin API.
    pub locations: usize,
    /// Whether locations allow duplicate contacts (HighLevel's default: no).
    pub allow_duplicates: bool,
    pub rate_limits: RateLimits,
    /// The daily quota's day: counts reset at each multiple of it since the Unix epoch (one
    /// day: UTC midnight, as HighLevel). Tests shorten it to see a quota reset.
    pub quota_day: Duration,
    pub webhooks: WebhookConfig,
    pub faults: FaultConfig,
    /// Lifetime of OAuth access tokens (HighLevel: 86,399 s).
    pub token_lifetime: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The webhook signing keys; derived from `seed` when absent (same seed, same keys).
    pub signing_keys: Option<Arc<SigningKeys>>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            contacts: 50,
            seed: 1,
            locations: 1,
            allow_duplicates: false,
            rate_limits: RateLimits::default(),
            quota_day: Duration::from_secs(86_400),
            webhooks: WebhookConfig::default(),
            faults: FaultConfig::default(),
            token_lifetime: Duration::from_secs(86_399),
            max_body_bytes: 1024 * 1024,
            signing_keys: None,
        }
    }
}

/// Longest token lifetime and webhook retry delay accepted (beyond them times overflow).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(86_400);

/// A setting the sandbox cannot run with, and the range it must be in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Faults(#[from] FaultError),
    #[error("rate limits (burst, interval, daily) must be positive")]
    RateLimits,
    #[error("token lifetime must be between 1 second and 10 years")]
    TokenLifetime,
    #[error("webhook duplicate share must be between 0 and 1")]
    DuplicateShare,
    #[error("webhook retry delay must be at most one day")]
    RetryDelay,
    #[error("webhook attempts must be at least 1")]
    Attempts,
}

impl SandboxConfig {
    /// Checks every setting once, so that nothing later can fail on it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.faults.validate()?;
        let limits = &self.rate_limits;
        if limits.burst == 0 || limits.interval_ms == 0 || limits.daily == 0 {
            return Err(ConfigError::RateLimits);
        }
        if self.token_lifetime.is_zero() || self.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(ConfigError::TokenLifetime);
        }
        let webhooks = &self.webhooks;
        if !(0.0..=1.0).contains(&webhooks.duplicate_share) {
            return Err(ConfigError::DuplicateShare);
        }
        if webhooks.retry_delay > MAX_RETRY_DELAY {
            return Err(ConfigError::RetryDelay);
        }
        if webhooks.max_attempts == 0 {
            return Err(ConfigError::Attempts);
        }
        Ok(())
    }
}

/// Per app and location: `burst` requests in any `interval`, and `daily` per quota day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    pub burst: u32,
    pub interval_ms: u64,
    pub daily: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { burst: DEFAULT_BURST, interval_ms: DEFAULT_INTERVAL_MS, daily: DEFAULT_DAILY }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub urls: Vec<Url>,
    /// HighLevel retries only when the receiver answers 429; this retries any failure too.
    pub retry_on_any_failure: bool,
    /// Attempts per event and URL, the first included (HighLevel: 1 + 6 retries).
    pub max_attempts: u32,
    /// Delay before a retry; HighLevel waits about ten minutes, with jitter.
    pub retry_delay: Duration,
    /// Share (0..=1) of events delivered twice, as HighLevel sometimes does.
    pub duplicate_share: f64,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            retry_on_any_failure: false,
            max_attempts: 7,
            retry_delay: Duration::from_secs(600),
            duplicate_share: 0.0,
            timeout: Duration::from_secs(10),
        }
    }
}
