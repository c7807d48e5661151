//! What a step that makes a request does once its input is evaluated: an app's operation
//! or a plain HTTP request becomes a [`Request`], which is described (recorded by real runs,
//! shown by test runs) and then sent. Real runs and test runs share all of it; they differ
//! only in what they record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ghl_client::retry::{classify, retry_after, Verdict, Wait};
use ghl_store::Timestamp;
use ghl_types::remedy::Remedy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::apps::{App, AppClient, CallOptions, OperationSpec};
use crate::connections::HttpSecret;
use crate::mask::MASK;

/// Why a step failed, and whether trying again later may help.
#[derive(Debug)]
pub(crate) struct StepError {
    pub message: String,
    pub retryable: bool,
    /// What the other side asked for with a failure (a 503's `Retry-After`): the retry, an
    /// attempt like any, comes no sooner.
    pub retry_after: Option<Wait>,
    /// The other side limits us (a 429's `Retry-After`, a spent daily quota): the run waits
    /// until then, and the wait is not a failed attempt. The request changed nothing.
    pub wait: Option<Wait>,
    /// The connection that needs re-authorising before anything can succeed.
    pub reconnect: Option<String>,
    /// What to do about it, for the front ends to say.
    pub remedy: Option<Remedy>,
    /// The other side definitively refused the request (a 4xx other than 408 and 429):
    /// nothing changed, so a replay evaluates the step afresh instead of repeating it.
    pub refused: bool,
    /// A write that may or may not have taken effect and cannot be repeated safely: held
    /// for a person to check (step status `unknown`); a replay sends it again.
    pub outcome_unknown: bool,
}

impl StepError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
            wait: None,
            reconnect: None,
            remedy: None,
            refused: false,
            outcome_unknown: false,
        }
    }

    /// An earlier attempt of `operation` of `app` was sent and its outcome is unknown (the
    /// connector stopped before the answer), and the app can neither deduplicate a repeat nor
    /// find what it made: it is not sent again on a guess.
    pub fn outcome_unknown(app: &str, operation: &str) -> Self {
        Self {
            outcome_unknown: true,
            ..Self::fatal(format!(
                "{app}.{operation}: outcome unknown: an earlier attempt was sent and the \
                 connector stopped before its answer; not sent again because {app} cannot tell \
                 a repeat apart — check {app}, and replay the run to send it if it did not \
                 arrive"
            ))
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self { retryable: true, ..Self::fatal(message) }
    }
}

/// Whether an HTTP status is a definitive refusal: the request changed nothing and sending it
/// again as it is cannot succeed (the retry logic's word: any 4xx but 408 and 429).
fn refusal(status: u16) -> bool {
    matches!(classify(status, None), Verdict::Refused | Verdict::Refresh)
}

/// A request a step makes.
pub(crate) enum Request {
    /// An operation of a registered app, through a connection's client.
    App {
        app: Arc<dyn App>,
        client: Arc<dyn AppClient>,
        connection: String,
        operation: Arc<OperationSpec>,
        params: Vec<(String, String)>,
        body: Option<Value>,
        /// A write's intent key, the same on every attempt (`CallOptions::intent`).
        intent: Option<String>,
        /// Its first attempt spends a request reserved in the budget (`Request::reserve`).
        reserved: bool,
    },
    Http(HttpRequest),
}

/// The `http.request` action's request.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpRequest {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A string is sent as it is; anything else as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The headers of the step's `http` connection: added when sent, never recorded.
    #[serde(skip)]
    pub credentials: BTreeMap<String, String>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn get() -> String {
    "GET".into()
}

impl HttpRequest {
    /// The request a step's input describes. With a connection (`http` connection's secret),
    /// a relative `url` is resolved against its base URL, an absolute one must lie under it,
    /// and its headers are added when the request is sent.
    pub fn from_input(
        input: &Value,
        connection: Option<&HttpSecret>,
    ) -> Result<Self, HttpRequestError> {
        let mut request: Self =
            serde_json::from_value(input.clone()).map_err(HttpRequestError::Input)?;
        request.method = request.method.to_ascii_uppercase();
        reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpRequestError::Method(request.method.clone()))?;
        let base = match connection.and_then(|secret| secret.base_url.as_deref()) {
            Some(base) => Some(url::Url::parse(base).map_err(HttpRequestError::BaseUrl)?),
            None => None,
        };
        let bad_url = |error| HttpRequestError::Url { url: request.url.clone(), error };
        let url = match (&base, url::Url::parse(&request.url)) {
            (_, Ok(url)) => url,
            (Some(base), Err(url::ParseError::RelativeUrlWithoutBase)) => {
                let relative = request.url.trim_start_matches('/');
                let mut base = base.clone();
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                base.join(relative).map_err(bad_url)?
            }
            (_, Err(err)) => return Err(bad_url(err)),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpRequestError::Scheme(request.url));
        }
        if let Some(base) = &base {
            let prefix = base.path().trim_end_matches('/');
            let under = url.origin() == base.origin()
                && (url.path() == prefix || url.path().starts_with(&format!("{prefix}/")));
            if !under {
                return Err(HttpRequestError::NotUnderBase {
                    url: url.into(),
                    base: base.to_string(),
                });
            }
        }
        request.url = url.to_string();
        if let Some(secret) = connection {
            request.credentials = secret.headers.clone();
        }
        Ok(request)
    }

    /// Whether sending it twice could do something twice.
    pub fn writes(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    async fn send(&self, http: &reqwest::Client) -> Result<Value, StepError> {
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| StepError::fatal(format!("`{}` is not an HTTP method", self.method)))?;
        let mut builder = http.request(method, &self.url).query(&self.query);
        for (name, value) in self.headers.iter().chain(&self.credentials) {
            builder = builder.header(name, value);
        }
        builder = match &self.body {
            Some(Value::String(text)) => builder.body(text.clone()),
            Some(body) => builder.json(body),
            None => builder,
        };
        // No answer: the retry logic retries (ambiguous or not, the worker repeats the
        // request as recorded, with its idempotency key).
        let response = builder
            .send()
            .await
            .map_err(|err| StepError::retryable(format!("{} {}: {err}", self.method, self.url)))?;
        let status = response.status();
        let verdict = classify(status.as_u16(), retry_after(response.headers()));
        let text = response.text().await.map_err(|err| {
            StepError::retryable(format!("{} {}: reading the answer: {err}", self.method, self.url))
        })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let message =
            || format!("{} {} answered {status}: {}", self.method, self.url, excerpt(&body));
        match verdict {
            Verdict::Done => Ok(json!({ "status": status.as_u16(), "body": body })),
            // Told when to come back: a wait. Without a time, an attempt with backoff.
            Verdict::Throttled { after } => Err(StepError {
                wait: after,
                refused: after.is_some(),
                ..StepError::retryable(message())
            }),
            Verdict::Retry { after, .. } => {
                Err(StepError { retry_after: after, ..StepError::retryable(message()) })
            }
            Verdict::Refresh | Verdict::Refused => {
                Err(StepError { refused: true, ..StepError::fatal(message()) })
            }
        }
    }
}

/// The start of an answer, for an error message (cut between characters, never inside one).
fn excerpt(body: &Value) -> String {
    const SHOWN: usize = 300;
    let text = body.to_string();
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl Request {
    /// What is recorded as the step's request and shown by test runs (masked by the
    /// caller, as everything recorded is; a connection's credentials are not in it at all).
    pub fn describe(&self) -> Value {
        match self {
            Self::App { operation, params, body, .. } => {
                json!({ "operation": operation.id, "params": params, "body": body })
            }
            Self::Http(request) => json!({ "http": request }),
        }
    }

    /// Rebuilds the request a first attempt recorded, so a retry repeats its intent even when
    /// the inputs depend on the time. Secrets were masked in the record: headers and any
    /// part that shows the mask come from `fresh`.
    pub fn repeat(self, recorded: &Value) -> Self {
        let masked = |value: &Value| value.to_string().contains(MASK);
        match self {
            Self::App { app, client, connection, operation, params, body, intent, reserved } => {
                let (params, body) = request_parts(recorded)
                    .filter(|(params, body)| {
                        !params.iter().any(|(_, value)| value.contains(MASK))
                            && !body.as_ref().is_some_and(masked)
                    })
                    .unwrap_or((params, body));
                Self::App { app, client, connection, operation, params, body, intent, reserved }
            }
            Self::Http(fresh) => {
                let recorded = recorded
                    .get("http")
                    .and_then(|value| serde_json::from_value::<HttpRequest>(value.clone()).ok());
                Self::Http(match recorded {
                    Some(recorded) => {
                        let query = recorded
                            .query
                            .into_iter()
                            .map(|(name, value)| match fresh.query.get(&name) {
                                Some(fresh) if value.contains(MASK) => (name, fresh.clone()),
                                _ => (name, value),
                            })
                            .collect();
                        HttpRequest {
                            url: if recorded.url.contains(MASK) { fresh.url } else { recorded.url },
                            body: if recorded.body.as_ref().is_some_and(masked) {
                                fresh.body
                            } else {
                                recorded.body
                            },
                            query,
                            headers: fresh.headers,
                            credentials: fresh.credentials,
                            method: recorded.method,
                        }
                    }
                    None => fresh,
                })
            }
        }
    }

    /// After a crash between sending a create and recording it: what the lost attempt
    /// created, if it did (looked up by the app's client where it can; plain HTTP requests
    /// cannot be looked up).
    pub async fn find_created(&self, enqueued: Timestamp) -> Option<Value> {
        let Self::App { client, operation, params, body, .. } = self else { return None };
        let since = SystemTime::from(enqueued.max(Timestamp::EPOCH));
        let since = since.checked_sub(Duration::from_secs(5)).unwrap_or(SystemTime::UNIX_EPOCH);
        client.find_created(operation, params, body.as_ref(), since).await
    }

    /// Why an attempt of this request, whose earlier attempt's outcome is unknown, must not
    /// be sent: its app can neither deduplicate a repeat nor find what it made. `None` when
    /// it may be sent (or its lost create looked up first).
    pub fn held(&self) -> Option<StepError> {
        match self {
            Self::App { app, operation, .. } if !operation.repeatable => {
                Some(StepError::outcome_unknown(app.id().as_str(), &operation.id))
            }
            _ => None,
        }
    }

    /// For a write its app can neither deduplicate nor look up (a chat message): waits for
    /// room in the rate budget and takes it, so that the intent the caller records next is
    /// followed at once by the request, not by a wait a crash could cut (which would leave a
    /// message held that never left). Other requests take theirs when sent.
    pub async fn reserve(&mut self) -> Result<(), StepError> {
        let Self::App { app, client, connection, operation, reserved, .. } = self else {
            return Ok(());
        };
        if !operation.writes || operation.repeatable {
            return Ok(());
        }
        client.reserve(operation).await.map_err(|err| failure(app.as_ref(), connection, err))?;
        *reserved = true;
        Ok(())
    }

    pub async fn send(&self, http: &reqwest::Client) -> Result<Value, StepError> {
        match self {
            Self::App { app, client, connection, operation, params, body, intent, reserved } => {
                let options = CallOptions { intent: intent.as_deref(), reserved: *reserved };
                client
                    .call(operation, params, body.as_ref(), options)
                    .await
                    .map_err(|err| failure(app.as_ref(), connection, err))
            }
            Self::Http(request) => request.send(http).await,
        }
    }
}

/// A step's error from its app client's: a connection to reconnect says so, with the
/// remedy; a rate limit or a spent quota changed nothing (refused, with when to try again).
fn failure(app: &dyn App, connection: &str, err: ghl_client::Error) -> StepError {
    let retryable = err.is_retryable();
    let wait = err.wait();
    match err {
        ghl_client::Error::ReconnectNeeded { .. } => StepError {
            message: format!(
                "{err}; connection `{connection}` needs reconnecting; then replay its dead runs"
            ),
            retryable,
            retry_after: None,
            wait: None,
            reconnect: Some(connection.to_owned()),
            remedy: Some(Remedy::Reconnect {
                app: app.id().to_string(),
                connection: connection.to_owned(),
                scopes: Vec::new(),
                replay_dead_runs: true,
            }),
            refused: false,
            outcome_unknown: false,
        },
        _ => StepError {
            retryable,
            wait,
            refused: wait.is_some() || err.status().is_some_and(refusal),
            outcome_unknown: matches!(err, ghl_client::Error::OutcomeUnknown { .. }),
            ..StepError::fatal(err.to_string())
        },
    }
}

/// A request's path and query parameters, and its body.
type RequestParts = crate::apps::RequestParts;

/// The parameters and body of a recorded app request.
fn request_parts(request: &Value) -> Option<RequestParts> {
    let params = request.get("params")?.as_array()?;
    let params = params
        .iter()
        .filter_map(|pair| {
            Some((pair.get(0)?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned()))
        })
        .collect();
    let body = request.get("body").filter(|body| !body.is_null()).cloned();
    Some((params, body))
}

/// The longest a delay step waits.
const MAX_DELAY_SECS: f64 = 366.0 * 86_400.0;

/// Why an `http.request` step's input is not a request that may be sent.
#[derive(Debug, thiserror::Error)]
pub enum HttpRequestError {
    #[error("http.request: {0}")]
    Input(#[source] serde_json::Error),
    #[error("http.request: `{0}` is not an HTTP method")]
    Method(String),
    #[error("http.request: the connection's base URL: {0}")]
    BaseUrl(#[source] url::ParseError),
    #[error("http.request: url `{url}`: {error}")]
    Url {
        url: String,
        #[source]
        error: url::ParseError,
    },
    #[error("http.request: url `{0}` is not http or https")]
    Scheme(String),
    #[error(
        "http.request: url `{url}` is not under the connection's base URL `{base}`, so its \
         credentials are not sent there"
    )]
    NotUnderBase { url: String, base: String },
}

/// Why a delay step's input says no time to wait until.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DelayError {
    #[error("seconds: {0} is not a number of seconds up to a year")]
    Seconds(Value),
    #[error("until: {0} is not an RFC 3339 date-time")]
    Until(Value),
    #[error("util.delay takes one of `seconds` or `until`")]
    Neither,
}

/// When a delay step's input says to wait until.
pub(crate) fn delay_until(input: &Value, now: Timestamp) -> Result<Timestamp, DelayError> {
    match (
        input.get("seconds").filter(|v| !v.is_null()),
        input.get("until").filter(|v| !v.is_null()),
    ) {
        (Some(seconds), None) => match seconds.as_f64() {
            Some(secs) if (0.0..=MAX_DELAY_SECS).contains(&secs) => {
                Ok(now + Duration::from_millis((secs * 1000.0) as u64))
            }
            _ => Err(DelayError::Seconds(seconds.clone())),
        },
        (None, Some(until)) => until
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map(|time| Timestamp::from(time.to_utc()))
            .ok_or_else(|| DelayError::Until(until.clone())),
        _ => Err(DelayError::Neither),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_seconds_or_a_time() {
        let at = |ms| Timestamp::from_millis(ms);
        assert_eq!(delay_until(&json!({ "seconds": 1.5 }), at(1_000)), Ok(at(2_500)));
        let until = json!({ "until": "2026-11-23T10:00:00Z" });
        assert_eq!(delay_until(&until, at(0)), Ok(at(1_795_428_000_000)));
        for bad in [
            json!({ "seconds": -1 }),
            json!({ "seconds": 1e300 }),
            json!({}),
            json!({ "seconds": 1, "until": "2026-11-23T10:00:00Z" }),
            json!({ "until": "soon" }),
        ] {
            assert!(delay_until(&bad, Timestamp::EPOCH).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_excerpt_cuts_between_characters() {
        let long = Value::String("é".repeat(400));
        let shown = excerpt(&long);
        assert_eq!(shown.chars().count(), 301, "300 characters and the ellipsis");
        assert_eq!(excerpt(&Value::String("short".into())), "\"short\"");
    }

    #[test]
    fn http_requests_are_checked() {
        let input = json!({ "method": "post", "url": "https://example.com/x" });
        let request = HttpRequest::from_input(&input, None).expect("valid");
        assert_eq!(request.method, "POST");
        assert!(request.writes());
        for (bad, why) in [
            (json!({ "url": "ftp://example.com" }), "not http or https"),
            (json!({ "url": "/relative" }), "relative URL without a base"),
            (json!({ "url": "https://example.com", "method": "GE T" }), "not an HTTP method"),
            (json!({ "url": "https://example.com", "verb": "GET" }), "unknown field"),
        ] {
            let error = HttpRequest::from_input(&bad, None).expect_err(why).to_string();
            assert!(error.contains(why), "{why}: {error}");
        }
    }

    #[test]
    fn a_connection_resolves_urls_under_its_base_and_keeps_its_headers_out_of_the_record() {
        let secret = HttpSecret {
            base_url: Some("https://api.example.com/v1".into()),
            headers: [("Authorization".to_owned(), "Bearer t0ken".to_owned())].into(),
        };
        let relative = json!({ "url": "/things?x=1" });
        let request = HttpRequest::from_input(&relative, Some(&secret)).expect("valid");
        assert_eq!(request.url, "https://api.example.com/v1/things?x=1");
        assert_eq!(request.credentials["Authorization"], "Bearer t0ken");
        let described = Request::Http(request).describe().to_string();
        assert!(!described.contains("t0ken"), "{described}");
        for elsewhere in ["https://evil.example.com/v1/things", "https://api.example.com/v2/x"] {
            let error = HttpRequest::from_input(&json!({ "url": elsewhere }), Some(&secret))
                .expect_err(elsewhere)
                .to_string();
            assert!(error.contains("not under the connection's base URL"), "{error}");
        }
    }
}
