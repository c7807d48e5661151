//! What an app's API does that its manifest cannot say, one module per app. The generic
//! REST sandbox (`rest.rs`) asks [`of`] the app's quirks at each point where apps differ;
//! an app without a module here behaves as its manifest says.

pub mod nozbe;

use axum::http::{HeaderMap, StatusCode};
use ghl_sandbox_kit::ids;
use rand_chacha::ChaCha8Rng;

use crate::rest::Record;

/// A refusal before anything else: status, code and message.
pub type Refusal = (StatusCode, &'static str, String);

/// The points where a REST app may depart from the generic sandbox; each default is the
/// generic behaviour.
pub trait Quirks: Send + Sync {
    /// A request the app refuses whoever sends it (a header it requires), checked before
    /// the credentials.
    fn refuse(&self, _headers: &HeaderMap) -> Option<Refusal> {
        None
    }

    /// A new record's id.
    fn new_id(&self, rng: &mut ChaCha8Rng) -> String {
        ids::new_id(rng)
    }

    /// A refusal of a written record the manifest's types cannot express (a length, a
    /// minimum), naming the field.
    fn check(&self, _resource: &str, _record: &Record) -> Result<(), String> {
        Ok(())
    }

    /// What the app fills in on a new record of `resource` (`/tasks`) besides its id and
    /// times; `account` is the sandbox's account (the credentials' owner).
    fn created(&self, _resource: &str, _record: &mut Record, _account: &str) {}

    /// What the app changes on an updated record besides its modification time.
    fn updated(&self, _resource: &str, _record: &mut Record) {}

    /// Whether a `PUT` changes only the fields it gives (else it replaces the record).
    fn put_merges(&self) -> bool {
        false
    }

    /// The status of a refused body (a required field missing, a wrong type).
    fn invalid_status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    /// Whether a `DELETE` of a `resource` record answers the deleted record.
    fn delete_answers_record(&self, _resource: &str) -> bool {
        false
    }

    /// Whether `record` passes the list parameter `name=value`; `None` leaves it to the
    /// generic rule (the field equals the value).
    fn matches(&self, _record: &Record, _name: &str, _value: &str) -> Option<bool> {
        None
    }
}

struct Generic;

impl Quirks for Generic {}

/// The quirks of `app`.
pub fn of(app: &str) -> &'static dyn Quirks {
    match app {
        "nozbe" => &nozbe::Nozbe,
        _ => &Generic,
    }
}
