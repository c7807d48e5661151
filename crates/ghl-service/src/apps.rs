//! Apps a user adds from a manifest (`ghl-connector apps add FILE`, the REST API and the UI
//! next): a manifest is checked the way a flow is (refused with its line and reason, nothing
//! stored), may not take the id of an app the program ships, and is kept as written.

use ghl_apps::{load, Manifest};
use ghl_store::{AddedApp, Store};

use crate::ServiceError;

/// The app ids no added manifest may take: the apps registered in the engine (less those
/// added, which a new version of their manifest replaces), the manifests shipped with the
/// program, and the utility steps' prefixes.
fn reserved(engine: &ghl_engine::Engine, added: &[AddedApp]) -> Vec<String> {
    let mut ids: Vec<String> = engine
        .apps()
        .names()
        .into_iter()
        .filter(|id| !added.iter().any(|app| app.id == *id))
        .collect();
    ids.extend(ghl_apps::builtin::MANIFESTS.iter().map(|(id, _)| (*id).to_owned()));
    ids.extend(["http", "util", "webhook"].map(str::to_owned));
    ids
}

/// A manifest added.
#[derive(Debug, Clone)]
pub struct Added {
    pub manifest: Manifest,
    /// Whether it replaced the manifest added before under the same id.
    pub replaced: bool,
}

/// The added apps of one store.
pub struct AddedApps<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a ghl_engine::Engine,
}

impl AddedApps<'_> {
    /// Checks a manifest without adding it.
    pub fn check(text: &str) -> Result<Manifest, ServiceError> {
        load(text).map_err(ServiceError::InvalidManifest)
    }

    /// Checks a manifest and keeps it (replacing one added before under its id).
    pub async fn add(&self, text: &str) -> Result<Added, ServiceError> {
        let manifest = Self::check(text)?;
        let added = self.store.added_apps().await?;
        if reserved(self.engine, &added).contains(&manifest.app) {
            return Err(ServiceError::AppIdTaken(manifest.app));
        }
        let replaced = self.store.put_added_app(&manifest.app, text).await?;
        Ok(Added { manifest, replaced })
    }

    /// Every added app, by id.
    pub async fn list(&self) -> Result<Vec<AddedApp>, ServiceError> {
        Ok(self.store.added_apps().await?)
    }

    /// Removes an added app, unless a connection still uses it (remove those first).
    pub async fn remove(&self, id: &str) -> Result<(), ServiceError> {
        let users: Vec<String> = self
            .store
            .connections()
            .await?
            .into_iter()
            .filter(|connection| connection.app == id)
            .map(|connection| connection.name)
            .collect();
        if !users.is_empty() {
            return Err(ServiceError::AppInUse { app: id.to_owned(), connections: users });
        }
        if !self.store.remove_added_app(id).await? {
            return Err(ServiceError::NoAddedApp(id.to_owned()));
        }
        Ok(())
    }
}
