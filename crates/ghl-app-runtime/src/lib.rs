//! One runtime for every manifest app (issue 10, "One runtime"). A `ManifestClient` executes
//! any operation of any manifest over HTTP through the machinery the HighLevel client has:
//! the step's input checked against the operation before anything is sent (`request`),
//! every auth kind (`auth`), ghl-client's shared `RateBudget` per (app, account) corrected
//! by the manifest's rate-limit headers, answers classified by the manifest's error rules
//! then the defaults (`answer`), ghl-client's `Backoff` honouring `Retry-After`, ambiguous
//! writes recovered as their `write:` says (`recovery`), list operations as streams in every
//! paging style (`paging`), and outgoing webhooks signed per Standard Webhooks. Errors are
//! typed (`RuntimeError`), name the app, the operation and the field, and convert into
//! `ghl_client::Error` for the engine. No app is known by name here.

mod answer;
mod auth;
mod client;
pub mod connection;
pub mod error;
mod paging;
mod recovery;
pub mod request;

pub use auth::{oauth_app, oauth_options};
pub use client::{Checked, ManifestClient};
pub use connection::{Connection, Credentials};
pub use error::RuntimeError;
pub use request::Request;
