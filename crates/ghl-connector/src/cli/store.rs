//! Opening the store: where it is (`--database-url`) and the master key that seals secrets
//! (`GHL_CONNECTOR_MASTER_KEY`, or the key file `ghl-connector init` writes).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ghl_service::Service;
use ghl_store::{redact_url, MasterKey, Store};

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

    /// Opens the store; an unreachable database or a wrong key is one message that says what
    /// to do.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let key = self.master_key()?;
        match Store::open(&self.database_url, &key).await {
            Ok(store) => Ok(store),
            Err(ghl_store::Error::WrongKey) => Err(anyhow::anyhow!(
                "the master key does not open the store {}: its secrets were sealed under \
                 another key ({}). Use the key the store was created with (its key file, or \
                 GHL_CONNECTOR_MASTER_KEY); a new key cannot read what the old one sealed",
                redact_url(&self.database_url),
                self.key_source(),
            )),
            Err(err @ ghl_store::Error::Unreachable { .. }) => Err(err.into()),
            Err(err) => Err(anyhow::Error::new(err)
                .context(format!("cannot open the store {}", redact_url(&self.database_url)))),
        }
    }

    /// The use cases over this store (an engine with the built-in apps and those added).
    pub async fn service(&self) -> anyhow::Result<Service> {
        Ok(Service::open(self.open().await?, ghl_engine::EngineConfig::default()).await?)
    }

    /// Where the key in use came from, for messages.
    fn key_source(&self) -> String {
        match &self.master_key {
            Some(_) => "the key given is GHL_CONNECTOR_MASTER_KEY".into(),
            None => format!("the key given is the file {}", self.key_file.display()),
        }
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
