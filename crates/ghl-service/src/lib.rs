//! The use cases of the connector, shared by every front end (the CLI, the REST API, the coming
//! web UI): flows, runs, connections, added apps, the catalog, templates, the web UI's users and
//! sessions, and the serving process's heartbeat. Each
//! group is a view on one `Service`, which holds the store and the engine built on it; a rule
//! lives here once, and the front ends only say the answers and the errors (`ServiceError`,
//! with its `Remedy`) their own way. No front end reaches the store but through here.

pub mod apps;
pub mod catalog;
pub mod connect;
pub mod connections;
pub mod dashboard;
mod error;
pub mod flows;
pub mod runs;
pub mod samples;
pub mod sessions;
pub mod sign_in_guard;
pub mod templates;
pub mod users;
pub mod workers;

use std::sync::Arc;

use ghl_engine::{Engine, EngineConfig};
use ghl_store::Store;

pub use error::ServiceError;

/// The use cases over one store and the engine on it (cheap to clone).
#[derive(Clone)]
pub struct Service {
    store: Store,
    engine: Arc<Engine>,
    /// OAuth authorizations started and not finished yet.
    pending: Arc<connect::Pending>,
    /// Wrong sign-ins lately, per name.
    sign_in_guard: Arc<sign_in_guard::SignInGuard>,
    /// The dashboard's levels sampled in this process.
    levels: Arc<dashboard::Levels>,
}

impl Service {
    /// The use cases over `store`, with an engine on it set up as `config` says (its apps,
    /// budget, backoff and lease).
    pub fn new(store: Store, config: EngineConfig) -> Self {
        let engine = Engine::with_config(store.clone(), config);
        Self {
            store,
            engine,
            pending: Arc::default(),
            sign_in_guard: Arc::default(),
            levels: Arc::default(),
        }
    }

    /// The use cases over `store`, with the apps users added to it (`apps add`) registered
    /// beside `config`'s: what every front end opens. An added app whose manifest no longer
    /// loads is left out with a warning naming it, so the others still work.
    pub async fn open(store: Store, config: EngineConfig) -> Result<Self, ServiceError> {
        let added = store.added_apps().await?;
        let (apps, unloadable) = config
            .apps
            .with_added(added.iter().map(|app| (app.id.as_str(), app.manifest.as_str())));
        for refused in unloadable {
            tracing::warn!(app = %refused.app, "{refused}");
        }
        Ok(Self::new(store, EngineConfig { apps, ..config }))
    }

    /// The engine the use cases run on, for what a serving process runs beside them: workers,
    /// triggers, webhook ingress.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Apply, list, show, enable, disable, delete, test and run flows.
    pub fn flows(&self) -> flows::Flows<'_> {
        flows::Flows { store: &self.store, engine: &self.engine }
    }

    /// List, show, count and replay runs.
    pub fn runs(&self) -> runs::Runs<'_> {
        runs::Runs { store: &self.store }
    }

    /// List, test, remove and make connections (OAuth's start and finish included).
    pub fn connections(&self) -> connections::Connections<'_> {
        connections::Connections {
            store: &self.store,
            engine: &self.engine,
            pending: &self.pending,
        }
    }

    /// List, show and install the templates (the seed use cases as flows).
    pub fn templates(&self) -> templates::Templates<'_> {
        templates::Templates { store: &self.store, engine: &self.engine }
    }

    /// A serving process's heartbeat: what tells `flows run` that queued runs are executed.
    pub fn workers(&self) -> workers::Workers<'_> {
        workers::Workers { store: &self.store }
    }

    /// Triggers' samples and the live preview of a mapping on one (the flow editor).
    pub fn samples(&self) -> samples::Samples<'_> {
        samples::Samples { store: &self.store, engine: &self.engine }
    }

    /// The dashboard's series: runs and webhooks per time bucket, the queue, rate budgets.
    pub fn dashboard(&self) -> dashboard::Dashboard<'_> {
        dashboard::Dashboard { store: &self.store, engine: &self.engine, levels: &self.levels }
    }

    /// Add, list and remove the apps a user described with a manifest.
    pub fn added_apps(&self) -> apps::AddedApps<'_> {
        apps::AddedApps { store: &self.store, engine: &self.engine }
    }

    /// Add, list and remove the web UI's users.
    pub fn users(&self) -> users::Users<'_> {
        users::Users { store: &self.store }
    }

    /// Sign in to the web UI, find a session by its token, sign out.
    pub fn sessions(&self) -> sessions::Sessions<'_> {
        sessions::Sessions { store: &self.store, guard: &self.sign_in_guard }
    }

    /// The actions and triggers of the engine's apps.
    pub fn catalog(&self) -> catalog::Catalog {
        catalog::Catalog::of(self.engine.apps())
    }

    /// The apps the engine knows: the built-in ones and those added to the store.
    pub fn engine_apps(&self) -> &ghl_engine::Apps {
        self.engine.apps()
    }
}
