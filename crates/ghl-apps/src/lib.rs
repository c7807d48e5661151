//! Apps as data. An app the connector can act on and be triggered by is described by a
//! manifest, one YAML file: its base URL, auth, operations (paths, parameters, bodies, where
//! the record is, paging, what repeating a write does), error rules, rate limits and
//! triggers (webhooks with their signature scheme, polls). This crate holds the manifest
//! types, the loader that refuses a faulty manifest with the line and the reason, the
//! manifests shipped with the binary, and the webhook signature schemes. It does no IO and
//! knows no runtime: the engine's runtime executes a `Manifest`.

pub mod auth;
pub mod builtin;
mod checks;
pub mod error;
pub mod error_rules;
pub mod loader;
mod locate;
pub mod manifest;
pub mod paging;
pub mod place;
pub mod rate_limit;
pub mod signatures;
mod tagged;
pub mod template;
pub mod triggers;
pub mod writes;

pub use error::{ManifestError, Problem};
pub use loader::{load, MAX_MANIFEST_BYTES};
pub use manifest::{Manifest, Operation};
