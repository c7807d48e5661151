//! What an operation does to the app, and what makes repeating it safe: a read, an
//! idempotent write, a write the app deduplicates by an idempotency key, a create whose lost
//! answer is found again by a natural key or among its parent's children, or a write that
//! must never be repeated blindly. The runtime records a write's intent before sending it
//! and, after an ambiguous outcome, does what this says.

use serde::{Deserialize, Serialize};

use crate::place::{Param, Pointer};
use crate::template::Template;

/// `write:` of an operation. An operation that is not a `GET` must say one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Write {
    /// Changes nothing though it is not a `GET` (a search sent as `POST`).
    Read,
    /// Doing it twice leaves the app as doing it once (`PUT` of a whole record, `DELETE`).
    Idempotent,
    /// The app deduplicates repeats carrying the same key in this header; the runtime sends
    /// one stable key per intended write.
    IdempotencyKey { header: String },
    /// A create of a record unique by some of its fields: after an ambiguous outcome the
    /// record is looked up by them before anything is retried.
    NaturalKey(NaturalKey),
    /// A create of a child record (a contact's task): after an ambiguous outcome, the newest
    /// of the parent's children made since the call began whose fields match is the one.
    ChildOf(ChildOf),
    /// Nothing tells whether it happened (a chat message): an ambiguous outcome is not
    /// retried but shown to a person (dead letter), since a twin is worse than a gap.
    NotRepeatable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaturalKey {
    /// A read operation that finds records by the keys.
    pub lookup: String,
    /// Which body field of the create goes in which parameter of the lookup; the first key
    /// the body has is used.
    pub keys: Vec<KeyMatch>,
    /// Where the found records are in the lookup's answer (default: its `response.record`).
    #[serde(default)]
    pub records: Option<Pointer>,
    /// Without any key in the body nothing identifies the record: the newest record (made
    /// since the call began) whose `fields` equal the body's, found by this search.
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// When the app refuses a duplicate and names the record it collides with, that record
    /// is the one a lost attempt made (HighLevel's duplicate-contact rule).
    #[serde(default)]
    pub duplicate: Option<DuplicateProof>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyMatch {
    /// A body field of the create.
    pub field: String,
    /// The lookup's parameter taking it.
    pub param: Param,
    /// When the parameter is an expression the app parses (`email == "{value}"`): the key
    /// goes in its `{value}`, quoted.
    #[serde(default)]
    pub template: Option<Template>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// A read operation (a search).
    pub search: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateProof {
    /// Where the refusal's body names the existing record's id.
    pub id_at: Pointer,
    /// The read operation that fetches it, and its id parameter.
    pub read: String,
    pub read_id: Param,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildOf {
    /// Where the create names its parent; the list operation takes it under the same name.
    pub parent: Param,
    /// Lists the parent's children.
    pub list: String,
    /// Body fields that must equal the found record's (those the body leaves out match
    /// any).
    #[serde(default)]
    pub matching: Vec<String>,
    /// Body fields holding times, compared as instants (`10:00:00Z` is `10:00:00.000Z`).
    #[serde(default)]
    pub same_instant: Vec<String>,
}

impl Write {
    /// Whether the operation changes anything.
    pub fn writes(&self) -> bool {
        !matches!(self, Self::Read)
    }

    /// The kind as a manifest spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Idempotent => "idempotent",
            Self::IdempotencyKey { .. } => "idempotency_key",
            Self::NaturalKey(_) => "natural_key",
            Self::ChildOf(_) => "child_of",
            Self::NotRepeatable => "not_repeatable",
        }
    }
}
