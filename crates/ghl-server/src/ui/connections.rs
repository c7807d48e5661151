//! The Connections page (`/ui/connections`): each connection with its app, account and status
//! (`ok`, `reconnect needed` and why), and Test, Reconnect and Remove (after a confirmation
//! page). "Connect an app" picks an app of the registry and shows the form its way of
//! connecting asks for: its named credentials (secrets as password fields, never filled in
//! again), or OAuth through the browser (the app's authorization page, then back to
//! `/ui/connections/callback`), or, for HighLevel, either OAuth or a private token. Making a
//! connection is the service's (`connect_credentials`, `connect_private_token`, `oauth_start`
//! and `oauth_finish`, as the CLI uses them): a connection is stored only once it works.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ghl_client::Secret;
use ghl_engine::apps::{App, ConnectFlow};
use ghl_service::connect::OAuthRequest;
use ghl_service::connections::{Check, ConnectionSummary};
use ghl_service::sessions::Session;
use ghl_store::ConnectionStatus;
use maud::{html, Markup};
use serde::Deserialize;
use url::Url;

use super::auth::{NoFields, Posted, SignedIn};
use super::{csrf_field, error_page, internal, page, see_other, Nav, Notice};
use crate::state::AppState;

/// The UI's own OAuth callback, under the address the browser used.
const CALLBACK_PATH: &str = "/ui/connections/callback";

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    connected: Option<String>,
    removed: Option<String>,
}

/// `GET /ui/connections`, with a notice when a connection was just made or removed.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let notice = match (query.connected, query.removed) {
        (Some(name), _) => Some(Notice::Done(format!("Connected `{name}`: it works."))),
        (None, Some(name)) => Some(Notice::Done(format!("Removed `{name}` and its secrets."))),
        (None, None) => None,
    };
    list_page(&state, &session, notice.as_ref(), StatusCode::OK).await
}

async fn list_page(
    state: &AppState,
    session: &Session,
    notice: Option<&Notice>,
    status: StatusCode,
) -> Response {
    let connections = match state.service.connections().list().await {
        Ok(connections) => connections,
        Err(err) => return internal(&err),
    };
    let apps = state.service.engine_apps();
    let title_of = |app: &str| apps.get(app).map_or(app.to_owned(), |app| app.title().to_owned());
    let body = html! {
        h1 { "Connections" }
        @if let Some(notice) = notice { (notice.render()) }
        @if connections.is_empty() {
            p { "No connections yet: connect an app below." }
        } @else {
            table #connections {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "App" }
                    th scope="col" { "Account" } th scope="col" { "Status" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for connection in &connections {
                        (row(session, connection, &title_of(&connection.app)))
                    }
                }
            }
        }
        h2 #connect { "Connect an app" }
        form.inline method="get" action="/ui/connections/new" {
            label for="app" { "App" }
            select #app name="app" {
                @for app in apps.iter() {
                    option value=(app.id().as_str()) { (app.title()) }
                }
            }
            button type="submit" { "Next" }
        }
    };
    (status, page("Connections", Some(session), Nav::Connections, body)).into_response()
}

fn row(session: &Session, connection: &ConnectionSummary, app_title: &str) -> Markup {
    let name = &connection.name;
    let (status, class) = match connection.status {
        ConnectionStatus::Connected => ("ok", "ok"),
        ConnectionStatus::ReconnectNeeded => ("reconnect needed", "bad"),
    };
    let reconnect = format!(
        "/ui/connections/new?{}",
        serde_urlencoded::to_string([("app", connection.app.as_str()), ("name", name)])
            .unwrap_or_default()
    );
    html! {
        tr data-connection=(name) {
            td { strong { (name) } }
            td { (app_title) }
            td { (connection.location_id.as_deref().unwrap_or("—")) }
            td {
                span class={ "status " (class) } { (status) }
                @if let Some(reason) = &connection.status_reason {
                    @if connection.status == ConnectionStatus::ReconnectNeeded {
                        br; small { (reason) }
                    }
                }
            }
            td.actions {
                form method="post" action=(connection_path(name, "test")) {
                    (csrf_field(session))
                    button type="submit" aria-label={ "Test " (name) } { "Test" }
                }
                a.button href=(reconnect) aria-label={ "Reconnect " (name) } { "Reconnect" }
                a.button.danger href=(connection_path(name, "remove"))
                    aria-label={ "Remove " (name) } { "Remove" }
            }
        }
    }
}

/// `/ui/connections/<name>/<action>`, the name escaped as a path segment.
fn connection_path(name: &str, action: &str) -> String {
    let mut url = Url::parse("http://ui/ui/connections").expect("a valid URL");
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(name).push(action);
    }
    url.path().to_owned()
}

/// `POST /ui/connections/{name}/test`: a harmless read; the list again, saying how it went.
pub(crate) async fn test(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let notice = match state.service.connections().test(&name).await {
        Ok(Check::Works) => Notice::Done(format!("`{name}` works.")),
        Ok(Check::Fails(err)) => Notice::Failed {
            error: format!("`{name}` does not work: {err}"),
            remedy: err.remedy().as_ref().map(super::say_remedy),
        },
        Err(err) => Notice::failed(&err),
    };
    list_page(&state, &session, Some(&notice), StatusCode::OK).await
}

/// `GET /ui/connections/{name}/remove`: are you sure?
pub(crate) async fn confirm_remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    SignedIn(session): SignedIn,
) -> Response {
    match state.service.connections().list().await {
        Ok(list) if list.iter().any(|connection| connection.name == name) => {}
        Ok(_) => {
            let message = format!("There is no connection named `{name}`.");
            return error_page(StatusCode::NOT_FOUND, "No such connection", &message);
        }
        Err(err) => return internal(&err),
    }
    let body = html! {
        section.narrow {
            h1 { "Remove " (name) "?" }
            p { "The connection and its secrets are deleted. Flows that use it stop working \
                 until an app is connected under this name again." }
            form method="post" action=(connection_path(&name, "remove")) {
                (csrf_field(&session))
                button.danger type="submit" { "Remove " (name) }
                " "
                a.button href="/ui/connections" { "Cancel" }
            }
        }
    };
    page("Remove a connection", Some(&session), Nav::Connections, body).into_response()
}

/// `POST /ui/connections/{name}/remove`.
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    match state.service.connections().remove(&name).await {
        Ok(()) => see_other("/ui/connections", &[("removed", &name)]),
        Err(err) => {
            let notice = Notice::failed(&err);
            list_page(&state, &session, Some(&notice), StatusCode::NOT_FOUND).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct NewQuery {
    app: Option<String>,
    name: Option<String>,
}

/// `GET /ui/connections/new?app=APP[&name=NAME]`: the form `APP` is connected with (NAME
/// filled in: a reconnection).
pub(crate) async fn new_form(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
    Query(query): Query<NewQuery>,
) -> Response {
    let Some(app) = query.app.as_deref().and_then(|app| state.service.engine_apps().get(app))
    else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such app",
            "Pick an app from the list on the Connections page.",
        );
    };
    let mut values = Values::default();
    if let Some(name) = query.name {
        values.0.insert("name".into(), name);
    }
    let callback = callback_url(&headers).map(|url| url.to_string()).unwrap_or_default();
    let form = connect_form(&**app, &session, &values, None, &callback);
    page("Connect an app", Some(&session), Nav::Connections, form).into_response()
}

/// What the connect form was given, less its secrets: what it is filled in with again.
#[derive(Default)]
struct Values(BTreeMap<String, String>);

impl Values {
    fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
}

fn connect_form(
    app: &dyn App,
    session: &Session,
    values: &Values,
    notice: Option<&Notice>,
    callback: &str,
) -> Markup {
    let info = app.connect_info();
    let id = app.id();
    let default_name = id.as_str();
    let name = match values.get("name") {
        "" => default_name,
        given => given,
    };
    let common = html! {
        (csrf_field(session))
        input type="hidden" name="app" value=(id.as_str());
        label for="name" { "Connection name" }
        input #name type="text" name="name" value=(name) required
            aria-describedby="name-hint";
        p.hint #name-hint { "Flows name the connection they use. An existing connection of this \
                              name is replaced once the new one works." }
        @if !info.default_base_url.is_empty() {
            label for="base_url" { "API address " span.optional { "(optional)" } }
            input #base_url type="url" name="base_url" value=(values.get("base_url"))
                placeholder=(info.default_base_url) aria-describedby="base-url-hint";
            p.hint #base-url-hint { "Leave empty for " (app.title()) "'s own API; give a \
                                     sandbox's address to try things offline." }
        }
    };
    let oauth_hint = html! {
        p.hint { "You will be sent to " (app.title()) "'s authorization page and back to "
                 code { (callback) } " (register it as the app's redirect URL)." }
    };
    let body = match info.flow {
        ConnectFlow::Credentials | ConnectFlow::ClientCredentials => html! {
            form.stack method="post" action="/ui/connections/new" {
                (common)
                input type="hidden" name="method" value="credentials";
                (account_field(&info.account, values))
                (credential_fields(&info.credentials, values))
                button type="submit" { "Connect " (app.title()) }
            }
        },
        ConnectFlow::AuthorizationCode => html! {
            form.stack method="post" action="/ui/connections/new" {
                (common)
                input type="hidden" name="method" value="oauth";
                (account_field(&info.account, values))
                (credential_fields(&info.credentials, values))
                (oauth_hint)
                button type="submit" { "Continue to " (app.title()) }
            }
        },
        ConnectFlow::TokenOrOAuth => html! {
            form.stack method="post" action="/ui/connections/new" #connect-oauth {
                h2 { "With OAuth" }
                (common)
                input type="hidden" name="method" value="oauth";
                label for="client_id" { "OAuth client id" }
                input #client_id type="text" name="client_id" value=(values.get("client_id"))
                    required autocomplete="off";
                label for="client_secret" { "OAuth client secret" }
                input #client_secret type="password" name="client_secret" required
                    autocomplete="off";
                div.check {
                    input #write type="checkbox" name="write" value="on"
                        checked[values.get("write") == "on"];
                    label for="write" { "Ask to write too (" (info.write_scopes.join(", ")) ")" }
                }
                (oauth_hint)
                button type="submit" { "Continue to " (app.title()) }
            }
            form.stack method="post" action="/ui/connections/new" #connect-token {
                h2 { "With a private integration token" }
                (csrf_field(session))
                input type="hidden" name="app" value=(id.as_str());
                input type="hidden" name="method" value="token";
                label for="token-name" { "Connection name" }
                input #token-name type="text" name="name" value=(name) required;
                label for="token-base-url" { "API address " span.optional { "(optional)" } }
                input #token-base-url type="url" name="base_url" value=(values.get("base_url"))
                    placeholder=(info.default_base_url);
                label for="token" { "Private integration token" }
                input #token type="password" name="token" required autocomplete="off";
                label for="account" { "The token's " (info.account) " id" }
                input #account type="text" name="account" value=(values.get("account")) required;
                button type="submit" { "Connect " (app.title()) }
            }
        },
    };
    html! {
        h1 { "Connect " (app.title()) }
        @if let Some(notice) = notice { (notice.render()) }
        (body)
        p { a href="/ui/connections" { "Back to the connections" } }
    }
}

fn account_field(account: &str, values: &Values) -> Markup {
    html! {
        label for="account" { "The " (account) " it speaks for " span.optional { "(optional)" } }
        input #account type="text" name="account" value=(values.get("account"));
    }
}

/// A field per credential: a password field for a secret (never filled in), a text field for
/// the others; the optional ones say so.
fn credential_fields(credentials: &[ghl_apps::auth::Credential], values: &Values) -> Markup {
    html! {
        @for credential in credentials {
            @let field = format!("credential.{}", credential.name);
            @let id = format!("credential-{}", credential.name);
            label for=(id) {
                (credential.name.replace('_', " "))
                @if credential.optional { " " span.optional { "(optional)" } }
            }
            @if credential.secret {
                input id=(id) type="password" name=(field) required[!credential.optional]
                    autocomplete="off";
            } @else {
                input id=(id) type="text" name=(field) value=(values.get(&field))
                    required[!credential.optional] autocomplete="off";
            }
        }
    }
}

/// The UI's callback at the address the browser reached this server by.
fn callback_url(headers: &HeaderMap) -> Option<Url> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let url = Url::parse(&format!("http://{host}{CALLBACK_PATH}")).ok()?;
    // A Host that is not a host (a path, a user) is not an address to come back to.
    (url.path() == CALLBACK_PATH && url.username().is_empty()).then_some(url)
}

/// `POST /ui/connections/new`: the connect form. A connection is stored only once it
/// works; anything refused is said on the form again (secrets never filled in again), and
/// nothing is changed.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Posted { session, form }: Posted<Vec<(String, String)>>,
) -> Response {
    let given: BTreeMap<String, String> =
        form.into_iter().map(|(key, value)| (key, value.trim().to_owned())).collect();
    let field = |key: &str| given.get(key).map(String::as_str).filter(|value| !value.is_empty());
    let Some(app) = field("app").and_then(|app| state.service.engine_apps().get(app)).cloned()
    else {
        return error_page(StatusCode::NOT_FOUND, "No such app", "Pick an app from the list.");
    };
    let info = app.connect_info();
    let secret_fields: Vec<String> = info
        .credentials
        .iter()
        .filter(|credential| credential.secret)
        .map(|credential| format!("credential.{}", credential.name))
        .chain(["client_secret".to_owned(), "token".to_owned(), "csrf".to_owned()])
        .collect();
    let values = Values(
        given
            .iter()
            .filter(|(key, _)| !secret_fields.contains(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let callback = callback_url(&headers);
    let refuse = |notice: Notice| {
        let callback = callback.as_ref().map(Url::to_string).unwrap_or_default();
        let form = connect_form(&*app, &session, &values, Some(&notice), &callback);
        let page = page("Connect an app", Some(&session), Nav::Connections, form);
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let invalid = |error: String| Notice::Failed { error, remedy: None };
    let name = field("name").unwrap_or(app.id().as_str()).to_owned();
    let base_url = match field("base_url").map(Url::parse).transpose() {
        Ok(url) => url,
        Err(err) => return refuse(invalid(format!("The API address is not an address: {err}."))),
    };
    let account = field("account");
    let connections = state.service.connections();
    let app_id = app.id();
    let connected = match (info.flow, field("method")) {
        (ConnectFlow::Credentials | ConnectFlow::ClientCredentials, _) => {
            let mut credentials = BTreeMap::new();
            for credential in &info.credentials {
                match field(&format!("credential.{}", credential.name)) {
                    Some(value) => {
                        credentials.insert(credential.name.clone(), Secret::new(value.to_owned()));
                    }
                    None if credential.optional => {}
                    None => {
                        let missing = credential.name.replace('_', " ");
                        return refuse(invalid(format!("Give the {missing}: it is required.")));
                    }
                }
            }
            connections
                .connect_credentials(
                    app_id.as_str(),
                    &name,
                    base_url.as_ref(),
                    account,
                    credentials,
                )
                .await
        }
        (ConnectFlow::TokenOrOAuth, Some("token")) => {
            let (Some(token), Some(account)) = (field("token"), account) else {
                let account = &info.account;
                return refuse(invalid(format!("Give the private token and its {account} id.")));
            };
            let base_url = match base_url.map_or_else(|| info.default_base_url.parse(), Ok) {
                Ok(url) => url,
                Err(err) => return refuse(invalid(format!("The app's address is not one: {err}"))),
            };
            let token = Secret::new(token.to_owned());
            connections
                .connect_private_token(app_id.as_str(), &name, token, &base_url, account)
                .await
        }
        (ConnectFlow::AuthorizationCode | ConnectFlow::TokenOrOAuth, _) => {
            let client = |key: &str| field(key).or_else(|| field(&format!("credential.{key}")));
            let (Some(client_id), Some(client_secret)) =
                (client("client_id"), client("client_secret"))
            else {
                return refuse(invalid("Give the OAuth client id and client secret.".into()));
            };
            let Some(redirect_uri) = callback.clone() else {
                let error = "The request did not say which address it reached this server by \
                             (its Host header), so the authorization could not come back."
                    .to_owned();
                return refuse(invalid(error));
            };
            let base_url = match base_url.map_or_else(|| info.default_base_url.parse(), Ok) {
                Ok(url) => url,
                Err(err) => return refuse(invalid(format!("The app's address is not one: {err}"))),
            };
            let request = OAuthRequest {
                app: app_id.to_string(),
                name: name.clone(),
                client_id: client_id.to_owned(),
                client_secret: Secret::new(client_secret.to_owned()),
                base_url,
                authorize_url: None,
                token_url: None,
                redirect_uri,
                account: account.map(str::to_owned),
                write: field("write") == Some("on") || info.flow == ConnectFlow::AuthorizationCode,
                scopes: Vec::new(),
            };
            return match connections.oauth_start(request).await {
                Ok(started) => Redirect::to(started.url.as_str()).into_response(),
                Err(err) => refuse(Notice::failed(&err)),
            };
        }
    };
    match connected {
        Ok(connected) => connected_redirect(&connected.name),
        Err(err) => refuse(Notice::failed(&err)),
    }
}

fn connected_redirect(name: &str) -> Response {
    see_other("/ui/connections", &[("connected", name)])
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /ui/connections/callback`: where an app's authorization page sends the browser back;
/// the code is exchanged and the connection stored (once it works).
pub(crate) async fn callback(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let connections = state.service.connections();
    let failed = |notice: Notice, status: StatusCode| {
        let body = html! {
            h1 { "The connection was not made" }
            (notice.render())
            p { a href="/ui/connections" { "Back to the connections" } }
        };
        (status, page("Connection not made", Some(&session), Nav::Connections, body))
            .into_response()
    };
    let Some(oauth_state) = query.state.as_deref() else {
        let error = "The authorization came back without its state.".to_owned();
        return failed(Notice::Failed { error, remedy: None }, StatusCode::BAD_REQUEST);
    };
    if let Some(error) = query.error.as_deref() {
        connections.oauth_abandon(oauth_state);
        let said = query.error_description.as_deref().unwrap_or(error);
        let error = format!("The app declined the authorization: {said}.");
        return failed(Notice::Failed { error, remedy: None }, StatusCode::BAD_REQUEST);
    }
    let Some(code) = query.code.as_deref() else {
        connections.oauth_abandon(oauth_state);
        let error = "The authorization came back without a code.".to_owned();
        return failed(Notice::Failed { error, remedy: None }, StatusCode::BAD_REQUEST);
    };
    match connections.oauth_finish(oauth_state, code).await {
        Ok(connected) => connected_redirect(&connected.name),
        Err(err) => failed(Notice::failed(&err), StatusCode::UNPROCESSABLE_ENTITY),
    }
}
