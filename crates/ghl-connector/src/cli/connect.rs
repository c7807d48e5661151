//! `ghl-connector connect highlevel | http` and `ghl-connector connections list | test |
//! remove`. Secrets are sealed in the store; none has to be typed on the command line.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::store::StoreArgs;

/// `highlevel`: with a private integration token (`--private-token` and `--location-id`) or
/// with OAuth (`--client-id` and `--client-secret`: opens the authorization page's address and
/// waits for the redirect on a local callback). `http`: credentials for `http.request` steps
/// (`--name`, `--base-url`, and a bearer token or headers), added when a step naming the
/// connection sends, never recorded.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The app to connect: `highlevel`, or `http` (any HTTP API, for `http.request` steps).
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
    /// The location (sub-account) the private integration token belongs to.
    #[arg(long)]
    location_id: Option<String>,
    /// The Marketplace app's client id (OAuth).
    #[arg(long, requires = "client_secret")]
    client_id: Option<String>,
    /// The Marketplace app's client secret (OAuth).
    #[arg(long, env = "GHL_CONNECTOR_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The authorization page (OAuth).
    #[arg(long, default_value = "https://marketplace.gohighlevel.com/oauth/chooselocation")]
    authorize_url: url::Url,
    /// The token endpoint (OAuth); `<base-url>/oauth/token` when not given.
    #[arg(long)]
    token_url: Option<url::Url>,
    /// Ask to write contacts too. By default a connection can read contacts, plus what the
    /// applied flows that use it need.
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
    /// The API address: HighLevel's by default (a sandbox's base_url to try things offline);
    /// for `http`, the address requests go under (a step's relative `url` is resolved
    /// against it, and its credentials are sent nowhere else).
    #[arg(long)]
    base_url: Option<url::Url>,
    /// The connection's name, as flows refer to it (`highlevel` by default for HighLevel).
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
        #[arg(long)]
        json: bool,
    },
    /// Check a connection with a harmless read.
    Test { name: String },
    /// Remove a connection and its secrets.
    Remove { name: String },
}

pub async fn connect(args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    match args.app.as_str() {
        "highlevel" => connect_highlevel(args, store).await,
        "http" => connect_http(args, store).await,
        other => bail!("unknown app `{other}`: `highlevel` or `http`"),
    }
}

async fn connect_highlevel(args: ConnectArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let store = store.open().await?;
    let name = args.name.clone().unwrap_or_else(|| "highlevel".into());
    let base_url = highlevel_base_url(&args)?.to_string();
    let location = match (&args.private_token, &args.client_id) {
        (Some(token), _) => {
            let location = args.location_id.clone().unwrap_or_default();
            ghl_engine::connections::save_private_token(&store, &name, &base_url, &location, token)
                .await?;
            location
        }
        (None, Some(_)) => oauth(&args, &name, &store).await?,
        (None, None) => {
            bail!("give --private-token and --location-id, or --client-id and --client-secret for OAuth")
        }
    };
    let engine = ghl_engine::Engine::new(store);
    engine.connections().check(&name).await?;
    say!("connected `{name}` to HighLevel location {location}");
    Ok(())
}

fn highlevel_base_url(args: &ConnectArgs) -> anyhow::Result<url::Url> {
    match &args.base_url {
        Some(url) => Ok(url.clone()),
        None => Ok(ghl_types::PRODUCTION_BASE_URL.parse()?),
    }
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
    ghl_engine::connections::save_http(&store, &name, &secret).await?;
    let engine = ghl_engine::Engine::new(store);
    engine.connections().check(&name).await?;
    let under = secret.base_url.map(|url| format!(" for {url}")).unwrap_or_default();
    say!("connected `{name}`{under} (`connection: {name}` in http.request steps)");
    Ok(())
}

/// The OAuth authorization-code flow with a local callback; answers the location connected.
async fn oauth(args: &ConnectArgs, name: &str, store: &ghl_store::Store) -> anyhow::Result<String> {
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.callback_port))
        .await
        .context("cannot open the local callback")?;
    let redirect: url::Url = format!("http://{}/callback", listener.local_addr()?).parse()?;
    let base_url = highlevel_base_url(args)?;
    let token_url = match &args.token_url {
        Some(url) => url.clone(),
        None => base_url.join("/oauth/token")?,
    };
    let app = ghl_client::OAuthApp {
        client_id: args.client_id.clone().unwrap_or_default(),
        client_secret: args.client_secret.clone().unwrap_or_default().into(),
        authorize_url: args.authorize_url.clone(),
        token_url,
        redirect_uri: redirect,
    };
    let flows_need = ghl_engine::Engine::new(store.clone()).scopes_needed(name).await?;
    let mut scopes: Vec<&str> = vec!["contacts.readonly"];
    scopes.extend(flows_need);
    scopes.extend(args.write.then_some("contacts.write"));
    scopes.extend(args.scopes.iter().map(String::as_str));
    scopes.sort_unstable();
    scopes.dedup();
    let request = app.authorization_request(&scopes);
    say!("Open this address, choose the location and approve:\n{}", request.url);
    std::io::stdout().flush()?;

    type Query = axum::extract::Query<std::collections::HashMap<String, String>>;
    let (sender, receiver) = tokio::sync::oneshot::channel::<(String, String)>();
    let sender = std::sync::Arc::new(parking_lot::Mutex::new(Some(sender)));
    let callback = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |axum::extract::Query(query): Query| {
            let sender = sender.clone();
            async move {
                let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
                    return axum::response::Html(
                        "<p>The authorization came back without a code.</p>",
                    );
                };
                if let Some(sender) = sender.lock().take() {
                    let _ = sender.send((code.clone(), state.clone()));
                }
                axum::response::Html(
                    "<p>ghl-connector is connected. You can close this window.</p>",
                )
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, callback).await });
    let wait = std::time::Duration::from_secs(args.timeout_secs);
    let answer = tokio::time::timeout(wait, receiver).await;
    server.abort();
    let (code, state) =
        answer.context("no authorization came back in time")?.context("the callback closed")?;
    let tokens = app.exchange_code(&reqwest::Client::new(), &request, &state, &code).await?;
    let location = tokens.location_id.clone().context("the token is not for a location")?;
    ghl_engine::connections::save_oauth(store, name, base_url.as_str(), &app, tokens).await?;
    Ok(location)
}

pub async fn connections(command: ConnectionsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        ConnectionsCommand::List { json } => {
            let connections = store.open().await?.connections().await?;
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
            let engine = ghl_engine::Engine::new(store.open().await?);
            engine.connections().check(&name).await?;
            say!("connection `{name}` works");
        }
        ConnectionsCommand::Remove { name } => {
            if !store.open().await?.remove_connection(&name).await? {
                bail!("no connection named `{name}`");
            }
            say!("removed `{name}`");
        }
    }
    Ok(())
}
