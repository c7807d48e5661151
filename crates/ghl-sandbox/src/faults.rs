//! Fault injection: which fault, if any, a request meets, drawn from the configured shares.
//! A dropped connection is a response marked `DropConnection`, which the server turns into
//! a closed socket with no answer.

use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{FaultConfig, FaultRule};

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
