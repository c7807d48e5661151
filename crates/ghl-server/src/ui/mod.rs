//! The web UI under `/ui`: server-rendered HTML (maud) with one embedded stylesheet and one
//! small script, served by the same router as the REST API. Every page but sign-in and the
//! assets needs a session (`auth::SignedIn`, or a redirect to sign-in); every form it posts
//! carries the session's CSRF token (`auth::Posted`). Pages call `ghl_service::Service`, never
//! the store, and say its errors in words (the error, then its remedy).

mod auth;
mod chart;
mod connections;
mod dashboard;
mod flows;
mod runs;
mod sign_in;
mod templates;

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use ghl_service::sessions::Session;
use ghl_types::remedy::{Listing, Remedy};
use maud::{html, Markup, DOCTYPE};
use sha2::{Digest, Sha256};

use crate::state::AppState;

pub(crate) use auth::api_session;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// Every page's Content-Security-Policy: nothing but this origin's own files, no inline
/// script or style, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The UI's routes, each behind its session check (or none: sign-in and assets).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(dashboard::show))
        .route("/ui/", get(dashboard::show))
        .route("/ui/dashboard/live", get(dashboard::live_part))
        .route("/ui/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/ui/sign-in/link", get(sign_in::link))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/connections", get(connections::list))
        .route("/ui/connections/new", get(connections::new_form).post(connections::create))
        .route("/ui/connections/callback", get(connections::callback))
        .route("/ui/connections/{name}/test", post(connections::test))
        .route(
            "/ui/connections/{name}/remove",
            get(connections::confirm_remove).post(connections::remove),
        )
        .route("/ui/flows", get(flows::list))
        .route("/ui/flows/new", get(flows::new_flow))
        .route("/ui/flows/editor", post(flows::post_editor))
        .route("/ui/flows/yaml", post(flows::post_yaml))
        .route("/ui/flows/{name}/edit", get(flows::edit))
        .route("/ui/flows/{name}/enable", post(flows::enable))
        .route("/ui/flows/{name}/disable", post(flows::disable))
        .route("/ui/templates", get(templates::gallery))
        .route("/ui/templates/{name}", get(templates::show))
        .route("/ui/templates/{name}/install", post(templates::install))
        .route("/ui/runs", get(runs::list))
        .route("/ui/runs/replay-dead", post(runs::replay_dead))
        .route("/ui/runs/{id}", get(runs::show))
        .route("/ui/runs/{id}/row", get(runs::row_fragment))
        .route("/ui/runs/{id}/replay", post(runs::replay))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/{*unknown}", axum::routing::any(no_page))
        .layer(axum::middleware::from_fn(security_headers))
}

/// The headers every UI answer carries: the CSP, no sniffing, no framing, no referrer
/// leaving the origin; pages (not assets) are never cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/ui/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `/ui/assets/app.css` and `/ui/assets/app.js`, cached for a year: their addresses in the
/// pages carry a hash of their content (`?v=`), so a new build is fetched anew.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return error_page(StatusCode::NOT_FOUND, "Not found", "There is no such file."),
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
    ];
    (headers, body).into_response()
}

/// Any other address under `/ui`: a page saying so (the API's unknown paths answer JSON).
async fn no_page() -> Response {
    error_page(StatusCode::NOT_FOUND, "No such page", "There is no page at this address.")
}

/// A short hash of the assets, which their addresses carry.
fn assets_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let digest = Sha256::new().chain_update(CSS).chain_update(JS).finalize();
        digest.iter().take(6).map(|byte| format!("{byte:02x}")).collect()
    })
}

/// The page a nav link is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Connections,
    Flows,
    Templates,
    Runs,
    None,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Dashboard, "/ui", "Dashboard"),
    (Nav::Connections, "/ui/connections", "Connections"),
    (Nav::Flows, "/ui/flows", "Flows"),
    (Nav::Templates, "/ui/templates", "Templates"),
    (Nav::Runs, "/ui/runs", "Runs"),
];

/// A whole page: the header (product, nav, the user and sign-out when signed in) and `body`.
pub(crate) fn page(title: &str, session: Option<&Session>, nav: Nav, body: Markup) -> Markup {
    let version = assets_version();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(session) = session {
                    meta name="csrf-token" content=(session.csrf_token.expose());
                }
                title { (title) " · ghl-connector" }
                link rel="stylesheet" href={ "/ui/assets/app.css?v=" (version) };
                script src={ "/ui/assets/app.js?v=" (version) } defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "ghl-connector" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (item, href, label) in NAV {
                                    li {
                                        @if item == nav {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.sign-out method="post" action="/ui/sign-out" {
                            (csrf_field(session))
                            span.user { "Signed in as " strong #signed-in-user { (session.user) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// The hidden field every form posted by a signed-in page carries.
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf_token.expose()); }
}

/// A redirect (303) after a form to `path` with `query`, whose values say what was done (the
/// page it leads to words the notice itself: a link cannot put text of its own on a page).
pub(crate) fn see_other(path: &str, query: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(query).unwrap_or_default();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

/// A page saying what went wrong, with its status.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (message) }
        p { a href="/ui" { "Back to the dashboard" } }
    };
    (status, page(title, None, Nav::None, body)).into_response()
}

/// A notice above a page's content: what an action did, or why it failed.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    Done(String),
    Failed { error: String, remedy: Option<String> },
}

impl Notice {
    /// A use case's error in words: the error, then what to do about it.
    pub(crate) fn failed(err: &ghl_service::ServiceError) -> Self {
        Self::Failed { error: err.to_string(), remedy: err.remedy().as_ref().map(say_remedy) }
    }

    pub(crate) fn render(&self) -> Markup {
        match self {
            Self::Done(text) => html! { p.notice.done role="status" { (text) } },
            Self::Failed { error, remedy } => html! {
                div.notice.failed role="alert" {
                    p { (error) }
                    @if let Some(remedy) = remedy { p { (remedy) } }
                }
            },
        }
    }
}

/// A remedy as a sentence naming what to do in the UI.
pub(crate) fn say_remedy(remedy: &Remedy) -> String {
    match remedy {
        Remedy::Reconnect { app, connection, scopes, replay_dead_runs } => {
            let mut sentence = format!("Reconnect `{connection}` ({app}) on the Connections page");
            if !scopes.is_empty() {
                sentence.push_str(&format!(", granting {}", scopes.join(", ")));
            }
            if *replay_dead_runs {
                sentence.push_str(", then replay its dead runs");
            }
            sentence.push('.');
            sentence
        }
        Remedy::Connect { app, connection } => {
            let app = app.as_deref().unwrap_or("the app");
            match connection {
                Some(name) => format!("Connect {app} as `{name}` on the Connections page."),
                None => format!("Connect {app} on the Connections page."),
            }
        }
        Remedy::Choose { from } => match from {
            Listing::Connections => "The Connections page lists them.".into(),
            Listing::Flows => "The Flows page lists them.".into(),
            Listing::Templates => "The Templates page lists them.".into(),
        },
        Remedy::TrustWebhookKey { app } => format!(
            "If the sender is a sandbox, connect {app} with the sandbox's address so its keys \
             are learned; otherwise start the server with the sender's public key."
        ),
    }
}

/// A store failure on a page: logged, and said without its details.
pub(crate) fn internal(err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %err, "a UI page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something failed",
        "This page could not be made; the server's log says why.",
    )
}
