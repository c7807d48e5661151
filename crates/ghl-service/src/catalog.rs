//! The catalog: the actions and triggers flows can use, from the apps given.

use ghl_engine::apps::UnknownApp;
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

    /// The entries of one of `apps` (`--app your-app`): its actions and its triggers.
    pub fn of_app(apps: &Apps, app: &str) -> Result<Self, UnknownApp> {
        let id = apps.require(app)?.id();
        let Self { actions, triggers } = Self::of(apps);
        Ok(Self {
            actions: actions.into_iter().filter(|entry| entry.app.as_ref() == Some(&id)).collect(),
            triggers: triggers
                .into_iter()
                .filter(|entry| entry.app.as_ref() == Some(&id))
                .collect(),
        })
    }
}
