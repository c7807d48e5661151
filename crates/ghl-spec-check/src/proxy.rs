//! A validating proxy for tests: listens on 127.0.0.1, checks every request against the spec,
//! records violations, and forwards the request unchanged to the upstream (the sandbox).
//! When the upstream drops the connection (an injected fault), the proxy answers 502 with a
//! text body: to a client that is the same kind of ambiguous failure.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::Value;

use crate::requests::check_request;

#[derive(Debug, Clone)]
pub struct Violation {
    pub method: String,
    pub path: String,
    pub messages: Vec<String>,
}

/// What the proxy saw; clone it freely.
#[derive(Debug, Clone, Default)]
pub struct ProxyReport {
    violations: Arc<Mutex<Vec<Violation>>>,
    checked: Arc<Mutex<u64>>,
}

impl ProxyReport {
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.lock().clone()
    }

    /// Takes the violations seen so far, for a test that breaks the spec on purpose.
    pub fn take(&self) -> Vec<Violation> {
        std::mem::take(&mut *self.violations.lock())
    }

    /// Requests checked so far.
    pub fn checked(&self) -> u64 {
        *self.checked.lock()
    }

    /// Panics listing every request that broke the spec.
    pub fn assert_clean(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "requests that break the spec:\n{violations:#?}");
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    report: ProxyReport,
}

/// Starts the proxy in front of `upstream_base_url`; answers its base URL and its report.
pub async fn start_validating_proxy(upstream_base_url: String) -> (String, ProxyReport) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let address = listener.local_addr().expect("proxy address");
    let report = ProxyReport::default();
    let proxy = Proxy {
        upstream: upstream_base_url.trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        report: report.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), report)
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "proxy: unreadable body").into_response();
    };
    let path = parts.uri.path().to_owned();
    if !path.starts_with("/oauth/") && !path.starts_with("/_sandbox/") {
        check(
            &proxy.report,
            parts.method.as_str(),
            &path,
            parts.uri.query(),
            &parts.headers,
            &bytes,
        );
    }
    let url =
        format!("{}{}", proxy.upstream, parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let mut upstream = proxy.http.request(parts.method.clone(), url).body(bytes);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if !matches!(name.as_str(), "transfer-encoding" | "connection" | "content-length") {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        }
        Err(err) => {
            (StatusCode::BAD_GATEWAY, format!("proxy: upstream failed: {err}")).into_response()
        }
    }
}

fn check(
    report: &ProxyReport,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) {
    *report.checked.lock() += 1;
    let query: Vec<(String, String)> = url_pairs(query.unwrap_or(""));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned())
        })
        .collect();
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => Some(value),
            Err(err) => {
                report.violations.lock().push(Violation {
                    method: method.into(),
                    path: path.into(),
                    messages: vec![format!("body is not JSON: {err}")],
                });
                return;
            }
        }
    };
    if let Err(messages) = check_request(method, path, &query, &headers, body.as_ref()) {
        report.violations.lock().push(Violation {
            method: method.into(),
            path: path.into(),
            messages,
        });
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}
