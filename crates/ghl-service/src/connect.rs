//! Making connections: a connection is stored only once it answers, and what was stored under
//! its name before is put back otherwise; a connection to a test double of the app (a sandbox)
//! learns the keys it signs webhooks with. OAuth is two calls, so that any front end can offer
//! it: `oauth_start` (the authorization address, with a fresh `state`, and the scopes the
//! stored flows need) and `oauth_finish` (the code exchanged where the authorization came
//! back); between the two the pending authorization waits here, by its state. The same two
//! calls connect a manifest app whose auth is the authorization code flow (its PKCE, Basic
//! client auth and API base URL from the token answer as its manifest says); one whose auth
//! is client credentials is connected in one call (`connect_client_credentials`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_client::auth::AuthorizationRequest;
use ghl_client::{OAuthApp, Secret};
use ghl_engine::apps::{App, ConnectFlow};
use ghl_engine::connections::{
    save, save_http, AuthSecret, ConnectionError, ConnectionSecret, HttpSecret,
};
use parking_lot::Mutex;
use url::Url;

use crate::connections::{Check, Connections};
use crate::ServiceError;

/// How long an authorization may stay pending before it is forgotten.
pub const OAUTH_PENDING_FOR: Duration = Duration::from_secs(3600);
/// At most this many authorizations pending at once (the oldest is forgotten first).
const MAX_PENDING: usize = 256;

/// The authorizations started and not finished yet, by their `state`.
#[derive(Default)]
pub(crate) struct Pending(Mutex<HashMap<String, PendingOAuth>>);

struct PendingOAuth {
    app: Arc<dyn App>,
    name: String,
    base_url: Url,
    account: Option<String>,
    registration: OAuthApp,
    request: AuthorizationRequest,
    scopes: Vec<String>,
    started: Instant,
}

/// What an OAuth connection asks for.
#[derive(Debug, Clone)]
pub struct OAuthRequest {
    /// The registered app (`highlevel`).
    pub app: String,
    /// The connection's name, as flows refer to it.
    pub name: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// The API address (the app's own, or a sandbox's).
    pub base_url: Url,
    /// The authorization page; by default the app's own for its API, `<base_url><path>` for
    /// another.
    pub authorize_url: Option<Url>,
    /// The token endpoint; `<base_url><token path>` by default.
    pub token_url: Option<Url>,
    /// Where the authorization page sends the browser back to.
    pub redirect_uri: Url,
    /// The account the connection speaks for, where the token answer does not say it (a
    /// manifest app's; HighLevel's location comes with its tokens).
    pub account: Option<String>,
    /// Ask for the app's write scopes too.
    pub write: bool,
    /// Scopes asked for besides the app's base scopes and those the stored flows need.
    pub scopes: Vec<String>,
}

/// An app's sandbox, as it says how to reach it.
#[derive(Debug, Clone)]
pub struct SandboxAccess {
    /// The app it plays (`qobrix`).
    pub app: String,
    pub base_url: Url,
    /// The account its records belong to, where the app names one.
    pub account: Option<String>,
    /// What it accepts: API keys, a login, an OAuth client, a hook's URL.
    pub credentials: BTreeMap<String, String>,
}

/// An authorization started: the address to open, and the state it comes back with.
#[derive(Debug)]
pub struct OAuthStarted {
    pub url: Url,
    pub state: Secret<String>,
}

/// A connection stored, and what became of its webhook keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub name: String,
    /// The account it speaks for (HighLevel: the location).
    pub account: String,
    pub webhook_keys: WebhookKeys,
}

/// What connecting did about the keys webhooks are verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookKeys {
    /// The app's own API: its published keys are trusted; any learned before are forgotten.
    Published,
    /// A test double's keys, learned: `serve` accepts its webhooks.
    Learned { origin: String },
    /// A test double that offers no keys.
    NoneOffered,
    /// They could not be read; webhooks are verified with the app's published keys.
    Unreadable { reason: String },
}

impl Connections<'_> {
    /// Stores a connection, checks it with a harmless read and keeps it only when it works;
    /// otherwise puts back what was stored under its name before (or nothing).
    pub async fn store_checked(
        &self,
        name: &str,
        secret: &ConnectionSecret,
        scopes: &str,
    ) -> Result<(), ServiceError> {
        let previous = self.store.connection(name).await?;
        let saved = save(self.store, name, secret, scopes).await;
        self.keep_or_put_back(name, previous, saved.map_err(Into::into)).await
    }

    /// `store_checked` for an `http` connection (a base URL and credential headers).
    pub async fn store_checked_http(
        &self,
        name: &str,
        secret: &HttpSecret,
    ) -> Result<(), ServiceError> {
        let previous = self.store.connection(name).await?;
        let saved = save_http(self.store, name, secret).await;
        self.keep_or_put_back(name, previous, saved.map_err(Into::into)).await
    }

    async fn keep_or_put_back(
        &self,
        name: &str,
        previous: Option<ghl_store::Connection>,
        saved: Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        // A client this process holds was made from the secret stored before.
        self.engine.connections().forget_client(name);
        let checked = match saved {
            Ok(()) => match self.test(name).await {
                Ok(Check::Works) => return Ok(()),
                // A new secret that does not work is not a connection to reconnect.
                Ok(Check::Fails(ConnectionError::ReconnectNeeded { name, app, reason })) => {
                    ServiceError::CredentialsRefused {
                        app: app.to_string(),
                        connection: name,
                        reason,
                    }
                }
                Ok(Check::Fails(err)) => err.into(),
                Err(err) => err,
            },
            Err(err) => err,
        };
        self.put_back(name, previous).await?;
        Err(checked)
    }

    /// Puts back what was stored under `name` (or nothing), dropping any client of the new one.
    async fn put_back(
        &self,
        name: &str,
        previous: Option<ghl_store::Connection>,
    ) -> Result<(), ServiceError> {
        self.engine.connections().forget_client(name);
        match previous {
            Some(previous) => {
                self.store.put_connection(&previous.summary, &previous.secret).await?;
            }
            None => {
                self.store.remove_connection(name).await?;
            }
        }
        Ok(())
    }

    /// A connection to a registered app with a private token for `account`, stored only when
    /// it works; then its webhook keys.
    pub async fn connect_private_token(
        &self,
        app: &str,
        name: &str,
        token: Secret<String>,
        base_url: &Url,
        account: &str,
    ) -> Result<Connected, ServiceError> {
        let app = self.app(app)?;
        let auth = AuthSecret::PrivateToken {
            token: token.expose().clone(),
            base_url: base_url.to_string(),
            account: account.to_owned(),
        };
        let secret = ConnectionSecret { app: app.id(), auth };
        self.store_checked(name, &secret, &app.connect_info().private_token_scopes).await?;
        let webhook_keys = self.learn_webhook_keys(&*app, name, base_url).await?;
        Ok(Connected { name: name.into(), account: account.into(), webhook_keys })
    }

    /// A connection to a manifest app with its named credentials (every one its auth kind
    /// names, no other), under `base_url` when given (a sandbox's), stored only when the
    /// manifest's `check` works; a failure says in the app's words what is wrong.
    pub async fn connect_credentials(
        &self,
        app: &str,
        name: &str,
        base_url: Option<&Url>,
        account: Option<&str>,
        credentials: BTreeMap<String, Secret<String>>,
    ) -> Result<Connected, ServiceError> {
        let app = self.app(app)?;
        let needed = app.connect_info().credentials;
        let names: Vec<String> = needed.iter().map(|credential| credential.name.clone()).collect();
        if let Some(unknown) = credentials.keys().find(|given| !names.contains(given)) {
            return Err(ServiceError::UnknownCredential {
                app: app.id().to_string(),
                credential: unknown.clone(),
                known: names,
            });
        }
        let missing = needed
            .iter()
            .find(|needed| !needed.optional && !credentials.contains_key(&needed.name));
        if let Some(missing) = missing {
            return Err(ServiceError::MissingCredential {
                app: app.id().to_string(),
                credential: missing.name.clone(),
            });
        }
        match app.connect_info().flow {
            ConnectFlow::Credentials => {}
            ConnectFlow::ClientCredentials => {
                let mut credentials = credentials;
                let mut take = |name: &str| {
                    credentials.remove(name).unwrap_or_else(|| Secret::new(String::new()))
                };
                let (client_id, client_secret) = (take("client_id"), take("client_secret"));
                let app = app.id();
                return self
                    .connect_client_credentials(
                        app.as_str(),
                        name,
                        base_url,
                        account,
                        client_id.expose(),
                        client_secret,
                    )
                    .await;
            }
            ConnectFlow::AuthorizationCode | ConnectFlow::TokenOrOAuth => {
                return Err(ServiceError::WrongConnectFlow {
                    app: app.id().to_string(),
                    flow: "credentials alone (it needs the browser: OAuth)".into(),
                })
            }
        }
        let values =
            credentials.into_iter().map(|(name, value)| (name, value.expose().clone())).collect();
        let auth = AuthSecret::Credentials {
            base_url: base_url.map(Url::to_string),
            account: account.map(str::to_owned),
            values,
        };
        let secret = ConnectionSecret { app: app.id(), auth };
        self.store_checked(name, &secret, "").await?;
        let account = account.unwrap_or_default().to_owned();
        Ok(Connected { name: name.into(), account, webhook_keys: WebhookKeys::NoneOffered })
    }

    fn app(&self, app: &str) -> Result<Arc<dyn App>, ServiceError> {
        let apps = self.engine.apps();
        Ok(apps.require(app).map_err(ServiceError::UnknownApp)?.clone())
    }

    /// Starts an OAuth authorization: the address of the app's authorization page, asking
    /// for the app's base scopes, those the stored flows need from this connection, the
    /// write scopes if asked and the scopes given; and the `state` it will come back with.
    pub async fn oauth_start(&self, request: OAuthRequest) -> Result<OAuthStarted, ServiceError> {
        let app = self.app(&request.app)?;
        let info = app.connect_info();
        let invalid = |what: &str, err: url::ParseError| ServiceError::BadAddress {
            what: what.into(),
            reason: err.to_string(),
        };
        let authorize_url = match request.authorize_url {
            Some(url) => url,
            None => default_authorize_url(&*app, &request.base_url)
                .map_err(|err| invalid("the authorization page", err))?,
        };
        let token_url = match request.token_url {
            Some(url) => url,
            None => default_token_url(&*app, &request.base_url)
                .map_err(|err| invalid("the token endpoint", err))?,
        };
        let registration = OAuthApp {
            client_id: request.client_id,
            client_secret: request.client_secret,
            authorize_url,
            token_url,
            redirect_uri: request.redirect_uri,
            extra_form: info.token_form,
            options: info.oauth,
        };
        let mut scopes: Vec<String> = info.base_scopes;
        scopes.extend(self.engine.scopes_needed(&request.name).await?);
        if request.write {
            scopes.extend(info.write_scopes);
        }
        scopes.extend(request.scopes);
        scopes.sort_unstable();
        scopes.dedup();
        let asked: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let authorization = registration.authorization_request(&asked);
        let started =
            OAuthStarted { url: authorization.url.clone(), state: authorization.state.clone() };
        let pending = PendingOAuth {
            app,
            name: request.name,
            base_url: request.base_url,
            account: request.account.filter(|account| !account.is_empty()),
            registration,
            request: authorization,
            scopes,
            started: Instant::now(),
        };
        self.pending.insert(started.state.expose().clone(), pending);
        Ok(started)
    }

    /// Finishes the authorization that came back with `state`: exchanges `code` for tokens
    /// (with the PKCE verifier, when the app asks for PKCE), requires every scope asked for
    /// (an answer without `scope` grants what was asked, RFC 6749 §5.1), takes the API base
    /// URL from the token answer where the app gives it there, stores the connection only
    /// when it works (putting back what was there otherwise) and learns a test double's
    /// webhook keys. A refused code or client secret is said in the app's words.
    pub async fn oauth_finish(&self, state: &str, code: &str) -> Result<Connected, ServiceError> {
        let Some(pending) = self.pending.take(state) else {
            return Err(ServiceError::OAuth(ghl_client::Error::StateMismatch));
        };
        let PendingOAuth { app, name, base_url, account, registration, request, scopes, .. } =
            pending;
        let mut tokens = registration
            .exchange_code(&reqwest::Client::new(), &request, state, code)
            .await
            .map_err(|err| match err {
                ghl_client::Error::ReconnectNeeded { reason } => ServiceError::CredentialsRefused {
                    app: app.id().to_string(),
                    connection: name.clone(),
                    reason,
                },
                err => ServiceError::OAuth(err),
            })?;
        if tokens.scope.trim().is_empty() {
            tokens.scope = scopes.join(" ");
        }
        let granted: Vec<&str> = tokens.scope.split_whitespace().collect();
        let missing: Vec<String> =
            scopes.iter().filter(|s| !granted.contains(&s.as_str())).cloned().collect();
        if !missing.is_empty() {
            return Err(ServiceError::NotGranted {
                app: app.title().to_owned(),
                missing,
                granted: granted.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let info = app.connect_info();
        if tokens.location_id.is_none() {
            tokens.location_id = account;
        }
        let account = match (&tokens.location_id, info.flow) {
            (Some(account), _) => account.clone(),
            // HighLevel's tokens say their location; a manifest app's may have none.
            (None, ConnectFlow::TokenOrOAuth) => {
                return Err(ServiceError::NoAccount { account: info.account })
            }
            (None, _) => String::new(),
        };
        // The account's own API address, where the app gives it in the token answer.
        let api_url = match tokens.base_url.as_deref() {
            Some(given) => given.parse::<Url>().map_err(|err| ServiceError::BadAddress {
                what: "the API address in the token answer".into(),
                reason: err.to_string(),
            })?,
            None => base_url.clone(),
        };
        let auth = AuthSecret::oauth(api_url.as_str(), &registration, tokens);
        self.store_checked(&name, &ConnectionSecret { app: app.id(), auth }, "").await?;
        let webhook_keys = self.learn_webhook_keys(&*app, &name, &base_url).await?;
        Ok(Connected { name, account, webhook_keys })
    }

    /// A connection to a manifest app whose auth is OAuth 2.0 client credentials: stored
    /// only when a token is fetched with them and the manifest's `check` works; a refusal
    /// says in the app's words what is wrong (never the secret).
    pub async fn connect_client_credentials(
        &self,
        app: &str,
        name: &str,
        base_url: Option<&Url>,
        account: Option<&str>,
        client_id: &str,
        client_secret: Secret<String>,
    ) -> Result<Connected, ServiceError> {
        let app = self.app(app)?;
        if app.connect_info().flow != ConnectFlow::ClientCredentials {
            return Err(ServiceError::WrongConnectFlow {
                app: app.id().to_string(),
                flow: "client credentials".into(),
            });
        }
        if client_id.trim().is_empty() {
            return Err(ServiceError::MissingCredential {
                app: app.id().to_string(),
                credential: "client_id".into(),
            });
        }
        if client_secret.expose().is_empty() {
            return Err(ServiceError::MissingCredential {
                app: app.id().to_string(),
                credential: "client_secret".into(),
            });
        }
        let auth = AuthSecret::ClientCredentials {
            base_url: base_url.map(Url::to_string),
            account: account.map(str::to_owned),
            client_id: client_id.trim().to_owned(),
            client_secret: client_secret.expose().clone(),
            values: BTreeMap::new(),
        };
        self.store_checked(name, &ConnectionSecret { app: app.id(), auth }, "").await?;
        let account = account.unwrap_or_default().to_owned();
        Ok(Connected { name: name.into(), account, webhook_keys: WebhookKeys::NoneOffered })
    }

    /// A connection to an app's sandbox, as a person would make it: with the credentials the
    /// sandbox gives (those the app asks for), or, for an OAuth app, through its authorization
    /// page (a sandbox's approves at once and sends the browser back with a code) and
    /// [`Self::oauth_finish`]. What `demo` and the end-to-end tests connect partner apps with.
    pub async fn connect_sandbox(
        &self,
        name: &str,
        sandbox: &SandboxAccess,
    ) -> Result<Connected, ServiceError> {
        let app = self.app(&sandbox.app)?;
        let info = app.connect_info();
        let given = |credential: &str| {
            let value = sandbox.credentials.get(credential).cloned().unwrap_or_default();
            Secret::new(value)
        };
        if info.flow != ConnectFlow::AuthorizationCode {
            let credentials = info
                .credentials
                .iter()
                .filter(|credential| {
                    !credential.optional || sandbox.credentials.contains_key(&credential.name)
                })
                .map(|credential| (credential.name.clone(), given(&credential.name)))
                .collect();
            // A messaging hook's URL is its whole address: it has no API base URL.
            let base_url = (!info.default_base_url.is_empty()).then_some(&sandbox.base_url);
            let account = sandbox.account.as_deref();
            return self
                .connect_credentials(&sandbox.app, name, base_url, account, credentials)
                .await;
        }
        let started = self
            .oauth_start(OAuthRequest {
                app: sandbox.app.clone(),
                name: name.to_owned(),
                client_id: given("client_id").expose().clone(),
                client_secret: given("client_secret"),
                base_url: sandbox.base_url.clone(),
                authorize_url: None,
                token_url: None,
                // Never followed: the code is read off the redirect.
                redirect_uri: Url::parse("http://127.0.0.1:9/callback").expect("a valid URL"),
                account: sandbox.account.clone(),
                write: true,
                scopes: Vec::new(),
            })
            .await?;
        match sandbox_code(&started.url).await {
            Ok(code) => self.oauth_finish(started.state.expose(), &code).await,
            Err(reason) => {
                self.oauth_abandon(started.state.expose());
                Err(ServiceError::SandboxRefused { app: sandbox.app.clone(), reason })
            }
        }
    }

    /// Forgets an authorization that will not finish (declined, or given up on).
    pub fn oauth_abandon(&self, state: &str) {
        self.pending.take(state);
    }

    /// A connection to a test double of the app (a base URL other than the app's) learns the
    /// keys it signs webhooks with, so `serve` accepts its webhooks; one to the app itself
    /// forgets any learned before (the app's published keys are always trusted).
    async fn learn_webhook_keys(
        &self,
        app: &dyn App,
        name: &str,
        base_url: &Url,
    ) -> Result<WebhookKeys, ServiceError> {
        let store = self.store;
        let keys = match app.webhook_keys(base_url).await {
            Ok(Some(keys)) => keys,
            Ok(None) => {
                store.forget_webhook_keys(name).await?;
                return Ok(WebhookKeys::Published);
            }
            Err(error) => return Ok(WebhookKeys::Unreadable { reason: error.to_string() }),
        };
        let learned = ghl_store::LearnedWebhookKeys {
            connection: name.to_owned(),
            origin: base_url.to_string(),
            ed25519: keys.ed25519,
            rsa_pem: keys.rsa_pem,
        };
        if learned.ed25519.is_none() && learned.rsa_pem.is_none() {
            return Ok(WebhookKeys::NoneOffered);
        }
        store.put_webhook_keys(&learned).await?;
        Ok(WebhookKeys::Learned { origin: learned.origin })
    }
}

/// The token endpoint that goes with `base_url`: the app's own for its API (when it is not
/// under it), `<base_url><token path>` for another (a sandbox).
fn default_token_url(app: &dyn App, base_url: &Url) -> Result<Url, url::ParseError> {
    let info = app.connect_info();
    let production: Url = info.default_base_url.parse()?;
    if let Some(endpoint) = info.token_url.filter(|_| base_url.origin() == production.origin()) {
        return endpoint.parse();
    }
    base_url.join(&info.token_path)
}

/// The authorization page that goes with `base_url`: the app's own for its API,
/// `<base_url><authorize path>` for another (a sandbox).
fn default_authorize_url(app: &dyn App, base_url: &Url) -> Result<Url, url::ParseError> {
    let info = app.connect_info();
    let production: Url = info.default_base_url.parse()?;
    if let Some(page) = info.authorize_url.filter(|_| base_url.origin() == production.origin()) {
        return page.parse();
    }
    base_url.join(&info.authorize_path)
}

impl Pending {
    fn insert(&self, state: String, pending: PendingOAuth) {
        let mut map = self.0.lock();
        map.retain(|_, pending| pending.started.elapsed() < OAUTH_PENDING_FOR);
        while map.len() >= MAX_PENDING {
            let oldest = map.iter().min_by_key(|(_, p)| p.started).map(|(state, _)| state.clone());
            let Some(oldest) = oldest else { break };
            map.remove(&oldest);
        }
        map.insert(state, pending);
    }

    fn take(&self, state: &str) -> Option<PendingOAuth> {
        let pending = self.0.lock().remove(state)?;
        (pending.started.elapsed() < OAUTH_PENDING_FOR).then_some(pending)
    }
}

/// Opens a sandbox's authorization page as a browser would, without following its redirect,
/// and reads the code it sends the browser back with; otherwise says why not.
async fn sandbox_code(authorize: &Url) -> Result<String, String> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| err.to_string())?;
    let approved = browser.get(authorize.clone()).send().await.map_err(|err| err.to_string())?;
    let back = approved
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|back| back.to_str().ok())
        .and_then(|back| Url::parse(back).ok())
        .ok_or_else(|| {
            format!(
                "its authorization page answered {} without sending the browser back",
                approved.status()
            )
        })?;
    match back.query_pairs().find(|(key, _)| key == "code") {
        Some((_, code)) => Ok(code.into_owned()),
        None => Err(format!("it sent the browser back without a code: {back}")),
    }
}
