//! The use cases of the connector, shared by every front end (the CLI, the REST API, the coming
//! web UI): flows, runs, connections and the catalog. Each group is a view on one `Service`,
//! which holds the engine; a rule lives here once, and the front ends only say the answers and
//! the errors (`ServiceError`, with its `Remedy`) their own way.

pub mod catalog;
pub mod connect;
pub mod connections;
mod error;
pub mod flows;
pub mod runs;

use std::sync::Arc;

use ghl_engine::Engine;

pub use error::ServiceError;

/// The use cases over one engine (cheap to clone).
#[derive(Clone)]
pub struct Service {
    engine: Arc<Engine>,
    /// OAuth authorizations started and not finished yet.
    pending: Arc<connect::Pending>,
}

impl Service {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine, pending: Arc::default() }
    }

    /// Apply, list, show, enable, disable, delete, test and run flows.
    pub fn flows(&self) -> flows::Flows<'_> {
        flows::Flows { engine: &self.engine }
    }

    /// List, show and replay runs.
    pub fn runs(&self) -> runs::Runs<'_> {
        runs::Runs { engine: &self.engine }
    }

    /// List, test, remove and make connections (OAuth's start and finish included).
    pub fn connections(&self) -> connections::Connections<'_> {
        connections::Connections { engine: &self.engine, pending: &self.pending }
    }

    /// The actions and triggers of the engine's apps.
    pub fn catalog(&self) -> catalog::Catalog {
        catalog::Catalog::of(self.engine.apps())
    }
}
