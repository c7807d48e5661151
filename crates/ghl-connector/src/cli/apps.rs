//! `ghl-connector apps add | check | list | remove`: the apps a user describes with a manifest
//! (docs/apps/manifest.md). A manifest is checked before it is stored; a refusal names the file,
//! the line and the reason.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use ghl_service::apps::AddedApps;

use super::flows::read_bounded;
use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Check a manifest and add its app to the store (replacing the one added before under its
    /// id).
    Add {
        /// The manifest (YAML).
        file: PathBuf,
    },
    /// Check a manifest without adding it: says the first mistake with its line.
    Check {
        /// The manifest (YAML).
        file: PathBuf,
    },
    /// The shipped apps and those added to this store.
    List,
    /// Remove an added app (its connections must be removed first).
    Remove {
        /// The app's id (the manifest's `app:`).
        id: String,
    },
}

pub async fn apps(command: AppsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        AppsCommand::Add { file } => {
            let text = read_manifest(&file)?;
            let service = store.service().await?;
            let added = service
                .added_apps()
                .add(&text)
                .await
                .with_context(|| format!("{} is not added", file.display()))?;
            let verb = if added.replaced { "replaced" } else { "added" };
            say!(
                "{verb} `{}` ({}): {} operations",
                added.manifest.app,
                added.manifest.title,
                added.manifest.operations.len()
            );
        }
        AppsCommand::Check { file } => {
            let text = read_manifest(&file)?;
            let manifest =
                AddedApps::check(&text).with_context(|| format!("{}", file.display()))?;
            say!(
                "{}: `{}` loads ({} operations)",
                file.display(),
                manifest.app,
                manifest.operations.len()
            );
        }
        AppsCommand::List => {
            let service = store.service().await?;
            let added = service.added_apps().list().await?;
            // The engine knows the added apps too; they are listed as such, below.
            let mut shipped = service.engine().apps().names();
            shipped.retain(|id| !added.iter().any(|app| &app.id == id));
            shipped.sort();
            for id in shipped {
                say!("{id:<24} shipped");
            }
            for app in added {
                say!("{:<24} added {}", app.id, app.added_at);
            }
        }
        AppsCommand::Remove { id } => {
            store.service().await?.added_apps().remove(&id).await?;
            say!("removed `{id}`");
        }
    }
    Ok(())
}

fn read_manifest(file: &Path) -> anyhow::Result<String> {
    read_bounded(file, ghl_apps::MAX_MANIFEST_BYTES)
}
