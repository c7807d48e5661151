//! The connector engine: flows (a trigger and ordered steps with jq mappings), the catalog of
//! actions and triggers, and runs executed exactly once over the store.

pub mod catalog;
pub mod flow;
pub mod jq;
