//! The local address the authorization page redirects to: it hands the code and state to
//! `connect` (which finishes the authorization through the service), waits for its outcome, and only then shows the browser *connected*, or *failed*
//! with the reason in words.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The callback server; `stop` it once its page is answered.
pub struct Callback {
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

/// What came back to the callback, and the browser waiting for the outcome.
pub struct Returned {
    query: HashMap<String, String>,
    pub state: String,
    page: oneshot::Sender<Response>,
}

impl Callback {
    /// Serves `/callback` on `listener`; the receiver gets the first redirect that comes back.
    pub fn listen(listener: tokio::net::TcpListener) -> (Self, oneshot::Receiver<Returned>) {
        let (sender, receiver) = oneshot::channel();
        let sender = Arc::new(parking_lot::Mutex::new(Some(sender)));
        let router = axum::Router::new().route(
            "/callback",
            axum::routing::get(move |Query(query): Query<HashMap<String, String>>| {
                let sender = sender.clone();
                async move {
                    let Some(sender) = sender.lock().take() else {
                        return failed("this authorization was handled already (see the terminal)");
                    };
                    let (page, shown) = oneshot::channel();
                    let state = query.get("state").cloned().unwrap_or_default();
                    if sender.send(Returned { query, state, page }).is_err() {
                        return failed(
                            "ghl-connector connect stopped waiting for the authorization",
                        );
                    }
                    shown.await.unwrap_or_else(|_| failed("ghl-connector connect stopped"))
                }
            }),
        );
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            let serving =
                axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serving.await {
                tracing::warn!(error = %err, "the OAuth callback stopped");
            }
        });
        (Self { shutdown, server }, receiver)
    }

    /// Stops serving once the page in flight is sent (or after a few seconds).
    pub async fn stop(self) {
        self.shutdown.cancel();
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server).await.is_err() {
            server.abort();
        }
    }
}

impl Returned {
    /// The authorization code, or why there is none (the user or the app refused).
    pub fn code(&self) -> anyhow::Result<&str> {
        if let Some(error) = self.query.get("error") {
            let description = self.query.get("error_description");
            bail!(
                "the authorization was refused: {error}{}",
                description.map(|text| format!(" ({text})")).unwrap_or_default()
            );
        }
        self.query
            .get("code")
            .map(String::as_str)
            .context("the authorization came back without a code")
    }

    /// Shows the browser how `connect` ended: what was connected (`HighLevel location
    /// abc`), or the error.
    pub fn answer(self, outcome: Result<&str, &anyhow::Error>, name: &str) {
        let page = match outcome {
            Ok(reached) => page(
                StatusCode::OK,
                "ghl-connector is connected",
                &format!("The connection `{name}` to {reached} is stored and works. You can close this window."),
            ),
            Err(err) => failed(&format!("{err:#}")),
        };
        let _ = self.page.send(page);
    }
}

fn failed(reason: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Connecting ghl-connector failed",
        &format!("{reason}. See the terminal, then run `ghl-connector connect` again."),
    )
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let (title, text) = (escape(title), escape(text));
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (status, Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
