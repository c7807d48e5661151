//! An app's rate limits as a manifest gives them: the budget to start from (one or more
//! windows, shared by every task and worker of one (app, account)), and the answer headers
//! that correct it as the app reports what is left.

use serde::{Deserialize, Serialize};

/// `rate_limit:` of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Every window must have room for a request to go (Teams: 4 a second and 60 in 30 s).
    pub windows: Vec<Window>,
    #[serde(default)]
    pub headers: RateHeaders,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub requests: u32,
    pub per_secs: u32,
}

/// The headers an answer reports the budget in (none: the windows alone decide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateHeaders {
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub remaining: Option<String>,
    #[serde(default)]
    pub reset: Option<String>,
    #[serde(default)]
    pub reset_format: ResetFormat,
    /// Honoured on 429 and 503.
    #[serde(default = "retry_after")]
    pub retry_after: String,
}

impl Default for RateHeaders {
    fn default() -> Self {
        Self {
            limit: None,
            remaining: None,
            reset: None,
            reset_format: ResetFormat::default(),
            retry_after: retry_after(),
        }
    }
}

fn retry_after() -> String {
    "Retry-After".into()
}

/// What the reset header holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    /// Seconds until the window resets.
    #[default]
    DeltaSeconds,
    /// The Unix time it resets at, in seconds.
    EpochSeconds,
    /// The Unix time it resets at, in milliseconds.
    EpochMillis,
}
