//! The catalog: the actions and triggers flows can use, from the apps given.

use ghl_engine::catalog::{ActionEntry, TriggerEntry};
use ghl_engine::Apps;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub actions: Vec<ActionEntry>,
    pub triggers: Vec<TriggerEntry>,
}

impl Catalog {
    /// The catalog of `apps` (no store needed: the CLI's `catalog` opens none).
    pub fn of(apps: &Apps) -> Self {
        Self {
            actions: ghl_engine::catalog::actions(apps),
            triggers: ghl_engine::catalog::triggers(apps),
        }
    }
}
