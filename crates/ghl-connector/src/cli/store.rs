//! Opening the store: where it is (`--database-url`) and the master key that seals secrets
//! (`GHL_CONNECTOR_MASTER_KEY`, or the key file `ghl-connector init` writes).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ghl_store::{MasterKey, Store};

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// `sqlite:PATH` (the default, one file) or `postgres://user@host/db` to scale out.
    #[arg(
        long,
        env = "GHL_CONNECTOR_DATABASE_URL",
        default_value = "sqlite:ghl-connector.db",
        global = true
    )]
    pub database_url: String,
    /// The file holding the master key (see `ghl-connector init`).
    #[arg(
        long,
        env = "GHL_CONNECTOR_KEY_FILE",
        default_value = "ghl-connector.key",
        global = true
    )]
    pub key_file: PathBuf,
    /// The master key itself (base64), instead of the key file.
    #[arg(long, env = "GHL_CONNECTOR_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,
}

impl StoreArgs {
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(text) = &self.master_key {
            return MasterKey::from_base64(text).context("GHL_CONNECTOR_MASTER_KEY");
        }
        let text = std::fs::read_to_string(&self.key_file).with_context(|| {
            format!(
                "no master key: set GHL_CONNECTOR_MASTER_KEY or run `ghl-connector init` to create {}",
                self.key_file.display()
            )
        })?;
        MasterKey::from_base64(&text)
            .with_context(|| format!("the key file {}", self.key_file.display()))
    }

    pub async fn open(&self) -> anyhow::Result<Store> {
        let key = self.master_key()?;
        Store::open(&self.database_url, &key)
            .await
            .with_context(|| format!("cannot open the store {}", redact(&self.database_url)))
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Writes a new master key to `path` (mode 0600), refusing to overwrite one.
pub fn write_new_key(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (it may exist already: a key is never overwritten)",
            path.display()
        )
    })?;
    writeln!(file, "{}", MasterKey::generate().to_base64())?;
    Ok(())
}
