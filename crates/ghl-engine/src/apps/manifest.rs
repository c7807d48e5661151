//! A manifest app: the [`App`] of one `ghl_apps::Manifest` (shipped in the binary or added by
//! a user). Everything the engine asks of an app is read from the manifest once, when the
//! app is built: operation rows (fields from the path, query and body fields or the body
//! schema, writes from `write:`, the events each causes), webhook events, poll sources (the
//! list operation, the modified and created fields, the `since` parameter in its time
//! format, the sort). Calls go through the one runtime (`ghl_app_runtime::ManifestClient`),
//! which a connection's stored secret ([`AuthSecret::Credentials`] or
//! [`AuthSecret::ClientCredentials`], or `Oauth` for an authorization-code app) configures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::{BoxStream, StreamExt};
use ghl_app_runtime::{Connection, Credentials, ManifestClient, RuntimeError};
use ghl_apps::auth::Auth;
use ghl_apps::manifest::{FieldType, Fields, ResponseFormat};
use ghl_apps::place::ValueAt;
use ghl_apps::triggers::TimeFormat as ManifestTimeFormat;
use ghl_apps::writes::Write;
use ghl_apps::{Manifest, Operation};
use ghl_client::{OAuthConnection, RetryPolicy, Secret};
use ghl_store::{AuthKind, NewEvent};
use serde_json::{Map, Value};

use super::manifest_webhooks::{self, EventKeys, ManifestVerifier};
use super::{stored_oauth_app, stored_url};
use super::{
    App, AppClient, AppId, CallOptions, ClientContext, ClientError, ConnectFlow, ConnectInfo,
    InvalidAppId, OperationFields, OperationSpec, PathTemplate, PollQuery, PollSort, PollSource,
    RequestParts, TimeFormat, WebhookEvent,
};
use crate::connections::AuthSecret;
use crate::inbound::Verifier;

/// The app of one manifest, its rows built once.
pub struct ManifestApp {
    manifest: Arc<Manifest>,
    id: AppId,
    operations: Vec<Arc<OperationSpec>>,
    poll_sources: Vec<PollSource>,
    events: Vec<WebhookEvent>,
    retry: RetryPolicy,
    keys: EventKeys,
    verifier: Option<Arc<ManifestVerifier>>,
}

impl std::fmt::Debug for ManifestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestApp").field("app", &self.id).finish_non_exhaustive()
    }
}

impl ManifestApp {
    /// The app of a loaded (checked) manifest.
    pub fn new(manifest: Arc<Manifest>) -> Result<Self, InvalidAppId> {
        let id = AppId::parse(&manifest.app)?;
        let operations = manifest
            .operations
            .iter()
            .map(|operation| Arc::new(operation_spec(operation)))
            .collect();
        let poll_sources = poll_sources(&manifest);
        let events = events(&manifest, &poll_sources);
        let retry = RetryPolicy::default();
        let reconciled = events
            .iter()
            .filter_map(|event| {
                let source = event.reconciled_by.as_ref()?;
                let source = poll_sources.iter().find(|known| known.name == *source)?;
                Some((event.name.clone(), source.id.clone()))
            })
            .collect();
        let keys = EventKeys { app: id.clone(), reconciled };
        let verifier = manifest
            .triggers
            .webhooks
            .as_ref()
            .map(|webhooks| manifest_webhooks::verifier(webhooks, keys.clone()));
        Ok(Self { manifest, id, operations, poll_sources, events, retry, keys, verifier })
    }

    /// Trusts these webhook secrets (as a connection's `webhook_secret` is written) until the
    /// next `renew` reads the connections' (tests, and a composition holding them itself).
    pub fn trust_webhook_secrets(&self, secrets: &[&str]) {
        if let Some(verifier) = &self.verifier {
            verifier.trust(secrets);
        }
    }

    /// The same app, its clients retrying within `retry` (tests shorten the backoff).
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// The manifest it was built from.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// The connection the runtime is given for a stored secret.
    fn connection(&self, context: ClientContext<'_>) -> Result<Connection, ClientError> {
        let url = |text: Option<String>| {
            text.filter(|text| !text.is_empty())
                .map(|text| stored_url("base URL", &text))
                .transpose()
        };
        let unsupported = |given: AuthKind| ClientError::UnsupportedAuth {
            app: self.id.clone(),
            given,
            supported: supported(&self.manifest.auth),
        };
        let values = |values: BTreeMap<String, String>| {
            values.into_iter().map(|(name, value)| (name, Secret::from(value))).collect()
        };
        match (context.auth, &self.manifest.auth) {
            (AuthSecret::Credentials { base_url, account, values: given }, auth)
                if !matches!(
                    auth,
                    Auth::Oauth2AuthorizationCode(_) | Auth::Oauth2ClientCredentials(_)
                ) =>
            {
                Ok(Connection {
                    base_url: url(base_url)?,
                    account,
                    credentials: Credentials::Values(values(given)),
                })
            }
            (
                AuthSecret::ClientCredentials {
                    base_url, account, client_id, client_secret, ..
                },
                Auth::Oauth2ClientCredentials(_),
            ) => Ok(Connection {
                base_url: url(base_url)?,
                account,
                credentials: Credentials::ClientCredentials {
                    client_id,
                    client_secret: client_secret.into(),
                },
            }),
            (
                AuthSecret::Oauth {
                    base_url,
                    account,
                    client_id,
                    client_secret,
                    authorize_url,
                    token_url,
                    redirect_uri,
                    ..
                },
                Auth::Oauth2AuthorizationCode(_),
            ) => {
                // The addresses the connection was made with (its base URL may be the one
                // the token answer gave, under which the token endpoint is not).
                let app = ghl_client::OAuthApp {
                    options: ghl_app_runtime::oauth_options(&self.manifest)
                        .map_err(|source| self.refused(source))?,
                    ..stored_oauth_app(
                        client_id,
                        client_secret,
                        &authorize_url,
                        &token_url,
                        &redirect_uri,
                    )?
                };
                let base_url = url(Some(base_url))?;
                let account = Some(account).filter(|account| !account.is_empty());
                Ok(Connection {
                    base_url,
                    account,
                    credentials: Credentials::OAuth(OAuthConnection::new(app, context.tokens)),
                })
            }
            (other, _) => Err(unsupported(other.kind())),
        }
    }

    fn refused(&self, source: RuntimeError) -> ClientError {
        ClientError::App { app: self.id.clone(), source: Box::new(source) }
    }
}

/// The secret kinds a manifest's auth takes, for a refusal.
fn supported(auth: &Auth) -> String {
    match auth {
        Auth::Oauth2AuthorizationCode(_) => "OAuth".into(),
        Auth::Oauth2ClientCredentials(_) => "OAuth client credentials".into(),
        other => {
            let names: Vec<String> =
                other.credentials().into_iter().map(|credential| credential.name).collect();
            format!("credentials ({})", names.join(", "))
        }
    }
}

/// An operation of the manifest as the engine knows it.
fn operation_spec(operation: &Operation) -> OperationSpec {
    let method =
        reqwest::Method::from_bytes(operation.method.to_string().as_bytes()).unwrap_or_default();
    let path = PathTemplate::new(operation.path.clone());
    let query: Vec<String> = operation.query.names().map(str::to_owned).collect();
    let mut input = path.params().to_vec();
    let mut required = path.params().to_vec();
    input.extend(query.iter().cloned());
    required.extend(operation.query.required().map(str::to_owned));
    let mut output = Vec::new();
    let mut any_input = false;
    if let Some(body) = &operation.body {
        // A schema that lists no properties takes any field (`webhook.send`'s body).
        any_input = body.schema.as_ref().is_some_and(|schema| {
            body.fields.names().next().is_none()
                && !matches!(schema.get("properties"), Some(Value::Object(_)))
        });
        let names = body_names(&body.fields, body.schema.as_ref());
        input.extend(names.iter().cloned());
        required.extend(body.required());
        // The record written comes back only in a JSON answer (Slack's `ok` is no record).
        if operation.response.format == ResponseFormat::Json {
            output.extend(names);
        }
    }
    if let Some(id) = &operation.response.id {
        if !output.contains(id) {
            output.insert(0, id.clone());
        }
    }
    // The connection fills the account where a step does not.
    let account = operation.account.as_ref().map(|param| param.name.clone());
    if let Some(account) = &account {
        required.retain(|name| name != account);
    }
    dedup(&mut input);
    dedup(&mut required);
    OperationSpec {
        id: operation.name.clone(),
        summary: operation.title.clone(),
        method,
        path,
        query,
        body: operation.body.is_some(),
        scopes: operation.scope.iter().cloned().collect(),
        writes: operation.writes(),
        repeatable: !matches!(operation.write, Some(Write::NotRepeatable)),
        causes: operation.causes.clone(),
        account,
        fields: OperationFields { input, required, output, any_input },
    }
}

/// A body's field names: its typed fields, then its schema's properties.
fn body_names(fields: &Fields, schema: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = fields.names().map(str::to_owned).collect();
    if let Some(Value::Object(properties)) = schema.and_then(|schema| schema.get("properties")) {
        names.extend(properties.keys().cloned());
    }
    names
}

/// Drops repeated names, keeping the first.
fn dedup(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
}

/// The manifest's polls as poll sources.
fn poll_sources(manifest: &Manifest) -> Vec<PollSource> {
    manifest
        .triggers
        .polls
        .iter()
        .map(|poll| {
            let list = manifest.operation(&poll.operation);
            let records = list.map(|list| list.response.record.as_str().to_owned());
            let id = list.and_then(|list| list.response.id.clone()).unwrap_or_else(|| "id".into());
            let mut record_fields = vec![id.clone()];
            record_fields.extend(written_fields(manifest, &poll.name));
            record_fields.push(poll.modified.clone());
            record_fields.extend(poll.created.clone());
            dedup(&mut record_fields);
            PollSource {
                summary: poll.title.clone(),
                created: poll.created.clone(),
                time_format: match poll.time_format {
                    ManifestTimeFormat::Rfc3339 => TimeFormat::Rfc3339,
                    ManifestTimeFormat::EpochMillis => TimeFormat::EpochMillis,
                    ManifestTimeFormat::EpochSeconds => TimeFormat::EpochSeconds,
                },
                query: PollQuery {
                    since: poll.since.as_ref().map(|since| since.param.name.clone()),
                    since_template: poll.since.as_ref().and_then(|since| since.template.clone()),
                    sort: poll.sort.as_ref().map(|sort| PollSort {
                        field: sort.param.name.clone(),
                        value: sort.value.clone(),
                    }),
                    // The runtime pages with the largest page the app allows.
                    limit: None,
                },
                record_fields,
                ..PollSource::new(
                    poll.name.clone(),
                    poll.operation.clone(),
                    records.unwrap_or_default(),
                    id,
                    poll.modified.clone(),
                )
            }
        })
        .collect()
}

/// The body fields of the writes whose events the poll `source` reconciles: what its
/// records hold besides their id and times.
fn written_fields<'a>(
    manifest: &'a Manifest,
    source: &'a str,
) -> impl Iterator<Item = String> + 'a {
    let events = manifest.triggers.webhooks.iter().flat_map(|webhooks| &webhooks.events);
    let reconciled: Vec<&str> = events
        .filter(|event| event.reconciled_by.as_deref() == Some(source))
        .map(|event| event.name.as_str())
        .collect();
    manifest
        .operations
        .iter()
        .filter(move |operation| {
            operation.causes.iter().any(|event| reconciled.contains(&event.as_str()))
        })
        .filter_map(|operation| operation.body.as_ref())
        .flat_map(|body| body_names(&body.fields, body.schema.as_ref()))
}

/// The manifest's webhook events; a `.trigger`'s fields are those of the records its
/// reconciling poll lists, when it has one.
fn events(manifest: &Manifest, sources: &[PollSource]) -> Vec<WebhookEvent> {
    let Some(webhooks) = &manifest.triggers.webhooks else { return Vec::new() };
    webhooks
        .events
        .iter()
        .map(|event| {
            let source = event
                .reconciled_by
                .as_ref()
                .and_then(|name| sources.iter().find(|source| source.name == *name));
            WebhookEvent {
                name: event.name.clone(),
                fields: source.map(|source| source.record_fields.clone()).unwrap_or_default(),
                reconciled_by: event.reconciled_by.clone(),
            }
        })
        .collect()
}

/// A value at a place of a delivery's body (a header place is read by the webhook check,
/// which has the headers; here it is absent).
fn at_body(place: &ValueAt, body: &Value) -> Option<String> {
    let ValueAt::Body(pointer) = place else { return None };
    match pointer.find(body)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A hex SHA-256 of a JSON value as written.
fn digest(value: &Value) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(value.to_string().as_bytes());
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[async_trait::async_trait]
impl App for ManifestApp {
    fn id(&self) -> AppId {
        self.id.clone()
    }

    fn title(&self) -> &str {
        &self.manifest.title
    }

    fn operations(&self) -> &[Arc<OperationSpec>] {
        &self.operations
    }

    fn events(&self) -> Vec<WebhookEvent> {
        self.events.clone()
    }

    fn poll_sources(&self) -> &[PollSource] {
        &self.poll_sources
    }

    /// `<app>:<delivery id>`; a created record whose event a poll reconciles is keyed by the
    /// record (`<app>:<event>:<account>:<record id>`), so its webhook and the poll that
    /// finds it when the webhook was lost make one event.
    fn event_key(&self, event: &str, account: &str, payload: &Value, delivery_id: &str) -> String {
        self.keys.key(event, account, payload, delivery_id)
    }

    /// A delivery's body: its event type, account and dedup id where the manifest says; the
    /// stored payload is its record (a flow's `.trigger`).
    fn webhook_event(&self, payload: Value) -> NewEvent {
        let Some(webhooks) = &self.manifest.triggers.webhooks else {
            return NewEvent {
                dedup_key: format!("{}:", self.id),
                source: self.id.to_string(),
                event_type: String::new(),
                location_id: None,
                payload,
            };
        };
        let event_type = webhooks.event_type.read(|place| at_body(place, &payload));
        let event_type = event_type.unwrap_or_default();
        let account = webhooks.account.as_ref().and_then(|place| at_body(place, &payload));
        // A delivery id in a header is the webhook check's to give; without one, the body's
        // digest stands for it (the same delivery sent again is the same body).
        let delivery = webhooks
            .dedup_id
            .read(|place| at_body(place, &payload))
            .unwrap_or_else(|| digest(&payload));
        let record = webhooks.record.find(&payload).cloned().unwrap_or(payload);
        NewEvent {
            dedup_key: self.event_key(
                &event_type,
                account.as_deref().unwrap_or_default(),
                &record,
                &delivery,
            ),
            source: self.id.to_string(),
            event_type,
            location_id: account,
            payload: record,
        }
    }

    /// The runtime's calls answer the record itself (`response.record`).
    fn written_record<'a>(&self, answer: &'a Value) -> &'a Value {
        answer
    }

    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, ClientError> {
        let budget = context.budget.clone();
        let connection = self.connection(context)?;
        let client = ManifestClient::new(self.manifest.clone(), connection, budget, self.retry)
            .map_err(|source| self.refused(source))?;
        Ok(Arc::new(ManifestAppClient { client }))
    }

    fn verifier(&self) -> Option<Arc<dyn Verifier>> {
        self.verifier.clone().map(|verifier| verifier as Arc<dyn Verifier>)
    }

    fn connect_info(&self) -> ConnectInfo {
        let mut info = ConnectInfo::plain(self.manifest.base_url.as_url().as_str());
        if let Some(account) = &self.manifest.account {
            info.account = account.clone();
        }
        info.credentials = self.manifest.auth.credentials();
        let webhooks = self.manifest.triggers.webhooks.as_ref();
        if webhooks.is_some_and(|webhooks| webhooks.signature.shared_secret()) {
            info.credentials.push(ghl_apps::auth::Credential {
                name: super::manifest_webhooks::WEBHOOK_SECRET.into(),
                secret: true,
                optional: true,
            });
        }
        info.flow = match &self.manifest.auth {
            Auth::Oauth2AuthorizationCode(_) => ConnectFlow::AuthorizationCode,
            Auth::Oauth2ClientCredentials(_) => ConnectFlow::ClientCredentials,
            _ => ConnectFlow::Credentials,
        };
        if let Auth::Oauth2AuthorizationCode(code) = &self.manifest.auth {
            info.base_scopes = code.scopes.clone();
            info.write_scopes = code.write_scopes.clone();
            let base = self.manifest.base_url.as_url();
            if let Ok(app) = ghl_app_runtime::oauth_app(
                &self.manifest,
                None,
                "",
                Secret::from(String::new()),
                base.clone(),
            ) {
                info.authorize_url = Some(app.authorize_url.to_string());
                info.authorize_path = app.authorize_url.path().to_owned();
                info.token_url = Some(app.token_url.to_string());
                info.token_path = app.token_url.path().to_owned();
                info.oauth = app.options;
            }
        }
        info
    }
}

/// A connection's client: the runtime's, as the engine calls it.
struct ManifestAppClient {
    client: ManifestClient,
}

impl ManifestAppClient {
    /// The runtime's input of a call: the step's input (carried whole as the body, see
    /// `request`) with the parameters given apart (`api --param`) set, each as its declared
    /// type.
    fn input(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
    ) -> Value {
        let mut input = match body {
            Some(Value::Object(fields)) => fields.clone(),
            _ => Map::new(),
        };
        let declared = self.client.manifest().operation(&operation.id);
        for (name, text) in params {
            let kind = declared.and_then(|declared| field_type(declared, name));
            let value = match kind {
                Some(FieldType::String | FieldType::DateTime) | None => Value::String(text.clone()),
                Some(_) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
            };
            input.insert(name.clone(), value);
        }
        Value::Object(input)
    }
}

/// The declared type of an operation's parameter or body field.
fn field_type(operation: &Operation, name: &str) -> Option<FieldType> {
    let body = operation.body.as_ref().map(|body| &body.fields);
    [Some(&operation.path_params), Some(&operation.query), body]
        .into_iter()
        .flatten()
        .find_map(|fields| fields.get(name))
        .map(|field| field.kind)
}

#[async_trait::async_trait]
impl AppClient for ManifestAppClient {
    /// The runtime checks and splits the input itself (by the manifest's declared places and
    /// types), so a step's input is kept whole, typed, as the "body" of the parts.
    fn request(&self, _operation: &OperationSpec, input: Value) -> RequestParts {
        (Vec::new(), Some(input))
    }

    async fn call(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        options: CallOptions<'_>,
    ) -> Result<Value, ghl_client::Error> {
        let request = self.client.request(&operation.id, self.input(operation, params, body))?;
        let answer = match options.reserved {
            true => self.client.call_reserved(&request, options.intent).await?,
            false => self.client.call(&request, options.intent).await?,
        };
        Ok(answer)
    }

    async fn reserve(&self, operation: &OperationSpec) -> Result<(), ghl_client::Error> {
        Ok(self.client.reserve(&operation.id).await?)
    }

    async fn find_created(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        since: SystemTime,
    ) -> Option<Value> {
        let request =
            self.client.request(&operation.id, self.input(operation, params, body)).ok()?;
        match self.client.find_created(&request, since).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(app = %self.client.manifest().app, operation = %operation.id, error = %err, "looking up an ambiguous create failed");
                None
            }
        }
    }

    fn records(
        &self,
        operation: &OperationSpec,
        params: Vec<(String, String)>,
        body: Option<Value>,
    ) -> Option<BoxStream<'static, Result<Value, ghl_client::Error>>> {
        self.client.manifest().operation(&operation.id)?.paging.as_ref()?;
        let input = self.input(operation, &params, body.as_ref());
        Some(self.client.records(&operation.id, input).map(|record| Ok(record?)).boxed())
    }

    fn paged_operations(&self) -> Vec<String> {
        let manifest = self.client.manifest();
        let paged = manifest.operations.iter().filter(|operation| operation.paging.is_some());
        paged.map(|operation| operation.name.clone()).collect()
    }

    async fn check(&self) -> Result<(), ghl_client::Error> {
        self.client.check().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apps::reconciling_source;

    fn your_app() -> ManifestApp {
        let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
        let manifest = manifests.into_iter().find(|manifest| manifest.app == "your-app");
        ManifestApp::new(Arc::new(manifest.expect("your-app is shipped"))).expect("its id")
    }

    #[test]
    fn operations_events_and_polls_are_read_from_the_manifest() {
        let app = your_app();
        let create = app.operation("create-contact").expect("create-contact");
        assert!(create.writes && create.body);
        assert_eq!(create.fields.required, ["name"]);
        assert!(create.fields.input.contains(&"email".to_owned()));
        assert_eq!(create.fields.output.first().map(String::as_str), Some("id"));
        assert!(create.causes("contact.created"));
        let get = app.operation("get-contact").expect("get-contact");
        assert!(get.is_read());
        assert_eq!(get.fields.required, ["id"]);
        let source = reconciling_source(&app, "contact.created").expect("reconciled by contacts");
        assert_eq!(source.operation, "list-contacts");
        assert_eq!(source.records, "/data");
        assert_eq!(source.created.as_deref(), Some("created_at"));
        assert_eq!(source.query.since.as_deref(), Some("updated_since"));
        assert_eq!(
            source.query.sort,
            Some(PollSort { field: "sort".into(), value: "updated_at".into() })
        );
    }

    #[test]
    fn a_created_record_is_keyed_by_its_id_and_other_events_by_their_delivery() {
        let app = your_app();
        let delivery = json!({
            "type": "contact.created", "workspace_id": "ws-1", "data": { "id": "c-1" },
        });
        let event = app.webhook_event(delivery);
        assert_eq!(event.event_type, "contact.created");
        assert_eq!(event.location_id.as_deref(), Some("ws-1"));
        assert_eq!(event.payload, json!({ "id": "c-1" }));
        assert_eq!(event.dedup_key, "your-app:contact.created:ws-1:c-1");
        let found = app.reconciled("contact.created", json!({ "id": "c-1" }));
        assert_eq!(app.event_key("contact.created", "ws-1", &found, ""), event.dedup_key);
        assert_eq!(
            app.event_key("contact.updated", "ws-1", &json!({ "id": "c-1" }), "msg_1"),
            "your-app:msg_1"
        );
    }

    #[test]
    fn a_secret_of_another_kind_is_refused_naming_what_the_app_takes() {
        let app = your_app();
        let context = ClientContext {
            name: "c",
            auth: AuthSecret::PrivateToken {
                token: "tok-secret-1".into(),
                base_url: "http://127.0.0.1:1/".into(),
                account: String::new(),
            },
            budget: ghl_client::LocalBudget::new(),
            tokens: ghl_client::MemoryTokenStore::new(None),
        };
        let Err(err) = app.client(context) else { panic!("a private token is not an API key") };
        let shown = err.to_string();
        assert!(shown.contains("your-app") && shown.contains("api_key"), "{shown}");
        assert!(!shown.contains("tok-secret-1"), "{shown}");
    }
}
