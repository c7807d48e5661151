//! Why a manifest was refused, and where: a line (and column when the YAML parser knows it)
//! and a reason in words a user can act on.

use std::fmt;

/// A refused manifest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ManifestError {
    /// 1-based.
    pub line: usize,
    /// 1-based, when known.
    pub column: Option<usize>,
    pub problem: Problem,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// What is wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the manifest is {size} bytes; at most {max} are allowed")]
    TooLarge { size: usize, max: usize },
    #[error("the YAML nests more than {max} levels deep; a manifest needs far fewer")]
    TooDeep { max: usize },
    /// Not YAML, or YAML of the wrong shape: an unknown or missing field, a wrong type, a
    /// bad value (serde's words, with the path of the field).
    #[error("{0}")]
    Shape(String),
    #[error(
        "`{0}` is not an app id; write lowercase letters, digits and `-`, starting with a \
         letter (like `your-app`)"
    )]
    AppId(String),
    #[error(
        "`{0}` is not an operation name; write letters, digits, `-` and `_`, starting with a \
         letter (like `create-item`)"
    )]
    OperationName(String),
    #[error("two operations are named `{0}`; give each its own name")]
    DuplicateOperation(String),
    #[error("two polls are named `{0}`; give each its own name")]
    DuplicatePoll(String),
    #[error("two webhook events are named `{0}`; give each its own name")]
    DuplicateEvent(String),
    #[error("operation `{operation}`: the path `{path}` must start with `/` (or be `\"\"`)")]
    PathStart { operation: String, path: String },
    #[error(
        "operation `{operation}`: the path has `{{{param}}}` but `path_params` does not \
         declare it; add `{param}: {{type: string}}` under `path_params`"
    )]
    UndeclaredPathParam { operation: String, param: String },
    #[error(
        "operation `{operation}`: `path_params` declares `{param}` but the path has no \
         `{{{param}}}`"
    )]
    UnusedPathParam { operation: String, param: String },
    #[error(
        "operation `{operation}` is a {method}: say what repeating it does with `write: \
         {{kind: ...}}` (read, idempotent, idempotency_key, natural_key, child_of or \
         not_repeatable)"
    )]
    WriteMissing { operation: String, method: String },
    #[error("operation `{operation}` is a GET, which must not write (`write: {{kind: {kind}}}`)")]
    GetWrites { operation: String, kind: String },
    #[error("operation `{operation}` is a GET, which carries no body")]
    GetWithBody { operation: String },
    #[error("operation `{operation}`: the body gives {which}; give `fields` or `schema`")]
    BodyFieldsOrSchema { operation: String, which: &'static str },
    #[error("operation `{operation}`: the body's schema is not a JSON schema: {reason}")]
    BodySchema { operation: String, reason: String },
    /// A reference to an operation that the manifest does not have.
    #[error("{what}: `{name}` is not an operation of this manifest (they are: {known})")]
    UnknownOperation { what: String, name: String, known: String },
    /// A reference to an operation that writes where a read is needed.
    #[error("{what}: operation `{name}` writes; a read is needed here")]
    NotARead { what: String, name: String },
    /// A parameter the manifest uses but the operation does not declare.
    #[error("{what}: `{param}` is not a parameter of operation `{operation}`; declare it there")]
    UndeclaredParam { what: String, operation: String, param: String },
    #[error("{what}: `{name}` is not a webhook event of this manifest (they are: {known})")]
    UnknownEvent { what: String, name: String, known: String },
    #[error("{what}: `{name}` is not a poll of this manifest (they are: {known})")]
    UnknownPoll { what: String, name: String, known: String },
    #[error("operation `{operation}`: paging needs a list, but the method is {method}")]
    PagingOnWrite { operation: String, method: String },
    /// Anything else that is wrong with one value, said in full.
    #[error("{0}")]
    Invalid(String),
}
