//! The connector engine: flows (a trigger and ordered steps with jq mappings), the catalog of
//! actions and triggers, connections, and runs executed exactly once over the store.

pub mod catalog;
pub mod connections;
pub mod document_bounds;
pub mod flow;
pub mod jq;
pub mod mask;
pub mod metrics;
pub mod runner;
mod steps;
mod triggers;

pub use runner::{
    event_key, Applied, Engine, EngineConfig, EngineError, StepReport, DEFAULT_RUNAWAY_LIMIT,
};
