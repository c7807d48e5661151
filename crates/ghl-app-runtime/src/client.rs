//! `ManifestClient`: one connection to one manifest app, and the one loop every call goes
//! through (the HighLevel client's `execute`, generalised): budget per (app, account) →
//! credentials → send → the manifest's rate-limit headers into the budget → the answer
//! classified by the manifest's error rules, then the defaults → done, refused with a typed
//! error, refreshed once on a 401, or retried with ghl-client's backoff honouring
//! `Retry-After`. After an ambiguous outcome a write does what its `write:` says: looked up
//! before anything is resent (`natural_key`, `child_of`), resent with the same key
//! (`idempotency_key`, `idempotent`), or never resent (`not_repeatable`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ghl_apps::error_rules::ErrorMeaning;
use ghl_apps::writes::Write;
use ghl_apps::{Manifest, Operation};
use ghl_client::{BudgetKey, Limit, Observation, RateBudget, RetryPolicy, Secret, Wait};
use rand::Rng;
use serde_json::Value;
use url::Url;

use crate::answer::{self, Answer, Outcome};
use crate::auth::Authorizer;
use crate::connection::Connection;
use crate::error::RuntimeError;
use crate::recovery;
use crate::request::{self, Context, Request};

/// Records made up to this long before a call began may be the call's own (the app's clock
/// and ours differ a little).
const CLOCK_SLACK: Duration = Duration::from_secs(5);

/// A cheap-to-clone client of one manifest app for one connection; clones share the
/// credentials, the token cache, the budget and the connection pool.
#[derive(Clone)]
pub struct ManifestClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub manifest: Arc<Manifest>,
    pub http: reqwest::Client,
    pub base: Url,
    pub account: Option<String>,
    pub authorizer: Authorizer,
    pub budget: Arc<dyn RateBudget>,
    pub budget_key: BudgetKey,
    /// Whether the manifest's rate window has been told to the budget.
    pub seeded: AtomicBool,
    pub retry: RetryPolicy,
    /// Each operation's compiled body schema.
    pub schemas: HashMap<String, jsonschema::Validator>,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The manifest's `check` call succeeded: the connection works.
    Works,
    /// The manifest names no cheap read to make (a webhook URL cannot be tried without
    /// posting to it).
    NothingToCheck,
}

impl ManifestClient {
    /// A client of `manifest` for `connection`, spending `budget` (share one per process)
    /// and retrying within `retry`. The credentials are checked to be the ones the
    /// manifest's auth kind needs.
    pub fn new(
        manifest: Arc<Manifest>,
        connection: Connection,
        budget: Arc<dyn RateBudget>,
        retry: RetryPolicy,
    ) -> Result<Self, RuntimeError> {
        let app = manifest.app.clone();
        let problem = |problem: String| RuntimeError::Connection { app: app.clone(), problem };
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| problem(format!("cannot get an HTTP client ({err})")))?;
        let configured =
            connection.base_url.clone().unwrap_or_else(|| manifest.base_url.as_url().clone());
        let authorizer =
            Authorizer::new(&app, &manifest.auth, connection.credentials, &configured)?;
        let base = authorizer.credential_url()?.unwrap_or(configured);
        let mut schemas = HashMap::new();
        for operation in &manifest.operations {
            if let Some(schema) = operation.body.as_ref().and_then(|body| body.schema.as_ref()) {
                let validator = jsonschema::validator_for(schema).map_err(|err| {
                    problem(format!("cannot use the body schema of `{}`: {err}", operation.name))
                })?;
                schemas.insert(operation.name.clone(), validator);
            }
        }
        let budget_key = BudgetKey {
            app: app.clone(),
            location: budget_location(&connection.account, &base, &manifest),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                account: connection.account,
                authorizer,
                budget,
                budget_key,
                seeded: AtomicBool::new(false),
                retry,
                schemas,
                manifest,
            }),
        })
    }

    /// The manifest this client executes.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// How many client-credentials tokens this client fetched.
    pub fn token_fetches(&self) -> u64 {
        self.inner.authorizer.token_fetches()
    }

    pub(crate) fn operation(&self, name: &str) -> Result<&Operation, RuntimeError> {
        self.inner.manifest.operation(name).ok_or_else(|| RuntimeError::UnknownOperation {
            app: self.inner.manifest.app.clone(),
            operation: name.to_owned(),
        })
    }

    /// The step's input checked against the operation and split into path, query and body.
    /// Nothing is sent.
    pub fn request(&self, operation: &str, input: Value) -> Result<Request, RuntimeError> {
        let operation = self.operation(operation)?;
        let context = Context {
            app: &self.inner.manifest.app,
            base: &self.inner.base,
            account: self.inner.account.as_deref(),
            url_is_secret: self.inner.manifest.auth.url_is_credential(),
            schema: self.inner.schemas.get(&operation.name),
        };
        request::build(&context, operation, input)
    }

    /// Sends the request as its operation's `write:` allows, and answers the record where
    /// `response:` says. `intent` is the caller's stable key for this write (the same across
    /// retries and restarts): the idempotency header's value, a signed webhook's
    /// `webhook-id`.
    pub async fn call(
        &self,
        request: &Request,
        intent: Option<&str>,
    ) -> Result<Value, RuntimeError> {
        self.call_with(request, intent, Budget::Acquire).await
    }

    /// [`Client::call`] whose first attempt spends the request [`Client::reserve`] took.
    pub async fn call_reserved(
        &self,
        request: &Request,
        intent: Option<&str>,
    ) -> Result<Value, RuntimeError> {
        self.call_with(request, intent, Budget::Reserved).await
    }

    async fn call_with(
        &self,
        request: &Request,
        intent: Option<&str>,
        budget: Budget,
    ) -> Result<Value, RuntimeError> {
        match self.execute(request, intent, budget).await? {
            Reply::Answer(answer) => self.record(&request.operation, &answer),
            Reply::Found(record) => Ok(record),
        }
    }

    /// Waits for room in the budget and takes one request of it, for the next
    /// [`Client::call_reserved`] of `operation`: a caller that must record a write's intent
    /// just before it leaves (one that cannot be repeated) reserves first, so that the
    /// wait for room is not spent with the intent recorded and nothing sent.
    pub async fn reserve(&self, operation: &str) -> Result<(), RuntimeError> {
        self.seed_budget().await;
        self.acquire(operation, 0).await
    }

    /// One request of the budget, or why none can be had.
    async fn acquire(&self, operation: &str, attempts: u32) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let app = &inner.manifest.app;
        inner.budget.acquire(&inner.budget_key).await.map_err(|err| match err.wait() {
            Some(wait) => {
                RuntimeError::RateLimited { app: app.clone(), operation: operation.into(), wait }
            }
            None => RuntimeError::Transient {
                app: app.clone(),
                operation: operation.into(),
                status: None,
                attempts,
                message: err.to_string(),
            },
        })
    }

    /// The record of a success answer of `operation`, where `response:` says.
    pub(crate) fn record(&self, operation: &str, answer: &Answer) -> Result<Value, RuntimeError> {
        let operation = self.operation(operation)?;
        answer::record(operation, answer).map_err(|problem| RuntimeError::Unreadable {
            app: self.inner.manifest.app.clone(),
            operation: operation.name.clone(),
            status: answer.status,
            problem,
        })
    }

    /// A read: its whole answer (paging and lookups read more than the record).
    pub(crate) async fn read(&self, request: &Request) -> Result<Answer, RuntimeError> {
        match self.execute(request, None, Budget::Acquire).await? {
            Reply::Answer(answer) => Ok(answer),
            // Only an ambiguous write is looked up instead of answered.
            Reply::Found(_) => Err(RuntimeError::Unreadable {
                app: self.inner.manifest.app.clone(),
                operation: request.operation.clone(),
                status: 200,
                problem: "a read was answered by a lookup".into(),
            }),
        }
    }

    /// For a create whose outcome is unknown (a crash between sending it and recording its
    /// answer): the record it made, if it exists, found as its `write:` says. Reads only;
    /// records made before `since` are not it.
    pub async fn find_created(
        &self,
        request: &Request,
        since: SystemTime,
    ) -> Result<Option<Value>, RuntimeError> {
        let operation = self.operation(&request.operation)?;
        recovery::find_created(self, operation, request, since).await
    }

    /// The manifest's `check`: a cheap read that fails, in the app's own words, when the
    /// connection does not work (a bad key, an expired token, no such account).
    pub async fn check(&self) -> Result<Checked, RuntimeError> {
        let Some(check) = &self.inner.manifest.check else { return Ok(Checked::NothingToCheck) };
        let input = Value::Object(check.input.clone().into_iter().collect());
        let request = self.request(&check.operation, input)?;
        self.read(&request).await?;
        Ok(Checked::Works)
    }

    fn error(&self, operation: &Operation, meaning: ErrorMeaning, answer: &Answer) -> RuntimeError {
        let rules = &self.inner.manifest.errors;
        let app = self.inner.manifest.app.clone();
        let operation = operation.name.clone();
        let status = answer.status;
        let message = answer.message(rules);
        match meaning {
            ErrorMeaning::NotFound => RuntimeError::NotFound { app, operation, status, message },
            ErrorMeaning::Duplicate => {
                let existing_id = recovery::duplicate_id(self.operation(&operation).ok(), answer);
                RuntimeError::Duplicate { app, operation, status, existing_id, message }
            }
            ErrorMeaning::Invalid => {
                let message = if (200..300).contains(&status) {
                    format!("unexpected success status {status}: {message}")
                } else {
                    message
                };
                RuntimeError::Invalid { app, operation, status, message }
            }
            ErrorMeaning::Reconnect => {
                RuntimeError::Reconnect { app, operation, status: Some(status), message }
            }
            ErrorMeaning::Forbidden => RuntimeError::Forbidden { app, operation, status, message },
            ErrorMeaning::Gone => RuntimeError::Gone { app, operation, status, message },
            // `answer::classify` answers a retry as `Outcome::Retry`, never as a refusal;
            // should one get here, it is a transient failure of this one attempt.
            ErrorMeaning::Retry => RuntimeError::Transient {
                app,
                operation,
                status: Some(status),
                attempts: 1,
                message,
            },
        }
    }

    /// Tells the budget the manifest's window once, before the first request of this key.
    async fn seed_budget(&self) {
        let inner = &self.inner;
        if inner.seeded.swap(true, Ordering::Relaxed) {
            return;
        }
        // Every window must have room for a request to go; the shortest is the one a burst
        // runs into and the one the answers' headers correct.
        let windows: Vec<Limit> = inner
            .manifest
            .rate_limit
            .iter()
            .flat_map(|limit| &limit.windows)
            .map(|window| Limit {
                requests: window.requests,
                per: Duration::from_secs(u64::from(window.per_secs)),
            })
            .collect();
        let seen = match windows.is_empty() {
            false => Observation { status: 200, windows, ..Observation::default() },
            // No published limit: the app's answers (429s) alone slow us down.
            true => Observation {
                status: 200,
                limit: Some(u32::MAX),
                interval: Some(Duration::from_secs(1)),
                ..Observation::default()
            },
        };
        inner.budget.observe(&inner.budget_key, &seen).await;
    }

    /// The loop: one answer that is done, or the error the last one means.
    pub(crate) async fn execute(
        &self,
        request: &Request,
        intent: Option<&str>,
        budget: Budget,
    ) -> Result<Reply, RuntimeError> {
        let inner = &self.inner;
        let operation = self.operation(&request.operation)?;
        let app = inner.manifest.app.clone();
        let started = Instant::now();
        let since = SystemTime::now() - CLOCK_SLACK;
        // One key per intended write: the caller's, else one for this call's attempts.
        let key = intent.map_or_else(new_key, str::to_owned);
        let body = match &request.body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|err| RuntimeError::Input {
                app: app.clone(),
                operation: operation.name.clone(),
                field: "(body)".into(),
                problem: err.to_string(),
            })?),
            None => None,
        };
        self.seed_budget().await;
        let mut attempt = 0;
        let mut refreshed = false;
        let mut maybe_applied = false;
        // A reserved request was counted already: the first send spends it.
        let mut reserved = budget == Budget::Reserved;
        loop {
            if !std::mem::take(&mut reserved) {
                self.acquire(&operation.name, attempt).await?;
            }
            let token = inner.authorizer.token(&inner.http, &operation.name).await?;
            let sent = Instant::now();
            let attempted = match self
                .send(operation, request, &key, body.as_deref(), token.as_ref())
                .await
            {
                Ok(answer) => {
                    let outcome = answer::classify(&inner.manifest.errors, operation, &answer);
                    let throttled = matches!(outcome, Outcome::Retry { throttled: true, .. });
                    let seen = answer::observe(
                        inner.manifest.rate_limit.as_ref(),
                        &answer,
                        throttled,
                        sent.elapsed(),
                    );
                    inner.budget.observe(&inner.budget_key, &seen).await;
                    Attempt::Answered(outcome, answer)
                }
                Err(err) => {
                    // Without the URL: it may be the connection's secret.
                    let err = err.without_url();
                    tracing::debug!(app = %app, operation = %operation.name, error = %err, "no answer");
                    // Refused at connect time: never sent, so not ambiguous.
                    Attempt::NoAnswer { ambiguous: !err.is_connect() }
                }
            };
            let (ambiguous, throttled, answer) = match attempted {
                Attempt::NoAnswer { ambiguous } => (ambiguous, false, None),
                Attempt::Answered(Outcome::Done, answer) => return Ok(Reply::Answer(answer)),
                Attempt::Answered(Outcome::Refused(ErrorMeaning::Reconnect), answer) => {
                    if !refreshed
                        && inner
                            .authorizer
                            .after_unauthorized(&inner.http, &operation.name, token.as_ref())
                            .await?
                    {
                        refreshed = true;
                        continue;
                    }
                    return Err(self.error(operation, ErrorMeaning::Reconnect, &answer));
                }
                Attempt::Answered(Outcome::Refused(ErrorMeaning::Duplicate), answer)
                    if maybe_applied =>
                {
                    // An earlier attempt made the record: the app now refuses its twin.
                    if let Some(found) =
                        recovery::refused_twin(self, operation, request, &answer, since).await?
                    {
                        tracing::info!(app = %app, operation = %operation.name, "an ambiguous create had taken effect; not repeated");
                        return Ok(Reply::Found(found));
                    }
                    return Err(self.error(operation, ErrorMeaning::Duplicate, &answer));
                }
                Attempt::Answered(Outcome::Refused(meaning), answer) => {
                    return Err(self.error(operation, meaning, &answer))
                }
                Attempt::Answered(Outcome::Retry { ambiguous, throttled }, answer) => {
                    (ambiguous, throttled, Some(answer))
                }
            };
            attempt += 1;
            let status = answer.as_ref().map(|answer| answer.status);
            if ambiguous && operation.writes() {
                match &operation.write {
                    Some(Write::NotRepeatable) => {
                        let cause = match &answer {
                            Some(answer) => format!(
                                "HTTP {}: {}",
                                answer.status,
                                answer.message(&inner.manifest.errors)
                            ),
                            None => "the connection dropped before the answer".into(),
                        };
                        return Err(RuntimeError::OutcomeUnknown {
                            app,
                            operation: operation.name.clone(),
                            status,
                            cause,
                        });
                    }
                    Some(Write::NaturalKey(_) | Write::ChildOf(_)) => {
                        maybe_applied = true;
                        if let Some(found) =
                            recovery::find_created(self, operation, request, since).await?
                        {
                            tracing::info!(app = %app, operation = %operation.name, "an ambiguous create had taken effect; not repeated");
                            return Ok(Reply::Found(found));
                        }
                    }
                    // Resent as is: the app drops the repeat (same key) or a repeat is harmless.
                    _ => {}
                }
            }
            let asked = answer
                .as_ref()
                .and_then(|answer| answer::retry_after(inner.manifest.rate_limit.as_ref(), answer))
                .map(|wait| wait.remaining(SystemTime::now()));
            let delay = inner.retry.delay(attempt, asked);
            if attempt >= inner.retry.max_attempts
                || started.elapsed() + delay > inner.retry.max_total
            {
                let operation = operation.name.clone();
                if throttled {
                    return Err(RuntimeError::RateLimited {
                        app,
                        operation,
                        wait: Wait::For(delay),
                    });
                }
                let message = match &answer {
                    Some(answer) => answer.message(&inner.manifest.errors),
                    None => "no answer (timeout or dropped connection)".into(),
                };
                return Err(RuntimeError::Transient {
                    app,
                    operation,
                    status,
                    attempts: attempt,
                    message,
                });
            }
            tracing::debug!(app = %app, operation = %operation.name, attempt, ?status, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt.
    async fn send(
        &self,
        operation: &Operation,
        request: &Request,
        key: &str,
        body: Option<&[u8]>,
        token: Option<&Secret<String>>,
    ) -> Result<Answer, reqwest::Error> {
        let inner = &self.inner;
        let method = reqwest::Method::from_bytes(operation.method.to_string().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut builder = inner
            .http
            .request(method, request.url.clone())
            .timeout(inner.retry.request_timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        for (name, value) in inner.manifest.headers.iter().chain(&operation.headers) {
            builder = builder.header(name, value);
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(Write::IdempotencyKey { header }) = &operation.write {
            builder = builder.header(header, key);
        }
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        builder = inner.authorizer.apply(builder, token, key, body.unwrap_or_default());
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok(Answer::new(status, headers, &bytes))
    }
}

/// Whether a call takes its first request from the budget, or spends one reserved for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    Acquire,
    Reserved,
}

/// What a call came to: the app's answer, or the record an ambiguous write had made,
/// found by a lookup.
pub(crate) enum Reply {
    Answer(Answer),
    Found(Value),
}

/// One attempt: answered (and what the answer means), or not.
enum Attempt {
    Answered(Outcome, Answer),
    NoAnswer { ambiguous: bool },
}

/// A random key for the attempts of one call made without an intent.
fn new_key() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whose budget a connection spends: the account's, or, for an app whose URL is the
/// credential (one limit per webhook URL), a digest of the URL (never the URL itself).
fn budget_location(account: &Option<String>, base: &Url, manifest: &Manifest) -> String {
    if manifest.auth.url_is_credential() {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        base.as_str().hash(&mut hasher);
        return format!("url:{:016x}", hasher.finish());
    }
    account.clone().unwrap_or_default()
}
