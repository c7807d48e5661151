//! What can go wrong in a use case, by what the caller should do about it; each front end maps
//! it once (the REST API to a status and a `remedy` field, the CLI to a message and a command).

use ghl_engine::connections::ConnectionError;
use ghl_engine::flow::FlowError;
use ghl_engine::EngineError;
use ghl_types::remedy::{Listing, Remedy};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no flow named `{0}`")]
    NoFlow(String),
    #[error("no connection named `{0}`")]
    NoConnection(String),
    #[error("no run {0}")]
    NoRun(ghl_store::RunId),
    /// Only a dead-lettered run can be replayed.
    #[error("run {0} is not dead-lettered (or does not exist)")]
    NotReplayable(ghl_store::RunId),
    /// The flow file given is refused (the line and the rule at fault).
    #[error(transparent)]
    InvalidFlow(FlowError),
    /// A stored flow does not load (with today's apps).
    #[error(transparent)]
    BrokenFlow(FlowError),
    /// A record is to be read for a test, and the flow names no connection to read it with.
    #[error("the flow uses no connection to read the contact with")]
    NothingToRead,
    /// Reading the record a test runs on failed.
    #[error(transparent)]
    Read(ghl_client::Error),
    /// The engine refuses it (a connection missing, of another app or without a scope).
    #[error(transparent)]
    Refused(EngineError),
    /// A connection cannot be used.
    #[error(transparent)]
    Connection(ConnectionError),
    #[error(transparent)]
    UnknownApp(ghl_engine::apps::UnknownApp),
    /// An address given or derived is not one.
    #[error("{what}: {reason}")]
    BadAddress { what: String, reason: String },
    /// The authorization failed (its state does not match one started here, or the token
    /// endpoint refused the code).
    #[error(transparent)]
    OAuth(ghl_client::Error),
    /// The user approved fewer scopes than were asked for.
    #[error(
        "{app} did not grant {} (granted: {}); approve every scope asked for",
        missing.join(", "),
        if granted.is_empty() { "nothing".to_owned() } else { granted.join(", ") }
    )]
    NotGranted { app: String, missing: Vec<String>, granted: Vec<String> },
    /// The token is not for an account of the kind a connection speaks for.
    #[error("the token is not for a {account}")]
    NoAccount { account: String },
    /// The manifest given is refused (its line and the reason).
    #[error("the manifest is refused: {0}")]
    InvalidManifest(ghl_apps::ManifestError),
    /// A manifest takes the id of an app the program has already.
    #[error("`{0}` is the id of an app this program ships; give your app another `app:` id")]
    AppIdTaken(String),
    #[error("no added app `{0}`")]
    NoAddedApp(String),
    /// An added app still has connections.
    #[error("app `{app}` is used by the connections {}; remove them first", connections.join(", "))]
    AppInUse { app: String, connections: Vec<String> },
    /// A credential the app's connections need was not given.
    #[error("{app} needs the credential `{credential}`; give it (`--credential {credential}` prompts for it, or set GHL_CONNECTOR_CREDENTIAL_{})", credential.to_uppercase())]
    MissingCredential { app: String, credential: String },
    /// A credential given is not one the app's connections take.
    #[error("{app} takes no credential `{credential}` (it takes {})", known.join(", "))]
    UnknownCredential { app: String, credential: String, known: Vec<String> },
    /// The app is connected another way than the one asked for.
    #[error("{app} cannot be connected with {flow}; `ghl-connector connect {app}` connects it the way its manifest says")]
    WrongConnectFlow { app: String, flow: String },
    /// A connection being made was refused by the app (a wrong key, an expired token): its
    /// words, and what to do.
    #[error("{app} refused the credentials given for `{connection}`: {reason}; check them and connect again")]
    CredentialsRefused { app: String, connection: String, reason: String },
    /// An app's sandbox did not go through its OAuth flow as sandboxes do.
    #[error(
        "the {app} sandbox could not be connected: {reason}; is it running at the address given?"
    )]
    SandboxRefused { app: String, reason: String },
    #[error("no template named `{name}` (the templates: {})", known.join(", "))]
    NoTemplate { name: String, known: Vec<String> },
    /// A connection was chosen for a slot the template does not have.
    #[error("template `{template}` has no connection `{slot}` (it takes {})", slots.join(", "))]
    NoSlot { template: String, slot: String, slots: Vec<String> },
    /// No connection was chosen for a slot, and none fills it unasked.
    #[error("template `{template}` needs a {app} connection for `{slot}`{}", match candidates.as_slice() {
        [] => String::from(", and there is none"),
        several => format!(": choose one of {} with `{slot}=NAME`", several.join(", ")),
    })]
    SlotUnfilled { template: String, slot: String, app: String, candidates: Vec<String> },
    /// A user of that name exists already.
    #[error("there is a user named `{0}` already; remove it first, or choose another name")]
    UserExists(String),
    #[error("no user named `{0}`")]
    NoUser(String),
    /// A user's name or password is refused (the reason says which and why).
    #[error("{0}")]
    BadUser(String),
    /// A sign-in whose name or password is wrong (which of the two is not said).
    #[error("wrong name or password")]
    WrongSignIn,
    /// Too many wrong sign-ins for one name lately: it is held for a while (`sign_in_guard`).
    #[error("too many wrong passwords for this name: try again in {minutes} minutes")]
    SignInHeld { minutes: u64 },
    /// A password could not be hashed or checked: nothing the caller can fix.
    #[error("cannot hash the password: {0}")]
    PasswordHash(String),
    /// No trigger of this id in the catalog.
    #[error("no trigger `{0}` in the catalog (GET /api/catalog lists them; `ghl-connector catalog` too)")]
    NoTrigger(String),
    /// The flow has no step of this name.
    #[error("flow `{flow}` has no step `{step}` (its steps: {})", if steps.is_empty() { "none".to_owned() } else { steps.join(", ") })]
    NoStep { flow: String, step: String, steps: Vec<String> },
    /// A mapping is not valid jq, or failed on the sample.
    #[error("the mapping is refused: {0}")]
    Mapping(ghl_engine::jq::JqError),
    /// The store failed: nothing the caller can fix.
    #[error(transparent)]
    Store(ghl_store::Error),
}

impl ServiceError {
    /// What to do about it, for each front end to say its own way.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::NoFlow(_) => Some(Remedy::Choose { from: Listing::Flows }),
            Self::NoConnection(_) | Self::AppInUse { .. } => {
                Some(Remedy::Choose { from: Listing::Connections })
            }
            Self::Refused(err) => err.remedy(),
            Self::NoTemplate { .. } => Some(Remedy::Choose { from: Listing::Templates }),
            Self::SlotUnfilled { app, candidates, .. } if candidates.is_empty() => {
                Some(Remedy::Connect { app: Some(app.clone()), connection: None })
            }
            Self::Connection(err) => err.remedy(),
            Self::NoRun(_)
            | Self::NotReplayable(_)
            | Self::InvalidFlow(_)
            | Self::BrokenFlow(_)
            | Self::NothingToRead
            | Self::Read(_)
            | Self::UnknownApp(_)
            | Self::BadAddress { .. }
            | Self::OAuth(_)
            | Self::NotGranted { .. }
            | Self::NoAccount { .. }
            | Self::InvalidManifest(_)
            | Self::AppIdTaken(_)
            | Self::NoAddedApp(_)
            | Self::MissingCredential { .. }
            | Self::WrongConnectFlow { .. }
            | Self::CredentialsRefused { .. }
            | Self::SandboxRefused { .. }
            | Self::UnknownCredential { .. }
            | Self::NoSlot { .. }
            | Self::SlotUnfilled { .. }
            | Self::UserExists(_)
            | Self::NoUser(_)
            | Self::BadUser(_)
            | Self::WrongSignIn
            | Self::SignInHeld { .. }
            | Self::PasswordHash(_)
            | Self::NoTrigger(_)
            | Self::NoStep { .. }
            | Self::Mapping(_)
            | Self::Store(_) => None,
        }
    }
}

impl From<ghl_store::Error> for ServiceError {
    fn from(err: ghl_store::Error) -> Self {
        Self::Store(err)
    }
}

impl From<EngineError> for ServiceError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Store(err) => Self::Store(err),
            EngineError::Flow(err) => Self::InvalidFlow(err),
            EngineError::UnknownFlow(name) => Self::NoFlow(name),
            err => Self::Refused(err),
        }
    }
}

impl From<ConnectionError> for ServiceError {
    fn from(err: ConnectionError) -> Self {
        match err {
            ConnectionError::Store(err) => Self::Store(err),
            ConnectionError::Missing(name) => Self::NoConnection(name),
            err => Self::Connection(err),
        }
    }
}
