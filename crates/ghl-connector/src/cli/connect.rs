//! `ghl-connector connect APP` (any registered app, or `http`) and `ghl-connector connections
//! list | test | remove`. Secrets are sealed in the store; none has to be typed on the command
//! line.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ghl_engine::apps::{App, Apps, HTTP};
use ghl_engine::connections::{save, AuthSecret, ConnectionSecret};
use ghl_service::connections::Check;

use super::store::StoreArgs;

mod callback;

/// A registered app (`highlevel`): with a private token (`--private-token` and
/// `--location-id`) or with OAuth (`--client-id` and `--client-secret`: opens the authorization
/// page's address and waits for the redirect on a local callback). `http`: credentials for
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
    /// The account the private token belongs to (HighLevel's location, or sub-account).
    #[arg(long, alias = "account")]
    location_id: Option<String>,
    /// The Marketplace app's client id (OAuth).
    #[arg(long, requires = "client_secret")]
    client_id: Option<String>,
    /// The Marketplace app's client secret (OAuth).
    #[arg(long, env = "GHL_CONNECTOR_CLIENT_SECRET", hide_env_values = true)]
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
    let apps = Apps::builtin();
    let app = apps
        .require(&args.app)
        .map_err(|err| {
            anyhow::anyhow!("{err}, or `{HTTP}` (any HTTP API, for http.request steps)")
        })?
        .clone();
    connect_app(&*app, args, store).await
}

/// A connection to a registered app, checked with a harmless read before it is kept.
async fn connect_app(app: &dyn App, args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let store = store.open().await?;
    let info = app.connect_info();
    let name = args.name.clone().unwrap_or_else(|| app.id().to_string());
    let base_url = match &args.base_url {
        Some(url) => url.clone(),
        None => info.default_base_url.parse()?,
    };
    // What to put back if the app refuses the new credentials.
    let previous = store.connection(&name).await?;
    let connected = match (&args.private_token, &args.client_id) {
        (Some(token), _) => {
            let account = args.location_id.clone().unwrap_or_default();
            let auth = AuthSecret::PrivateToken {
                token: token.clone(),
                base_url: base_url.to_string(),
                account: account.clone(),
            };
            let secret = ConnectionSecret { app: app.id(), auth };
            save(&store, &name, &secret, info.private_token_scopes).await?;
            let engine = ghl_engine::Engine::new(store.clone());
            engine.connections().check(&name).await.map(|()| account).map_err(Into::into)
        }
        // Checks the connection itself, so that its browser page can say how it ended.
        (None, Some(_)) => oauth(app, &args, &name, &base_url, &store).await,
        (None, None) => {
            bail!("give --private-token and --location-id, or --client-id and --client-secret for OAuth")
        }
    };
    let account = keep_or_put_back(&store, &name, previous, connected).await?;
    learn_webhook_keys(app, &store, &name, &base_url).await?;
    say!("connected `{name}` to {} {} {account}", app.title(), info.account);
    Ok(())
}

/// Keeps a connection whose check passed; otherwise puts back what was stored under its name
/// before (or nothing), so a connection known to be unusable is never kept.
async fn keep_or_put_back<T>(
    store: &ghl_store::Store,
    name: &str,
    previous: Option<ghl_store::Connection>,
    checked: anyhow::Result<T>,
) -> anyhow::Result<T> {
    let Err(err) = checked else { return checked };
    match previous {
        Some(previous) => {
            store.put_connection(&previous.summary, &previous.secret).await?;
        }
        None => {
            store.remove_connection(name).await?;
        }
    }
    bail!("{err:#}; nothing was stored")
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
    let store = store.open().await?;
    let previous = store.connection(&name).await?;
    ghl_engine::connections::save_http(&store, &name, &secret).await?;
    let checked = ghl_engine::Engine::new(store.clone()).connections().check(&name).await;
    keep_or_put_back(&store, &name, previous, checked.map_err(Into::into)).await?;
    let under = secret.base_url.map(|url| format!(" for {url}")).unwrap_or_default();
    say!("connected `{name}`{under} (`connection: {name}` in http.request steps)");
    Ok(())
}

/// A connection to a test double of the app (a sandbox: a base URL other than the app's)
/// learns the keys the sandbox signs webhooks with, so `serve` accepts its webhooks; one to the
/// app itself forgets any learned before (the app's published keys are always trusted).
async fn learn_webhook_keys(
    app: &dyn App,
    store: &ghl_store::Store,
    name: &str,
    base_url: &url::Url,
) -> anyhow::Result<()> {
    let keys = match app.webhook_keys(base_url).await {
        Ok(Some(keys)) => keys,
        Ok(None) => {
            store.forget_webhook_keys(name).await?;
            return Ok(());
        }
        Err(reason) => {
            say!(
                "note: {reason}; serve verifies this connection's webhooks with {}'s keys",
                app.title()
            );
            return Ok(());
        }
    };
    let learned = ghl_store::LearnedWebhookKeys {
        connection: name.to_owned(),
        origin: base_url.to_string(),
        ed25519: keys.ed25519,
        rsa_pem: keys.rsa_pem,
    };
    if learned.ed25519.is_some() || learned.rsa_pem.is_some() {
        store.put_webhook_keys(&learned).await?;
        say!("learned the webhook keys of the sandbox at {base_url}: serve accepts its webhooks");
    }
    Ok(())
}

/// The OAuth authorization-code flow with a local callback; answers the account connected.
/// The browser's page says *connected* only once the connection is stored and answers, and
/// *failed*, with the reason, otherwise.
async fn oauth(
    app: &dyn App,
    args: &ConnectArgs,
    name: &str,
    base_url: &url::Url,
    store: &ghl_store::Store,
) -> anyhow::Result<String> {
    use std::io::Write;
    let info = app.connect_info();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.callback_port))
        .await
        .context("cannot open the local callback")?;
    let redirect: url::Url = format!("http://{}/callback", listener.local_addr()?).parse()?;
    let registration = ghl_client::OAuthApp {
        client_id: args.client_id.clone().unwrap_or_default(),
        client_secret: args.client_secret.clone().unwrap_or_default().into(),
        authorize_url: authorize_url(app, args, base_url)?,
        token_url: match &args.token_url {
            Some(url) => url.clone(),
            None => base_url.join(info.token_path)?,
        },
        redirect_uri: redirect,
        extra_form: ghl_client::AppProfile::token_form(&ghl_client::HighLevel::default()),
    };
    let flows_need = ghl_engine::Engine::new(store.clone()).scopes_needed(name).await?;
    let mut scopes: Vec<&str> = info.base_scopes.to_vec();
    scopes.extend(flows_need);
    if args.write {
        scopes.extend(info.write_scopes);
    }
    scopes.extend(args.scopes.iter().map(String::as_str));
    scopes.sort_unstable();
    scopes.dedup();
    let request = registration.authorization_request(&scopes);
    say!("Open this address, choose the {} and approve:\n{}", info.account, request.url);
    std::io::stdout().flush()?;

    let (callback, returned) = callback::Callback::listen(listener);
    let wait = std::time::Duration::from_secs(args.timeout_secs);
    let returned = tokio::time::timeout(wait, returned).await;
    let Ok(Ok(returned)) = returned else {
        callback.stop().await;
        bail!("no authorization came back within {} s", args.timeout_secs);
    };
    let outcome = async {
        let code = returned.code()?;
        let tokens = registration
            .exchange_code(&reqwest::Client::new(), &request, &returned.state, code)
            .await?;
        let granted: Vec<&str> = tokens.scope.split_whitespace().collect();
        let missing: Vec<&str> = scopes.iter().copied().filter(|s| !granted.contains(s)).collect();
        if !missing.is_empty() {
            bail!(
                "{} did not grant {} (granted: {}); approve every scope asked for",
                app.title(),
                missing.join(", "),
                if granted.is_empty() { "nothing".into() } else { granted.join(", ") }
            );
        }
        let account = tokens
            .location_id
            .clone()
            .with_context(|| format!("the token is not for a {}", info.account))?;
        let auth = AuthSecret::oauth(base_url.as_str(), &registration, tokens);
        save(store, name, &ConnectionSecret { app: app.id(), auth }, "").await?;
        ghl_engine::Engine::new(store.clone()).connections().check(name).await?;
        Ok(account)
    }
    .await;
    returned.answer(&outcome, name);
    callback.stop().await;
    outcome
}

/// `--authorize-url`, or the authorization page that goes with `--base-url`: the app's own for
/// its API, `<base-url><authorize path>` for another (a sandbox).
fn authorize_url(
    app: &dyn App,
    args: &ConnectArgs,
    base_url: &url::Url,
) -> anyhow::Result<url::Url> {
    if let Some(url) = &args.authorize_url {
        return Ok(url.clone());
    }
    let info = app.connect_info();
    let production: url::Url = info.default_base_url.parse()?;
    if let Some(page) = info.authorize_url.filter(|_| base_url.origin() == production.origin()) {
        return Ok(page.parse()?);
    }
    Ok(base_url.join(info.authorize_path)?)
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
                        c.location_id.unwrap_or(c.auth_kind),
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
