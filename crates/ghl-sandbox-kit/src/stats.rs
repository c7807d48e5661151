//! Counts of requests and of effects, for tests and benchmarks to check what really happened.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Requests per operation id, then per status code.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Effects per kind (`contact.created`, `task.completed`, ...).
    pub effects: BTreeMap<String, u64>,
    /// 429s earned by exceeding the rate limit (injected faults not included).
    pub rate_limited: u64,
    /// Faults injected, per kind.
    pub faults: BTreeMap<String, u64>,
}

impl Stats {
    pub fn request(&mut self, operation: &str, status: u16) {
        *self.requests.entry(operation.to_owned()).or_default().entry(status).or_default() += 1;
    }

    pub fn effect(&mut self, kind: &str) {
        *self.effects.entry(kind.to_owned()).or_default() += 1;
    }

    pub fn fault(&mut self, kind: &str) {
        *self.faults.entry(kind.to_owned()).or_default() += 1;
    }
}
