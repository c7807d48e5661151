//! `ghl-connector connect APP` (any registered app, or `http`) and `ghl-connector connections
//! list | test | remove`. Secrets are sealed in the store; none has to be typed on the command
//! line.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ghl_engine::apps::{App, Apps, ConnectFlow, HTTP};
use ghl_service::connect::{Connected, OAuthRequest, WebhookKeys};
use ghl_service::connections::Check;
use ghl_service::Service;

use super::store::StoreArgs;

mod callback;

/// Where an OAuth client secret is read from.
const CLIENT_SECRET_VARIABLE: &str = "GHL_CONNECTOR_CLIENT_SECRET";

/// A registered app (`highlevel`): with a private token (`--private-token` and
/// `--location-id`) or with OAuth (`--client-id` and `--client-secret`: opens the authorization
/// page's address and waits for the redirect on a local callback). A manifest app as its
/// `auth:` says: named credentials, OAuth authorization code (the same browser flow), or
/// OAuth client credentials (no browser); its client secret from the environment or a prompt
/// without echo. `http`: credentials for
/// `http.request` steps (`--name`, `--base-url`, and a bearer token or headers), added when a
/// step naming the connection sends, never recorded.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The app to connect: a registered app (`highlevel`), or `http` (any HTTP API, for
    /// `http.request` steps).
    app: String,
    /// A private integration token of the location.
    #[arg(
        long,
        env = "GHL_CONNECTOR_TOKEN",
        hide_env_values = true,
        requires = "location_id",
        conflicts_with = "client_id"
    )]
    private_token: Option<String>,
    /// The account the private token belongs to (HighLevel's location, or sub-account); for a
    /// manifest app, the account the connection speaks for, if it has them.
    #[arg(long, alias = "account")]
    location_id: Option<String>,
    /// The OAuth client id (HighLevel: the Marketplace app's; a manifest app's may instead be
    /// in GHL_CONNECTOR_CREDENTIAL_CLIENT_ID, or asked for).
    #[arg(long)]
    client_id: Option<String>,
    /// The OAuth client secret of HighLevel's Marketplace app (better in the environment). A
    /// manifest app's is taken from the environment only, or asked for without echo when
    /// missing and standard input is a terminal.
    #[arg(long, env = CLIENT_SECRET_VARIABLE, hide_env_values = true)]
    client_secret: Option<String>,
    /// The authorization page (OAuth); by default the app's own for its API (HighLevel's
    /// marketplace), `<base-url>/oauth/chooselocation` for another base URL (a sandbox).
    #[arg(long)]
    authorize_url: Option<url::Url>,
    /// The token endpoint (OAuth); `<base-url>/oauth/token` when not given.
    #[arg(long)]
    token_url: Option<url::Url>,
    /// Ask to write too (HighLevel: contacts). By default a connection can read (HighLevel:
    /// contacts), plus what the applied flows that use it need.
    #[arg(long)]
    write: bool,
    /// Ask for this scope too (`contacts.write`, `calendars/events.write`); repeatable.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Port of the local callback the authorization page redirects to; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    callback_port: u16,
    /// How long to wait for the authorization.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// The API address: the app's by default (a sandbox's base_url to try things offline);
    /// for `http`, the address requests go under (a step's relative `url` is resolved
    /// against it, and its credentials are sent nowhere else).
    #[arg(long)]
    base_url: Option<url::Url>,
    /// The connection's name, as flows refer to it (the app's name by default: `highlevel`).
    #[arg(long)]
    name: Option<String>,
    /// `http`: a bearer token, sent as `Authorization: Bearer <token>` (better from the
    /// environment than on the command line, or with --bearer-token-stdin).
    #[arg(long, env = "GHL_CONNECTOR_BEARER_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// `http`: read the bearer token from the first line of standard input.
    #[arg(long, conflicts_with = "bearer_token")]
    bearer_token_stdin: bool,
    /// `http`: a header to send, `'Name: value'`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// `http`: a header whose value is in an environment variable, `'Name=VARIABLE'`
    /// (`--header-from-env 'X-Api-Key=MY_API_KEY'`); repeatable.
    #[arg(long = "header-from-env", value_name = "NAME=VARIABLE")]
    headers_from_env: Vec<String>,
    /// A manifest app's credential (`api_key`, `login`, `url`, ...): `NAME` prompts for it
    /// without echo; `NAME=VALUE` only for one that is not secret (a `login`). Each may
    /// instead be in `GHL_CONNECTOR_CREDENTIAL_<NAME>` (`GHL_CONNECTOR_CREDENTIAL_API_KEY`);
    /// repeatable.
    #[arg(long = "credential", value_name = "NAME[=VALUE]")]
    credentials: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List connections (never their secrets).
    List {
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a connection with a harmless read.
    Test {
        /// The connection's name.
        name: String,
    },
    /// Remove a connection and its secrets.
    Remove {
        /// The connection's name.
        name: String,
    },
}

pub async fn connect(args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    if args.app == HTTP.as_str() {
        return connect_http(args, store).await;
    }
    // A shipped app is known without opening the store; an added one is the store's (a
    // store that cannot be opened has none: the app is then unknown, named with the others).
    let builtin = Apps::builtin();
    let apps = match builtin.get(&args.app) {
        Some(_) => builtin,
        None => match store.service().await {
            Ok(service) => service.engine().apps().clone(),
            Err(_) => builtin,
        },
    };
    let app = apps
        .require(&args.app)
        .map_err(|err| {
            anyhow::anyhow!("{err}, or `{HTTP}` (any HTTP API, for http.request steps)")
        })?
        .clone();
    connect_app(&*app, args, store).await
}

/// A connection to a registered app, checked with a harmless read before it is kept (the
/// service puts back what was there otherwise).
async fn connect_app(app: &dyn App, args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let service = store.service().await?;
    let info = app.connect_info();
    let name = args.name.clone().unwrap_or_else(|| app.id().to_string());
    let base_url = match &args.base_url {
        Some(url) => url.clone(),
        None => info.default_base_url.parse()?,
    };
    match info.flow {
        ConnectFlow::Credentials | ConnectFlow::TokenOrOAuth => {}
        ConnectFlow::ClientCredentials => {
            let (client_id, client_secret) = oauth_client(app, &info.credentials, &args)?;
            let connected = service
                .connections()
                .connect_client_credentials(
                    app.id().as_str(),
                    &name,
                    args.base_url.as_ref(),
                    args.location_id.as_deref(),
                    &client_id,
                    client_secret,
                )
                .await
                .map_err(|err| anyhow::anyhow!("{err:#}; nothing was stored"))?;
            say!("connected `{name}` to {}", to(app, &connected.account));
            return Ok(());
        }
        ConnectFlow::AuthorizationCode => {
            let client = oauth_client(app, &info.credentials, &args)?;
            let connected = oauth(app, &args, &name, &base_url, &service, client)
                .await
                .map_err(|err| anyhow::anyhow!("{err:#}; nothing was stored"))?;
            say!("connected `{name}` to {}", to(app, &connected.account));
            return Ok(());
        }
    }
    if !info.credentials.is_empty() {
        let credentials =
            credentials(app, &info.credentials, &args.credentials, Default::default())?;
        let account = args.location_id.as_deref();
        let connected = service
            .connections()
            .connect_credentials(
                app.id().as_str(),
                &name,
                args.base_url.as_ref(),
                account,
                credentials,
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err:#}; nothing was stored"))?;
        say!("connected `{name}` to {}", app.title());
        let _ = connected;
        return Ok(());
    }
    let connected = match (&args.private_token, &args.client_id) {
        (Some(token), _) => {
            let account = args.location_id.clone().unwrap_or_default();
            let connections = service.connections();
            let token = token.clone().into();
            let app_id = app.id();
            connections
                .connect_private_token(app_id.as_str(), &name, token, &base_url, &account)
                .await
                .map_err(Into::into)
        }
        // Checks the connection itself, so that its browser page can say how it ended.
        (None, Some(client_id)) => {
            let Some(secret) = args.client_secret.clone() else {
                bail!("give the client secret too: set GHL_CONNECTOR_CLIENT_SECRET (or --client-secret)")
            };
            let client = (client_id.clone(), secret.into());
            oauth(app, &args, &name, &base_url, &service, client).await
        }
        (None, None) => {
            bail!("give --private-token and --location-id, or --client-id and --client-secret for OAuth")
        }
    };
    let connected = connected.map_err(|err| anyhow::anyhow!("{err:#}; nothing was stored"))?;
    match &connected.webhook_keys {
        WebhookKeys::Learned { origin } => {
            say!("learned the webhook keys of the sandbox at {origin}: serve accepts its webhooks")
        }
        WebhookKeys::Unreadable { reason } => say!(
            "note: {reason}; serve verifies this connection's webhooks with {}'s keys",
            app.title()
        ),
        WebhookKeys::Published | WebhookKeys::NoneOffered => {}
    }
    say!("connected `{name}` to {}", to(app, &connected.account));
    Ok(())
}

/// The credentials an app's connection needs, each from `--credential NAME=VALUE` (not a
/// secret), the environment (`GHL_CONNECTOR_CREDENTIAL_<NAME>`), or a prompt without echo
/// (`--credential NAME`, or any still missing when standard input is a terminal).
fn credentials(
    app: &dyn App,
    needed: &[ghl_apps::auth::Credential],
    given: &[String],
    preset: std::collections::BTreeMap<String, ghl_client::Secret<String>>,
) -> anyhow::Result<std::collections::BTreeMap<String, ghl_client::Secret<String>>> {
    use std::io::IsTerminal;
    let mut values = preset;
    let mut prompt = Vec::new();
    for flag in given {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value)),
            None => (flag.trim(), None),
        };
        let Some(credential) = needed.iter().find(|credential| credential.name == name) else {
            let known: Vec<&str> =
                needed.iter().map(|credential| credential.name.as_str()).collect();
            bail!("{} takes no credential `{name}` (it takes {})", app.title(), known.join(", "));
        };
        match value {
            Some(_) if credential.secret => bail!(
                "`{name}` is a secret: it is not taken on the command line (it would stay in the \
                 shell's history); give `--credential {name}` to be asked for it, or set \
                 {}",
                variable(name)
            ),
            Some(value) => {
                values.insert(name.to_owned(), value.to_owned().into());
            }
            None => prompt.push(credential),
        }
    }
    for credential in needed {
        if values.contains_key(&credential.name) {
            continue;
        }
        if let Ok(value) = std::env::var(variable(&credential.name)) {
            values.insert(credential.name.clone(), value.into());
            continue;
        }
        let asked = prompt.iter().any(|asked| asked.name == credential.name);
        if asked || (!credential.optional && std::io::stdin().is_terminal()) {
            let question = format!("{} {}", app.title(), credential.name);
            let value = if credential.secret {
                dialoguer::Password::new().with_prompt(question).interact()
            } else {
                dialoguer::Input::<String>::new().with_prompt(question).interact_text()
            }
            .with_context(|| format!("cannot read {}", credential.name))?;
            values.insert(credential.name.clone(), value.into());
        }
    }
    Ok(values)
}

/// A manifest app's OAuth client: the id from `--client-id` (or as any credential), the
/// secret from GHL_CONNECTOR_CLIENT_SECRET, or as any secret credential
/// (GHL_CONNECTOR_CREDENTIAL_CLIENT_SECRET, or a prompt without echo); like every secret
/// credential, never from the command line.
fn oauth_client(
    app: &dyn App,
    needed: &[ghl_apps::auth::Credential],
    args: &ConnectArgs,
) -> anyhow::Result<(String, ghl_client::Secret<String>)> {
    let mut preset = std::collections::BTreeMap::new();
    if let Some(id) = &args.client_id {
        preset.insert("client_id".to_owned(), ghl_client::Secret::from(id.clone()));
    }
    if let Some(secret) = &args.client_secret {
        // clap takes the flag before the variable: a value the variable does not hold was
        // typed on the command line.
        if std::env::var(CLIENT_SECRET_VARIABLE).ok().as_ref() != Some(secret) {
            bail!(
                "the client secret is not taken on the command line (it would stay in the \
                 shell's history); set {CLIENT_SECRET_VARIABLE}, or give `--credential \
                 client_secret` to be asked for it"
            );
        }
        preset.insert("client_secret".to_owned(), ghl_client::Secret::from(secret.clone()));
    }
    let mut values = credentials(app, needed, &args.credentials, preset)?;
    let mut take = |name: &str| {
        values.remove(name).filter(|value| !value.expose().trim().is_empty()).with_context(|| {
            format!(
                "{} needs its OAuth {}: {}",
                app.id(),
                name.replace('_', " "),
                if name == "client_id" {
                    "give --client-id (or set GHL_CONNECTOR_CREDENTIAL_CLIENT_ID)"
                } else {
                    "set GHL_CONNECTOR_CLIENT_SECRET, or give `--credential client_secret` to be asked for it"
                }
            )
        })
    };
    let client_id = take("client_id")?;
    let client_secret = take("client_secret")?;
    Ok((client_id.expose().trim().to_owned(), client_secret))
}

/// Whom a connection reaches: the app, and its account when it has one.
fn to(app: &dyn App, account: &str) -> String {
    if account.is_empty() {
        return app.title().to_owned();
    }
    format!("{} {} {account}", app.title(), app.connect_info().account)
}

/// The environment variable a credential may be given in: `GHL_CONNECTOR_CREDENTIAL_API_KEY`.
fn variable(credential: &str) -> String {
    format!("GHL_CONNECTOR_CREDENTIAL_{}", credential.to_uppercase().replace('-', "_"))
}

/// An `http` connection: a base URL and credential headers, sealed in the store.
async fn connect_http(args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let Some(name) = args.name.clone() else {
        bail!("give the connection a --name, which `http.request` steps name as `connection`")
    };
    let mut headers = std::collections::BTreeMap::new();
    let mut add = |header: &str, value: String| -> anyhow::Result<()> {
        let header = header.trim();
        reqwest::header::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| anyhow::anyhow!("`{header}` is not a header name"))?;
        reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| anyhow::anyhow!("the value of header `{header}` is not a header value"))?;
        headers.insert(header.to_owned(), value);
        Ok(())
    };
    for header in &args.headers {
        let Some((header, value)) = header.split_once(':') else {
            bail!("--header `{header}`: write it `Name: value`")
        };
        add(header, value.trim().to_owned())?;
    }
    for header in &args.headers_from_env {
        let Some((header, variable)) = header.split_once('=') else {
            bail!("--header-from-env `{header}`: write it `Name=VARIABLE`")
        };
        let value = std::env::var(variable.trim()).with_context(|| {
            format!("--header-from-env: the environment variable `{}` is not set", variable.trim())
        })?;
        add(header, value)?;
    }
    let bearer = if args.bearer_token_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the token from stdin")?;
        Some(line.trim().to_owned()).filter(|token| !token.is_empty())
    } else {
        args.bearer_token.clone()
    };
    if let Some(token) = bearer {
        add("Authorization", format!("Bearer {token}"))?;
    }
    if headers.is_empty() && args.base_url.is_none() {
        bail!("give --base-url and credentials: --bearer-token (or GHL_CONNECTOR_BEARER_TOKEN, or --bearer-token-stdin), --header or --header-from-env")
    }
    let secret = ghl_engine::connections::HttpSecret {
        base_url: args.base_url.as_ref().map(url::Url::to_string),
        headers,
    };
    let service = store.service().await?;
    let stored = service.connections().store_checked_http(&name, &secret).await;
    stored.map_err(|err| anyhow::anyhow!("{err:#}; nothing was stored"))?;
    let under = secret.base_url.map(|url| format!(" for {url}")).unwrap_or_default();
    say!("connected `{name}`{under} (`connection: {name}` in http.request steps)");
    Ok(())
}

/// The OAuth authorization-code flow (`ghl-service`'s `oauth_start` and `oauth_finish`) with
/// a local callback; answers the connection made. The browser's page says *connected* only
/// once the connection is stored and answers, and *failed*, with the reason, otherwise.
async fn oauth(
    app: &dyn App,
    args: &ConnectArgs,
    name: &str,
    base_url: &url::Url,
    service: &Service,
    (client_id, client_secret): (String, ghl_client::Secret<String>),
) -> anyhow::Result<Connected> {
    use std::io::Write;
    let info = app.connect_info();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.callback_port))
        .await
        .context("cannot open the local callback")?;
    let redirect: url::Url = format!("http://{}/callback", listener.local_addr()?).parse()?;
    let connections = service.connections();
    let started = connections
        .oauth_start(OAuthRequest {
            app: app.id().to_string(),
            name: name.to_owned(),
            client_id,
            client_secret,
            base_url: base_url.clone(),
            authorize_url: args.authorize_url.clone(),
            token_url: args.token_url.clone(),
            redirect_uri: redirect,
            account: args.location_id.clone(),
            write: args.write,
            scopes: args.scopes.clone(),
        })
        .await?;
    say!("Open this address, choose the {} and approve:\n{}", info.account, started.url);
    std::io::stdout().flush()?;

    let (callback, returned) = callback::Callback::listen(listener);
    let wait = std::time::Duration::from_secs(args.timeout_secs);
    let returned = tokio::time::timeout(wait, returned).await;
    let Ok(Ok(returned)) = returned else {
        connections.oauth_abandon(started.state.expose());
        callback.stop().await;
        bail!("no authorization came back within {} s", args.timeout_secs);
    };
    let outcome = match returned.code() {
        Ok(code) => connections.oauth_finish(&returned.state, code).await.map_err(Into::into),
        Err(err) => {
            connections.oauth_abandon(started.state.expose());
            Err(err)
        }
    };
    let reached = match &outcome {
        Ok(connected) => Ok(to(app, &connected.account)),
        Err(err) => Err(err),
    };
    returned.answer(reached.as_deref().map_err(|err| *err), name);
    callback.stop().await;
    outcome
}

pub async fn connections(command: ConnectionsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        ConnectionsCommand::List { json } => {
            let connections = store.service().await?.connections().list().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&connections)?);
            } else {
                for c in connections {
                    let reason = c.status_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    say!(
                        "{:<20} {:<10} {:<24} {}{reason}",
                        c.name,
                        c.app,
                        c.location_id.unwrap_or_else(|| c.auth_kind.to_string()),
                        c.status
                    );
                }
            }
        }
        ConnectionsCommand::Test { name } => {
            let service = store.service().await?;
            if let Check::Fails(err) = service.connections().test(&name).await? {
                return Err(err.into());
            }
            say!("connection `{name}` works");
        }
        ConnectionsCommand::Remove { name } => {
            store.service().await?.connections().remove(&name).await?;
            say!("removed `{name}`");
        }
    }
    Ok(())
}
