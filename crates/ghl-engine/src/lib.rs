//! The connector engine: flows (a trigger and ordered steps with jq mappings), the catalog of
//! actions and triggers, connections, and runs executed exactly once over the store. Apps are
//! known through the registry (`apps`) the engine is given; HighLevel is one of them.

pub mod apps;
pub mod catalog;
pub mod connections;
pub mod document_bounds;
pub mod flow;
pub mod inbound;
mod intake;
mod interpreter;
pub mod jq;
pub mod mask;
pub mod metrics;
mod registry;
pub mod runner;
mod steps;
mod triggers;
mod worker;

pub use apps::{App, AppClient, AppId, Apps};
pub use runner::{Applied, Engine, EngineConfig, EngineError, StepReport, DEFAULT_RUNAWAY_LIMIT};
