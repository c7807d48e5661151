//! The app registry: every app the engine can act on or be triggered by is an [`App`]
//! registered in the [`Apps`] the engine is given. An app says what it is, as data it owns
//! and builds once (its [`OperationSpec`]s, webhook events, [`PollSource`]s), how a webhook
//! of it is verified and becomes an event (its `Verifier`, the dedup key), and how a
//! connection's secret becomes an [`AppClient`] that sends its requests. Nothing here asks an
//! app for a `'static` table or a function pointer, so an app read from a file at run time
//! (a manifest) implements it as HighLevel does. The generic layers (flows, catalog, runs,
//! triggers, server, CLI) know apps only through this module; HighLevel is one registered app
//! (`highlevel.rs`).

mod error;
pub mod highlevel;
pub mod manifest;
pub mod manifest_webhooks;
mod operation;
mod poll;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::BoxStream;
use ghl_client::{RateBudget, TokenStore};
use ghl_store::NewEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::error::{ClientError, UnstoredClientError, WebhookKeysError};
pub use self::operation::{
    CallOptions, OperationFields, OperationSpec, PathTemplate, RequestParts,
};
pub use self::poll::{PageRequest, PollQuery, PollSort, PollSource, TimeFormat};
use crate::connections::AuthSecret;
use crate::inbound::Verifier;

/// An app's name as flows, connections and the CLI spell it: `highlevel`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(Cow<'static, str>);

impl AppId {
    /// An app id known when the program is written (lowercase letters, digits and `-`).
    pub const fn from_static(id: &'static str) -> Self {
        Self(Cow::Borrowed(id))
    }

    /// Parses an app id: lowercase ASCII letters, digits and `-`, starting with a letter.
    pub fn parse(text: &str) -> Result<Self, InvalidAppId> {
        let valid = text.len() <= 40
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(InvalidAppId(text.to_owned()));
        }
        Ok(Self(Cow::Owned(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text that is not an app name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an app name (lowercase letters, digits and `-`, like `highlevel`)")]
pub struct InvalidAppId(pub String);

impl TryFrom<String> for AppId {
    type Error = InvalidAppId;
    fn try_from(text: String) -> Result<Self, InvalidAppId> {
        Self::parse(&text)
    }
}

impl From<AppId> for String {
    fn from(id: AppId) -> Self {
        id.0.into_owned()
    }
}

impl PartialEq<str> for AppId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The `http` pseudo-app: `http.request` steps and their connections (credential headers). It
/// is a utility, not a registered app.
pub const HTTP: AppId = AppId::from_static("http");

/// An action of an app: one of its operations (`highlevel.create-contact`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppOperation {
    pub app: AppId,
    pub operation: Arc<OperationSpec>,
}

impl AppOperation {
    /// `app.operation`, as flows name it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.app, self.operation.id)
    }
}

/// A webhook event an app sends, as a flow's trigger (`highlevel: ContactCreate`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub name: String,
    /// Fields of `.trigger`.
    pub fields: Vec<String>,
    /// A poll source (of the same app, with a creation time) that finds records whose
    /// webhook was lost, by their creation time: the flow's reconciliation poll.
    pub reconciled_by: Option<String>,
}

/// The poll source that finds the records of `event` whose webhook was lost: the event's
/// `reconciled_by`, if the app has that source and its records say when they were created.
pub fn reconciling_source<'a>(app: &'a dyn App, event: &str) -> Option<&'a PollSource> {
    let source = app.events().into_iter().find(|known| known.name == event)?.reconciled_by?;
    app.poll_sources().iter().find(|known| known.name == source && known.created.is_some())
}

/// A connection's secret, and what a client of it may share with the rest of the process.
pub struct ClientContext<'a> {
    /// The connection's name.
    pub name: &'a str,
    pub auth: AuthSecret,
    /// The process's rate budget, shared by every client.
    pub budget: Arc<dyn RateBudget>,
    /// Where the connection's OAuth tokens are kept (its sealed secret).
    pub tokens: Arc<dyn TokenStore>,
}

/// An address a stored connection keeps (`what`: `base URL`, `token endpoint`), as a URL.
pub(crate) fn stored_url(what: &'static str, text: &str) -> Result<url::Url, ClientError> {
    text.parse().map_err(|source| ClientError::InvalidUrl { what, source })
}

/// The OAuth client a stored OAuth connection was made as: its id and secret, and the
/// addresses it was made with, parsed. No extra token form, no options: its app adds its own.
pub(crate) fn stored_oauth_app(
    client_id: String,
    client_secret: String,
    authorize_url: &str,
    token_url: &str,
    redirect_uri: &str,
) -> Result<ghl_client::OAuthApp, ClientError> {
    Ok(ghl_client::OAuthApp {
        client_id,
        client_secret: client_secret.into(),
        authorize_url: stored_url("authorization page", authorize_url)?,
        token_url: stored_url("token endpoint", token_url)?,
        redirect_uri: stored_url("redirect address", redirect_uri)?,
        extra_form: Vec::new(),
        options: Default::default(),
    })
}

/// How `connect APP` talks to an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// Where its API is, unless `--base-url` says otherwise.
    pub default_base_url: String,
    /// What the account a connection speaks for is called (`location`).
    pub account: String,
    /// Scopes every OAuth connection asks for.
    pub base_scopes: Vec<String>,
    /// Scopes `--write` adds.
    pub write_scopes: Vec<String>,
    /// Scopes recorded for a private token (chosen in the app, out of sight).
    pub private_token_scopes: String,
    /// The OAuth authorization page for its own API (another base URL has its own).
    pub authorize_url: Option<String>,
    /// The authorization page's path under another base URL (a sandbox's).
    pub authorize_path: String,
    /// The OAuth token endpoint for its own API, when it is not under the base URL (a
    /// manifest's absolute `token_url`; another base URL has its own under `token_path`).
    pub token_url: Option<String>,
    /// The token endpoint's path under the base URL.
    pub token_path: String,
    /// Form fields the token endpoint takes beyond OAuth's own (HighLevel's `user_type`).
    pub token_form: Vec<(&'static str, &'static str)>,
    /// What its authorization code flow asks beyond HighLevel's (PKCE, Basic client auth,
    /// the API base URL in the token answer).
    pub oauth: ghl_client::OAuthOptions,
    /// How a connection is made: named credentials, a token, or an OAuth flow.
    pub flow: ConnectFlow,
    /// The named credentials a connection gives (a manifest's `Auth::credentials`: an
    /// `api_key`, a `login` and `secret_key`, a `url`), in the order `connect` asks for them;
    /// empty for an app connected with a token or OAuth alone.
    pub credentials: Vec<ghl_apps::auth::Credential>,
}

impl ConnectInfo {
    /// An API at `default_base_url` with no scopes and no OAuth pages of its own (a token or
    /// credential headers are all a connection needs).
    pub fn plain(default_base_url: impl Into<String>) -> Self {
        Self {
            default_base_url: default_base_url.into(),
            account: "account".into(),
            base_scopes: Vec::new(),
            write_scopes: Vec::new(),
            private_token_scopes: String::new(),
            authorize_url: None,
            authorize_path: "/authorize".into(),
            token_url: None,
            token_path: "/token".into(),
            token_form: Vec::new(),
            oauth: Default::default(),
            flow: ConnectFlow::Credentials,
            credentials: Vec::new(),
        }
    }
}

/// How a connection to an app is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFlow {
    /// The named credentials of `ConnectInfo::credentials` (an API key, a URL...).
    Credentials,
    /// A private token for an account, or the OAuth authorization code flow (HighLevel).
    TokenOrOAuth,
    /// The OAuth 2.0 authorization code flow: the browser, then the code exchanged.
    AuthorizationCode,
    /// The OAuth 2.0 client credentials grant: a client id and secret, no browser.
    ClientCredentials,
}

/// Public webhook keys an app's endpoint signs with, learned when a connection is made.
#[derive(Debug, Clone, Default)]
pub struct WebhookKeys {
    pub ed25519: Option<String>,
    pub rsa_pem: Option<String>,
}

/// One app. HighLevel is `highlevel::HighLevel`; a partner app implements the same, from
/// data read at run time (nothing here asks for a `'static` table).
#[async_trait::async_trait]
pub trait App: Send + Sync + 'static {
    fn id(&self) -> AppId;
    /// The app's name for people: `HighLevel`.
    fn title(&self) -> &str;
    /// Its operations, built once with the app.
    fn operations(&self) -> &[Arc<OperationSpec>];
    /// One of its operations by id.
    fn operation(&self, id: &str) -> Option<&Arc<OperationSpec>> {
        self.operations().iter().find(|operation| operation.id == id)
    }
    /// The webhook events it sends.
    fn events(&self) -> Vec<WebhookEvent>;
    /// An example payload of one of its webhook events, where its documents give one (the
    /// flow editor's sample before a real event arrived).
    fn event_example(&self, _event: &str) -> Option<Value> {
        None
    }
    /// The sources a `poll` trigger can watch.
    fn poll_sources(&self) -> &[PollSource];
    /// The input of the list operation for one page of a poll of `source`: by default the
    /// fields its `query` names (`PollSource::page_input`).
    fn poll_input(&self, source: &PollSource, page: &PageRequest<'_>) -> Value {
        source.page_input(page)
    }
    /// A polled record's position (`[time, id]`), taken out of it if the app put it there:
    /// where the poll's cursor stops. By default the record's `by` time and its id.
    fn poll_position(&self, source: &PollSource, by: &str, record: &mut Value) -> Vec<Value> {
        vec![record[by].clone(), record[source.id.as_str()].clone()]
    }
    /// What makes two deliveries of an event the same event (`delivery_id` is the webhook's
    /// own id, empty for an event found by a poll).
    fn event_key(&self, event: &str, account: &str, payload: &Value, delivery_id: &str) -> String;
    /// A verified webhook's payload as the event to store (its type, account and dedup key).
    fn webhook_event(&self, payload: Value) -> NewEvent;
    /// A record a reconciliation poll found, as the event its lost webhook would have been.
    fn reconciled(&self, event: &str, record: Value) -> Value {
        let _ = event;
        record
    }
    /// The record an answer is about (what a write changed).
    fn written_record<'a>(&self, answer: &'a Value) -> &'a Value {
        answer
    }
    /// A client of a connection.
    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, ClientError>;
    /// How `connect` talks to it.
    fn connect_info(&self) -> ConnectInfo;
    /// The check of its webhooks (`/webhooks/<app>`), if it sends any; an app without one
    /// receives none.
    fn verifier(&self) -> Option<Arc<dyn Verifier>> {
        None
    }
    /// The webhook keys of a test double of the app at `base_url` (the sandbox's), if it has
    /// any; `None` for the app's own API, whose published keys are trusted anyway.
    async fn webhook_keys(
        &self,
        base_url: &url::Url,
    ) -> Result<Option<WebhookKeys>, WebhookKeysError> {
        let _ = base_url;
        Ok(None)
    }
}

/// A client of one connection, as the engine and the CLI use it. It is handed the app's
/// own [`OperationSpec`]s.
#[async_trait::async_trait]
pub trait AppClient: Send + Sync {
    /// The account the connection speaks for (HighLevel's location), if the app has them.
    fn account(&self) -> Option<&str> {
        None
    }
    /// Fills what the connection knows where the caller did not set it (HighLevel's
    /// `locationId`).
    fn fill(
        &self,
        operation: &OperationSpec,
        params: &mut Vec<(String, String)>,
        body: &mut Option<Value>,
    ) {
        let _ = (operation, params, body);
    }
    /// A step's input as the operation's parameters and body, filled.
    fn request(&self, operation: &OperationSpec, input: Value) -> RequestParts {
        let (mut params, mut body) = operation.split_input(input);
        self.fill(operation, &mut params, &mut body);
        (params, body)
    }
    async fn call(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        options: CallOptions<'_>,
    ) -> Result<Value, ghl_client::Error>;
    /// Waits for room in the rate budget and takes one request of it, for the next call of
    /// `operation` made with `CallOptions::reserved`: a write that cannot be repeated records
    /// its intent only once it may leave at once, so a crash while it waits holds nothing.
    /// Clients whose writes can all be repeated need not (the default takes nothing).
    async fn reserve(&self, operation: &OperationSpec) -> Result<(), ghl_client::Error> {
        let _ = operation;
        Ok(())
    }
    /// What a create whose outcome is unknown created, if it can be looked up and did.
    async fn find_created(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        since: SystemTime,
    ) -> Option<Value> {
        let _ = (operation, params, body, since);
        None
    }
    /// Every record of a paged operation, one at a time, with the largest pages the caller did
    /// not choose otherwise; `None` when the operation has no pages.
    fn records(
        &self,
        operation: &OperationSpec,
        params: Vec<(String, String)>,
        body: Option<Value>,
    ) -> Option<BoxStream<'static, Result<Value, ghl_client::Error>>> {
        let _ = (operation, params, body);
        None
    }
    /// The operations `records` pages through.
    fn paged_operations(&self) -> Vec<String> {
        Vec::new()
    }
    /// A harmless read that tells whether the connection works.
    async fn check(&self) -> Result<(), ghl_client::Error>;
    /// One record by id, as a sample for `test --record` (with what a webhook adds).
    async fn record(&self, id: &str) -> Result<Value, ghl_client::Error> {
        let _ = id;
        Err(ghl_client::Error::InvalidCall("this app cannot read a sample record by id".into()))
    }
}

/// The registered apps. Cheap to clone.
#[derive(Clone)]
pub struct Apps {
    apps: Arc<Vec<Arc<dyn App>>>,
}

impl fmt::Debug for Apps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.apps.iter().map(|app| app.id())).finish()
    }
}

impl Default for Apps {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Apps {
    /// No app at all.
    pub fn empty() -> Self {
        Self { apps: Arc::new(Vec::new()) }
    }

    /// The apps this program ships: HighLevel and the app of every shipped manifest
    /// (`ghl_apps::builtin`), each loaded and checked by the tests.
    pub fn builtin() -> Self {
        let mut apps = Self::empty().with(Arc::new(highlevel::HighLevel::default()));
        for manifest in SHIPPED.iter() {
            apps = apps.with(manifest.clone());
        }
        apps
    }

    /// These apps and the apps users added (`apps add`), each from its manifest as kept. An
    /// added manifest that no longer loads (a newer program refuses what an older one took)
    /// is left out and named in the answer, so the others still work.
    pub fn with_added<'a>(
        self,
        added: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<UnloadableApp>) {
        let mut apps = self;
        let mut refused = Vec::new();
        for (id, text) in added {
            match ghl_apps::load(text) {
                Ok(manifest) => match manifest::ManifestApp::new(Arc::new(manifest)) {
                    Ok(app) => apps = apps.with(Arc::new(app)),
                    Err(err) => {
                        refused.push(UnloadableApp { app: id.to_owned(), reason: err.to_string() })
                    }
                },
                Err(err) => {
                    refused.push(UnloadableApp { app: id.to_owned(), reason: err.to_string() })
                }
            }
        }
        (apps, refused)
    }

    /// These apps and `app` (replacing one of the same id).
    pub fn with(self, app: Arc<dyn App>) -> Self {
        let mut apps: Vec<Arc<dyn App>> =
            self.apps.iter().filter(|known| known.id() != app.id()).cloned().collect();
        apps.push(app);
        Self { apps: Arc::new(apps) }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn App>> {
        self.apps.iter().find(|app| app.id().as_str() == id)
    }

    /// The app of `id`, or an error naming the known ones.
    pub fn require(&self, id: &str) -> Result<&Arc<dyn App>, UnknownApp> {
        self.get(id).ok_or_else(|| UnknownApp { app: id.to_owned(), known: self.names() })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn App>> {
        self.apps.iter()
    }

    /// The ids of the registered apps.
    pub fn names(&self) -> Vec<String> {
        self.apps.iter().map(|app| app.id().to_string()).collect()
    }

    /// An operation by its flow name, `app.operation`.
    pub fn operation(&self, name: &str) -> Option<AppOperation> {
        let (app, id) = name.split_once('.')?;
        let app = self.get(app)?;
        let operation = app.operation(id)?.clone();
        Some(AppOperation { app: app.id(), operation })
    }

    /// A client of credentials that are not stored (`ghl-connector api --token`), with a
    /// rate budget of its own.
    pub fn unstored_client(
        &self,
        app: &str,
        auth: AuthSecret,
    ) -> Result<Arc<dyn AppClient>, UnstoredClientError> {
        let app = self.require(app)?;
        let tokens = ghl_client::MemoryTokenStore::new(None);
        let budget = ghl_client::LocalBudget::new();
        Ok(app.client(ClientContext { name: "--token", auth, budget, tokens })?)
    }

    /// A poll source by its flow name, `app.source`.
    pub fn poll_source(&self, name: &str) -> Option<(AppId, &PollSource)> {
        let (app, source) = name.split_once('.')?;
        let app = self.get(app)?;
        let source = app.poll_sources().iter().find(|known| known.name == source)?;
        Some((app.id(), source))
    }
}

/// The apps of the shipped manifests, built once per process.
static SHIPPED: std::sync::LazyLock<Vec<Arc<dyn App>>> = std::sync::LazyLock::new(|| {
    let Ok(manifests) = ghl_apps::builtin::manifests() else {
        // A shipped manifest that does not load is a bug `shipped_manifests_are_apps` catches.
        tracing::error!("a shipped app manifest does not load; its apps are left out");
        return Vec::new();
    };
    manifests
        .into_iter()
        .filter_map(|manifest| manifest::ManifestApp::new(Arc::new(manifest)).ok())
        .map(|app| Arc::new(app) as Arc<dyn App>)
        .collect()
});

/// An added app whose manifest does not load any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the added app `{app}` is left out: its manifest does not load ({reason}); add it again corrected, or remove it")]
pub struct UnloadableApp {
    pub app: String,
    pub reason: String,
}

/// An app name that no registered app has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown app `{app}`; the known apps are {}", known.join(", "))]
pub struct UnknownApp {
    pub app: String,
    pub known: Vec<String>,
}
