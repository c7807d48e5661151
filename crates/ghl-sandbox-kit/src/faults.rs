//! Fault injection: what may go wrong (a default rule and rules per operation, each a set of
//! shares) and which fault, if any, a request meets, drawn from those shares with a seeded
//! generator. A dropped connection is a response marked `DropConnection`, which the server turns into
//! a closed socket with no answer.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Marks a response whose connection must be dropped instead of answered.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Reset,
    TooManyRequests,
    InternalError,
    BadGateway,
    Unavailable,
    ResetAfter,
    Slow(Duration),
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::TooManyRequests => "429",
            Self::InternalError => "500",
            Self::BadGateway => "502",
            Self::Unavailable => "503",
            Self::ResetAfter => "reset_after",
            Self::Slow(_) => "slow",
        }
    }
}

pub struct Faults {
    config: RwLock<FaultConfig>,
    rng: Mutex<ChaCha8Rng>,
}

impl Faults {
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self { config: RwLock::new(config), rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)) }
    }

    pub fn config(&self) -> FaultConfig {
        self.config.read().clone()
    }

    pub fn set(&self, config: FaultConfig) {
        *self.config.write() = config;
    }

    pub fn rule(&self, operation: &str) -> FaultRule {
        self.config.read().rule_for(operation).clone()
    }

    /// A fault that stops the request before it is handled.
    pub fn draw_before(&self, rule: &FaultRule) -> Option<Fault> {
        if rule.is_quiet() {
            return None;
        }
        let mut rng = self.rng.lock();
        [
            (rule.reset, Fault::Reset),
            (rule.too_many_requests, Fault::TooManyRequests),
            (rule.internal_error, Fault::InternalError),
            (rule.bad_gateway, Fault::BadGateway),
            (rule.unavailable, Fault::Unavailable),
        ]
        .into_iter()
        .find(|(share, _)| *share > 0.0 && rng.gen_bool(share.min(1.0)))
        .map(|(_, fault)| fault)
    }

    /// A fault that strikes after the request took effect.
    pub fn draw_after(&self, rule: &FaultRule) -> Option<Fault> {
        if rule.is_quiet() {
            return None;
        }
        let mut rng = self.rng.lock();
        [
            (rule.reset_after, Fault::ResetAfter),
            (rule.slow, Fault::Slow(Duration::from_millis(rule.slow_ms))),
        ]
        .into_iter()
        .find(|(share, _)| *share > 0.0 && rng.gen_bool(share.min(1.0)))
        .map(|(_, fault)| fault)
    }
}

/// Faults injected into API requests: a default rule, and rules per operation id
/// (`create-contact`, or `POST /oauth/token` for the token endpoint) that replace it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    #[serde(default)]
    pub default: FaultRule,
    #[serde(default)]
    pub operations: HashMap<String, FaultRule>,
}

impl FaultConfig {
    pub fn rule_for(&self, operation: &str) -> &FaultRule {
        self.operations.get(operation).unwrap_or(&self.default)
    }
}

/// Shares are probabilities in 0..=1, drawn independently per request in this order:
/// reset before handling, 429, 500, 502, 503; then, after the request took effect,
/// reset after handling and slow answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Connection dropped before the request is handled: nothing changes.
    #[serde(default)]
    pub reset: f64,
    /// 429 with `Retry-After: retry_after_secs`.
    #[serde(default, rename = "429")]
    pub too_many_requests: f64,
    #[serde(default, rename = "500")]
    pub internal_error: f64,
    #[serde(default, rename = "502")]
    pub bad_gateway: f64,
    #[serde(default, rename = "503")]
    pub unavailable: f64,
    /// Connection dropped after the request took effect: the caller cannot know it did.
    #[serde(default)]
    pub reset_after: f64,
    /// Answer held back for `slow_ms` (longer than a client's timeout makes a timeout).
    #[serde(default)]
    pub slow: f64,
    #[serde(default)]
    pub slow_ms: u64,
    /// Latency added to every request.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
}

fn default_retry_after() -> u64 {
    1
}

impl FaultRule {
    pub fn is_quiet(&self) -> bool {
        self == &FaultRule { retry_after_secs: self.retry_after_secs, ..FaultRule::default() }
    }

    /// Every share must be a probability.
    pub fn validate(&self) -> Result<(), FaultError> {
        let shares = [
            ("reset", self.reset),
            ("429", self.too_many_requests),
            ("500", self.internal_error),
            ("502", self.bad_gateway),
            ("503", self.unavailable),
            ("reset_after", self.reset_after),
            ("slow", self.slow),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(FaultError::Share { name, share });
            }
        }
        Ok(())
    }
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), FaultError> {
        self.default.validate()?;
        for (operation, rule) in &self.operations {
            rule.validate().map_err(|error| FaultError::Operation {
                operation: operation.clone(),
                error: Box::new(error),
            })?;
        }
        Ok(())
    }
}

/// A fault share that is not a probability (`operation` when it is an operation's rule).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("fault share {name} must be between 0 and 1, got {share}")]
    Share { name: &'static str, share: f64 },
    #[error("{operation}: {error}")]
    Operation {
        operation: String,
        #[source]
        error: Box<FaultError>,
    },
}
