//! What an app's sandbox does that its manifest cannot say: each app's quirks in its own
//! module, chosen by app id in [`of`]; every hook's default is the generic sandbox's
//! behaviour, so an app without a module is served as its manifest says.

pub mod bqe_core;

use axum::http::StatusCode;
use rand::RngCore;

use crate::rest::Record;

/// An app's refusal of a request (its status, error code and message), answered in the
/// app's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Hooks of the REST sandbox where an app departs from the generic behaviour.
pub trait Quirks: Send + Sync {
    /// A new record's id (BQE's GUIDs); `None`: the generic 20-character id.
    fn new_id(&self, _rng: &mut dyn RngCore) -> Option<String> {
        None
    }

    /// Records the app holds before any is made, by resource (`/employee`): what a real
    /// account has that the manifest only reads.
    fn seed(&self, _rng: &mut dyn RngCore) -> Vec<(String, Record)> {
        Vec::new()
    }

    /// The status of a body the app refuses (a required field missing, a wrong type).
    fn invalid_status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    /// An update checked against the stored record before anything changes.
    fn check_update(&self, _stored: &Record, _changes: &Record) -> Result<(), Refusal> {
        Ok(())
    }

    /// A record just created or updated, before it is stored and answered.
    fn stamp(&self, _record: &mut Record) {}
}

/// The generic sandbox: no quirks.
struct Generic;

impl Quirks for Generic {}

/// The quirks of `app`.
pub fn of(app: &str) -> Box<dyn Quirks> {
    match app {
        "bqe-core" => Box::new(bqe_core::BqeCore::default()),
        _ => Box::new(Generic),
    }
}
