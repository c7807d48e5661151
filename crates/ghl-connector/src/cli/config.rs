//! `--config FILE` (or `GHL_CONNECTOR_CONFIG`): settings from a TOML file. Each key stands
//! for the environment variable `GHL_CONNECTOR_<KEY>`, and is used only where that variable is
//! not set, so the order is: flag, then environment, then file, then default. Clap reads the
//! variables, so every setting is checked in one place, whatever its source.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The settings a file may hold (the environment variable of each is `GHL_CONNECTOR_` and its
/// name in capitals).
pub const KEYS: [&str; 13] = [
    "database_url",
    "key_file",
    "master_key",
    "host",
    "port",
    "workers",
    "admin_token",
    "webhook_ed25519_key",
    "webhook_rsa_pem_file",
    "run_lease_secs",
    "runaway_runs_per_minute",
    "log_format",
    "log",
];

/// The environment variables a config file's text stands for, minus those already set.
pub fn variables(
    text: &str,
    is_set: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse().context("not TOML")?;
    let mut variables = Vec::new();
    for (key, value) in table {
        if !KEYS.contains(&key.as_str()) {
            bail!("unknown setting `{key}` (known: {})", KEYS.join(", "));
        }
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => bail!("`{key}`: a string or a number, not {}", other.type_str()),
        };
        let name = format!("GHL_CONNECTOR_{}", key.to_ascii_uppercase());
        if !is_set(&name) {
            variables.push((name, value));
        }
    }
    Ok(variables)
}

/// The config file named by `--config FILE` (or `--config=FILE`) in `args`, else by
/// `GHL_CONNECTOR_CONFIG`.
pub fn path(args: impl Iterator<Item = String>) -> Option<PathBuf> {
    let mut args = args.skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("GHL_CONNECTOR_CONFIG").map(PathBuf::from)
}

/// Sets the variables of the config file at `path` that the environment does not set. Call
/// before any thread starts (the environment is process-wide).
pub fn load(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let found = variables(&text, |name| std::env::var_os(name).is_some())
        .with_context(|| format!("the config file {}", path.display()))?;
    for (name, value) in found {
        std::env::set_var(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_fills_what_the_environment_leaves_unset() {
        let text = "port = 9000\nworkers = 4\nhost = \"0.0.0.0\"\n";
        let found = variables(text, |name| name == "GHL_CONNECTOR_HOST").expect("valid");
        assert_eq!(
            found,
            [
                ("GHL_CONNECTOR_PORT".to_owned(), "9000".to_owned()),
                ("GHL_CONNECTOR_WORKERS".to_owned(), "4".to_owned())
            ]
        );
    }

    #[test]
    fn unknown_settings_and_odd_values_are_named() {
        let error = variables("prot = 1", |_| false).expect_err("unknown").to_string();
        assert!(error.contains("unknown setting `prot`"), "{error}");
        let error = variables("port = [1]", |_| false).expect_err("array").to_string();
        assert!(error.contains("`port`"), "{error}");
        assert!(variables("port = ", |_| false).is_err());
    }
}
