//! The HighLevel API client: every operation of the Contacts API and the appointment
//! operations of the Calendars API, with OAuth and single-flight refresh (`auth`), a rate
//! budget shared by every task (`rate_budget`), retry decisions in one place (`retry`),
//! recovery of creates whose answer was lost (`recovery`), and pagination as streams
//! (`pagination`). The execute loop knows no app by name: what is HighLevel's (its `Version`
//! header, error bodies, rate-limit headers, `user_type`) comes from a `profile`.
//! The engine talks to HighLevel only through this crate.

pub mod auth;
pub mod error;
pub mod operations;
pub mod pagination;
pub mod profile;
pub mod rate_budget;
mod recovery;
pub mod retry;
pub mod secret;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ghl_types::operations::LostCreate;
use ghl_types::Operation;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

pub use auth::{
    post_token_endpoint, ClientAuth, Credentials, LocalTokenLock, MemoryTokenStore, OAuthApp,
    OAuthConnection, OAuthOptions, TokenEndpointError, TokenLock, TokenLockGuard, TokenRetry,
    TokenSet, TokenStore,
};
pub use error::{Error, Result};
pub use profile::{AppProfile, HighLevel};
pub use rate_budget::{BudgetKey, BudgetLevel, Limit, LocalBudget, Observation, RateBudget};
pub use retry::{Backoff, RetryPolicy, Verdict, Wait};
pub use secret::Secret;

use crate::retry::{classify, classify_transport, retry_after};

pub struct ClientConfig {
    /// `https://services.leadconnectorhq.com`, or a sandbox's `base_url`.
    pub base_url: Url,
    pub credentials: Credentials,
    /// The location the credentials speak for (the rate budget is per location).
    pub location_id: String,
    /// Shared budget; give every client of a process the same one. A fresh one when `None`.
    pub budget: Option<Arc<dyn RateBudget>>,
    pub retry: RetryPolicy,
    /// The app's ways (headers, error bodies, rate-limit headers): HighLevel's by default.
    pub profile: Arc<dyn AppProfile>,
}

impl ClientConfig {
    pub fn new(base_url: Url, credentials: Credentials, location_id: impl Into<String>) -> Self {
        Self {
            base_url,
            credentials,
            location_id: location_id.into(),
            budget: None,
            retry: RetryPolicy::default(),
            profile: Arc::new(HighLevel::default()),
        }
    }
}

/// A cheap-to-clone handle; clones share credentials, budget and connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    credentials: Credentials,
    location_id: String,
    budget: Arc<dyn RateBudget>,
    budget_key: BudgetKey,
    retry: RetryPolicy,
    profile: Arc<dyn AppProfile>,
}

/// Path and query parameters of a call, by the spec's names.
pub type Params<'a> = [(&'a str, &'a str)];

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| Error::InvalidCall(format!("cannot build the HTTP client: {err}")))?;
        let app = match &config.credentials {
            Credentials::PrivateToken(_) => "private-integration".to_owned(),
            Credentials::OAuth(connection) => format!("oauth:{}", connection.client_id()),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.base_url,
                budget_key: BudgetKey { app, location: config.location_id.clone() },
                credentials: config.credentials,
                location_id: config.location_id,
                budget: config.budget.unwrap_or_else(|| LocalBudget::new()),
                retry: config.retry,
                profile: config.profile,
            }),
        })
    }

    pub fn location_id(&self) -> &str {
        &self.inner.location_id
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Calls any operation by its spec id: `params` fill the path template, the others go in
    /// the query string; the client's location is filled where the operation takes it and
    /// the caller did not give it. Answers the JSON body.
    pub async fn call(
        &self,
        operation_id: &str,
        params: &Params<'_>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let operation = Operation::find(operation_id).ok_or_else(|| {
            Error::InvalidCall(format!(
                "unknown operation {operation_id}: not in the operation table"
            ))
        })?;
        if operation.lacks_tenant(params, body) && !self.location_id().is_empty() {
            let mut params: Vec<(String, String)> =
                params.iter().map(|(name, value)| ((*name).into(), (*value).into())).collect();
            let mut body = body.cloned();
            operation.fill_tenant(self.location_id(), &mut params, &mut body);
            let params: Vec<(&str, &str)> =
                params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            let (path, query) = fill_path(operation, &params)?;
            return self.execute(operation, &path, &query, &params, body.as_ref()).await;
        }
        let (path, query) = fill_path(operation, params)?;
        self.execute(operation, &path, &query, params, body).await
    }

    /// For a create whose outcome is unknown (a crash between sending it and recording its
    /// answer): the answer it would have given, if the record it meant to create exists.
    /// Reads only; `since` bounds which records can be the one.
    pub async fn find_created(
        &self,
        operation_id: &str,
        params: &Params<'_>,
        body: Option<&Value>,
        since: SystemTime,
    ) -> Result<Option<Value>> {
        let operation = Operation::find(operation_id)
            .ok_or_else(|| Error::InvalidCall(format!("unknown operation {operation_id}")))?;
        recovery::find_created(self, operation, params, body, since).await
    }

    /// Whether an operation creates a new record each time it runs (never repeated blindly).
    pub fn is_create(operation_id: &str) -> bool {
        Operation::find(operation_id).is_some_and(|operation| operation.creates.is_some())
    }

    async fn bearer(&self) -> Result<Secret<String>> {
        match &self.inner.credentials {
            Credentials::PrivateToken(token) => Ok(token.clone()),
            Credentials::OAuth(connection) => connection.access_token(&self.inner.http).await,
        }
    }

    /// One call: budget, token, send; then retry, refresh or recover as the retry logic
    /// classifies the answer. A rate limit that outlasts the call's retries, and a spent
    /// daily quota, are errors that carry their wait ([`Error::wait`]).
    async fn execute(
        &self,
        operation: &'static Operation,
        path: &str,
        query: &[(String, String)],
        params: &Params<'_>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let inner = &self.inner;
        let started = Instant::now();
        // Records created from here on may be ours, should an answer be lost.
        let since = SystemTime::now() - Duration::from_secs(5);
        let is_create = operation.creates.is_some();
        let mut attempt = 0;
        let mut refreshed = false;
        let mut maybe_applied = false;
        loop {
            inner.budget.acquire(&inner.budget_key).await?;
            let token = self.bearer().await?;
            let sent = Instant::now();
            let (verdict, status, answer) = match self
                .send_once(operation, path, query, body, &token)
                .await
            {
                Ok((status, headers, value)) => {
                    let seen =
                        inner.profile.observe(status, &headers, sent.elapsed(), SystemTime::now());
                    inner.budget.observe(&inner.budget_key, &seen).await;
                    (classify(status, retry_after(&headers)), Some(status), value)
                }
                Err(err) => (classify_transport(&err), None, Value::String(err.to_string())),
            };
            let (after, ambiguous) = match verdict {
                Verdict::Done => return Ok(answer),
                Verdict::Refused => {
                    let status = status.unwrap_or_default();
                    match (inner.profile.refusal(operation.id, status, &answer), operation.creates)
                    {
                        // An earlier attempt did create the record: the account now refuses
                        // its twin.
                        (
                            Error::Duplicate { contact_id, .. },
                            Some(LostCreate::DuplicateRule(rule)),
                        ) if maybe_applied => {
                            return recovery::refused_twin(self, &rule, &contact_id).await;
                        }
                        (error, _) => return Err(error),
                    }
                }
                Verdict::Refresh => {
                    if let Some(error) = inner.profile.unauthorized(operation.id, &answer) {
                        return Err(error);
                    }
                    match &inner.credentials {
                        Credentials::OAuth(connection) if !refreshed => {
                            refreshed = true;
                            connection.after_unauthorized(&inner.http, &token).await?;
                            continue;
                        }
                        _ => {
                            return Err(Error::Unauthorized {
                                operation: operation.id.into(),
                                message: profile::message_of(&answer),
                            })
                        }
                    }
                }
                Verdict::Throttled { after } => (after, false),
                Verdict::Retry { after, ambiguous } => (after, ambiguous),
            };
            attempt += 1;
            if is_create && ambiguous {
                maybe_applied = true;
                if let Some(found) =
                    recovery::find_created(self, operation, params, body, since).await?
                {
                    tracing::info!(
                        operation = operation.id,
                        "an ambiguous create had taken effect; not repeated"
                    );
                    return Ok(found);
                }
            }
            let asked = after.map(|wait| wait.remaining(SystemTime::now()));
            let delay = inner.retry.backoff().delay(attempt, asked);
            if attempt >= inner.retry.max_attempts
                || started.elapsed() + delay > inner.retry.max_total
            {
                return Err(match status {
                    Some(429) => {
                        Error::RateLimited { operation: operation.id.into(), retry_after: delay }
                    }
                    _ => Error::Transient {
                        operation: operation.id.into(),
                        status,
                        message: profile::message_of(&answer),
                    },
                });
            }
            tracing::debug!(operation = operation.id, attempt, ?status, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        operation: &Operation,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        token: &Secret<String>,
    ) -> std::result::Result<(u16, HeaderMap, Value), reqwest::Error> {
        let inner = &self.inner;
        let url = format!("{}{}", inner.base_url.as_str().trim_end_matches('/'), path);
        let method = reqwest::Method::from_bytes(operation.method.as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut request = inner
            .http
            .request(method, url)
            .query(query)
            .bearer_auth(token.expose())
            .header("Accept", "application/json")
            .timeout(inner.retry.request_timeout);
        for &(name, value) in inner.profile.headers(operation) {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        // Taken, not cloned: reading the body needs no header.
        let headers = std::mem::take(response.headers_mut());
        let bytes = response.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, headers, value))
    }
}

/// Fills `{name}` segments of the path from `params`; the other params become the query.
/// One pass over the template, without building a `{name}` string per parameter.
fn fill_path(
    operation: &Operation,
    params: &Params<'_>,
) -> Result<(String, Vec<(String, String)>)> {
    let template = operation.path;
    let mut path = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        let (name, after) = rest[start + 1..].split_once('}').unwrap_or((&rest[start + 1..], ""));
        let Some((_, value)) = params.iter().find(|(param, _)| *param == name) else {
            return Err(Error::InvalidCall(format!("{}: missing parameter {name}", operation.id)));
        };
        path.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        rest = after;
    }
    path.push_str(rest);
    // A parameter fills the path when the template names it; a second of the same name
    // goes to the query.
    let query = params
        .iter()
        .enumerate()
        .filter(|&(index, (name, _))| {
            !(placeholders(template).any(|placeholder| placeholder == *name)
                && params.iter().position(|(param, _)| param == name) == Some(index))
        })
        .map(|(_, (name, value))| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Ok((path, query))
}

/// The `{name}`s of a path template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(id: &str) -> &'static Operation {
        Operation::find(id).expect("in the operation table")
    }

    #[test]
    fn params_fill_the_path_encoded_and_the_rest_is_the_query() {
        let params = [("limit", "1"), ("taskId", "t 1"), ("contactId", "c/1"), ("contactId", "c2")];
        let (path, query) = fill_path(operation("get-task"), &params).expect("filled");
        assert_eq!(path, "/contacts/c%2F1/tasks/t+1");
        let query: Vec<(&str, &str)> =
            query.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        assert_eq!(query, [("limit", "1"), ("contactId", "c2")]);
    }

    #[test]
    fn a_missing_path_param_is_named() {
        let error = fill_path(operation("get-task"), &[("contactId", "c1")]).expect_err("missing");
        assert!(error.to_string().contains("missing parameter taskId"), "{error}");
    }
}
