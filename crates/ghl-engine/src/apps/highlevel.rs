//! HighLevel as a registered app: its operations (built once from its operation table,
//! `ghl_types::OPERATIONS`, with the catalog's fields from the spec), its webhook events, the
//! contact poll (contact search by `dateUpdated` or `dateAdded`, from the last contact's
//! `searchAfter`), how its events are keyed (a `ContactCreate` by its contact, so its webhook
//! and the reconciliation poll make one event), `locationId` filling, its connections (private
//! integration token or OAuth) as a `ghl_client::Client` that finds its typed row by the
//! operation's id, and its webhooks' verifier (`verify.rs`).

pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use ghl_client::pagination::paged_operations;
use ghl_client::{
    AppProfile, Client, ClientConfig, Credentials, OAuthApp, OAuthConnection, TokenSet,
};
use ghl_store::{NewEvent, Store};
use ghl_types::spec_rules::{body_rules, response_fields};
use ghl_types::{EventType, Operation, OPERATIONS};
use serde_json::{json, Value};

use super::{stored_oauth_app, stored_url};
use super::{
    App, AppClient, AppId, CallOptions, ClientContext, ClientError, ConnectInfo, OperationFields,
    OperationSpec, PageRequest, PathTemplate, PollSource, TimeFormat, WebhookEvent, WebhookKeys,
    WebhookKeysError,
};
use crate::connections::{save, AuthSecret, ConnectionError, ConnectionSecret};
use crate::inbound::Verifier;

pub const ID: AppId = AppId::from_static("highlevel");

/// The field a HighLevel connection fills in where an operation takes it.
const LOCATION_ID: &str = "locationId";

/// HighLevel, with what its client must know of it (the quota day: UTC midnight, or a
/// sandbox's shorter day in tests) and the keys its webhooks are verified with (HighLevel's
/// published key by default; the composition configures others).
#[derive(Clone, Default)]
pub struct HighLevel {
    profile: ghl_client::HighLevel,
    webhooks: Arc<verify::Webhooks>,
}

impl HighLevel {
    /// HighLevel whose client knows it as `profile` says.
    pub fn with_profile(self, profile: ghl_client::HighLevel) -> Self {
        Self { profile, ..self }
    }

    /// HighLevel whose webhooks are verified with `keys` (and the keys learned with
    /// connections).
    pub fn with_webhook_keys(self, keys: verify::TrustedKeys) -> Self {
        Self { webhooks: Arc::new(verify::Webhooks::new(keys)), ..self }
    }
}

impl std::fmt::Debug for HighLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HighLevel").field("profile", &self.profile).finish_non_exhaustive()
    }
}

/// What makes two deliveries of a HighLevel event the same event. A contact is created once,
/// so a `ContactCreate` is keyed by the contact: its webhook and the reconciliation poll that
/// finds it when the webhook was lost make one event. Other events are keyed by `webhookId`.
pub fn event_key(event_type: &str, location_id: &str, payload: &Value, webhook_id: &str) -> String {
    match payload["id"].as_str() {
        Some(contact) if event_type == "ContactCreate" => {
            format!("highlevel:ContactCreate:{location_id}:{contact}")
        }
        _ => format!("highlevel:{webhook_id}"),
    }
}

/// HighLevel's operations, built once per process from its table.
static OPERATION_SPECS: LazyLock<Vec<Arc<OperationSpec>>> =
    LazyLock::new(|| OPERATIONS.iter().map(|row| Arc::new(operation_spec(row))).collect());

/// The contact poll, built once per process.
static POLL_SOURCES: LazyLock<[PollSource; 1]> = LazyLock::new(|| [contacts_source()]);

/// The contact poll's name: `poll: highlevel.contacts`, and what finds a `ContactCreate` whose
/// webhook was lost.
const CONTACTS: &str = "contacts";

/// An operation of the table as the engine knows it: fields from the path, the query and the
/// spec's body schema (or the row's `documented_body`), the answer's from the spec.
fn operation_spec(row: &'static Operation) -> OperationSpec {
    // The table's methods are HTTP methods (the tests hold each row's method to its spec).
    let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap_or_default();
    let path = PathTemplate::new(row.path);
    let query: Vec<String> = row.query.iter().map(|name| (*name).to_owned()).collect();
    let (body, body_required) = body_fields(row);
    let mut input = path.params().to_vec();
    input.extend(query.iter().cloned());
    input.extend(body);
    input.dedup();
    let mut required = path.params().to_vec();
    required.extend(body_required);
    OperationSpec {
        id: row.id.to_owned(),
        summary: row.summary.to_owned(),
        method,
        query,
        body: row.request_schema.is_some(),
        scopes: vec![row.scope.to_owned()],
        writes: row.writes,
        // Every write of HighLevel's is idempotent or its lost creates are found again.
        repeatable: true,
        causes: row.events.iter().map(|event| event.as_str().to_owned()).collect(),
        account: row.tenant.map(|param| param.name.to_owned()),
        fields: OperationFields { input, required, output: response_fields(row), any_input: false },
        path,
    }
}

/// Body fields of an operation, from the spec's request schema (or the table's
/// `documented_body` where the schema is empty).
fn body_fields(operation: &Operation) -> (Vec<String>, Vec<String>) {
    let names = |fields: &[&str]| fields.iter().map(|field| (*field).to_owned()).collect();
    match operation.request_schema.and_then(|schema| body_rules().get(schema)) {
        Some(rule) => (rule.properties.clone(), rule.required.clone()),
        None => match operation.documented_body {
            Some(body) => (names(body.fields), names(body.required)),
            None => (Vec::new(), Vec::new()),
        },
    }
}

/// New or updated contacts: contact search, oldest first by the followed date (the search
/// body is HighLevel's: `HighLevel::poll_input`), from the last record's `searchAfter` on
/// (the client's paging).
fn contacts_source() -> PollSource {
    PollSource {
        summary: "New or updated HighLevel contacts (contact search ordered by dateUpdated)".into(),
        created: Some("dateAdded".into()),
        time_format: TimeFormat::Rfc3339,
        record_fields: contact_fields(),
        ..PollSource::new(CONTACTS, "search-contacts-advanced", "/contacts", "id", "dateUpdated")
    }
}

/// A polled contact is the contact as the API gives it.
fn contact_fields() -> Vec<String> {
    Operation::find("get-contact")
        .map(response_fields)
        .unwrap_or_default()
        .iter()
        .filter_map(|field| field.strip_prefix("contact.").map(str::to_owned))
        .collect()
}

#[async_trait::async_trait]
impl App for HighLevel {
    fn id(&self) -> AppId {
        ID
    }

    fn title(&self) -> &str {
        "HighLevel"
    }

    fn operations(&self) -> &[Arc<OperationSpec>] {
        &OPERATION_SPECS
    }

    /// The example of HighLevel's webhook docs.
    fn event_example(&self, event: &str) -> Option<Value> {
        EventType::ALL.iter().find(|known| known.as_str() == event)?.example()
    }

    fn events(&self) -> Vec<WebhookEvent> {
        EventType::ALL
            .iter()
            .map(|event| WebhookEvent {
                name: event.as_str().to_owned(),
                fields: event.fields(),
                reconciled_by: (*event == EventType::ContactCreate).then(|| CONTACTS.to_owned()),
            })
            .collect()
    }

    fn poll_sources(&self) -> &[PollSource] {
        &*POLL_SOURCES
    }

    /// A contact search: the followed date from `since` on, oldest first.
    fn poll_input(&self, _source: &PollSource, page: &PageRequest<'_>) -> Value {
        json!({
            "pageLimit": page.limit,
            "sort": [{ "field": page.by, "direction": "asc" }],
            "filters": [{
                "field": page.by, "operator": "range", "value": { "gte": page.since.to_rfc3339() },
            }],
        })
    }

    /// A searched contact carries its position, `searchAfter: [date, id]`: taken out of it.
    fn poll_position(&self, _source: &PollSource, _by: &str, contact: &mut Value) -> Vec<Value> {
        contact
            .as_object_mut()
            .and_then(|fields| fields.remove("searchAfter"))
            .and_then(|key| key.as_array().cloned())
            .unwrap_or_default()
    }

    fn event_key(&self, event: &str, account: &str, payload: &Value, delivery_id: &str) -> String {
        event_key(event, account, payload, delivery_id)
    }

    fn webhook_event(&self, payload: Value) -> NewEvent {
        let text = |field: &str| payload[field].as_str().unwrap_or_default().to_owned();
        let (event_type, location, webhook_id) =
            (text("type"), text(LOCATION_ID), text("webhookId"));
        NewEvent {
            dedup_key: event_key(&event_type, &location, &payload, &webhook_id),
            source: ID.to_string(),
            event_type,
            location_id: Some(location),
            payload,
        }
    }

    /// A found contact is the webhook that never came: the contact with its `type`.
    fn reconciled(&self, event: &str, mut record: Value) -> Value {
        record["type"] = event.into();
        record
    }

    /// The answer's `contact`, `task`, ... or the answer itself.
    fn written_record<'a>(&self, answer: &'a Value) -> &'a Value {
        ["contact", "task", "note", "appointment", "event"]
            .iter()
            .find_map(|field| answer.get(field).filter(|value| value.is_object()))
            .unwrap_or(answer)
    }

    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, ClientError> {
        let config = match context.auth {
            AuthSecret::PrivateToken { token, base_url, account } => ClientConfig::new(
                stored_url("base URL", &base_url)?,
                Credentials::PrivateToken(token.into()),
                account,
            ),
            AuthSecret::Oauth {
                base_url,
                account,
                client_id,
                client_secret,
                authorize_url,
                token_url,
                redirect_uri,
                ..
            } => {
                let app = OAuthApp {
                    extra_form: self.profile.token_form(),
                    ..stored_oauth_app(
                        client_id,
                        client_secret,
                        &authorize_url,
                        &token_url,
                        &redirect_uri,
                    )?
                };
                ClientConfig::new(
                    stored_url("base URL", &base_url)?,
                    Credentials::OAuth(OAuthConnection::new(app, context.tokens)),
                    account,
                )
            }
            other @ (AuthSecret::Headers(_)
            | AuthSecret::Credentials { .. }
            | AuthSecret::ClientCredentials { .. }) => {
                return Err(ClientError::UnsupportedAuth {
                    app: ID,
                    given: other.kind(),
                    supported: "a private integration token or OAuth".into(),
                })
            }
        };
        let config = ClientConfig {
            budget: Some(context.budget),
            profile: Arc::new(self.profile),
            ..config
        };
        let client =
            Client::new(config).map_err(|source| ClientError::Build { app: ID, source })?;
        Ok(Arc::new(HighLevelClient(client)))
    }

    fn connect_info(&self) -> ConnectInfo {
        let scopes = |scopes: &[&str]| scopes.iter().map(|scope| (*scope).to_owned()).collect();
        ConnectInfo {
            default_base_url: ghl_types::PRODUCTION_BASE_URL.into(),
            account: "location".into(),
            base_scopes: scopes(&["contacts.readonly"]),
            write_scopes: scopes(&["contacts.write"]),
            private_token_scopes: "contacts.readonly contacts.write".into(),
            authorize_url: Some("https://marketplace.gohighlevel.com/oauth/chooselocation".into()),
            authorize_path: "/oauth/chooselocation".into(),
            token_url: None,
            token_path: "/oauth/token".into(),
            token_form: self.profile.token_form(),
            oauth: Default::default(),
            flow: super::ConnectFlow::TokenOrOAuth,
            credentials: Vec::new(),
        }
    }

    fn verifier(&self) -> Option<Arc<dyn Verifier>> {
        Some(self.webhooks.clone())
    }

    /// A sandbox (any base URL but HighLevel's) gives its keys at `/_sandbox/info`.
    async fn webhook_keys(
        &self,
        base_url: &url::Url,
    ) -> Result<Option<WebhookKeys>, WebhookKeysError> {
        if base_url.as_str().trim_end_matches('/')
            == ghl_types::PRODUCTION_BASE_URL.trim_end_matches('/')
        {
            return Ok(None);
        }
        let info_url = base_url
            .join("/_sandbox/info")
            .map_err(|source| WebhookKeysError::Address { source })?;
        let info = async {
            let answer = reqwest::Client::new()
                .get(info_url.clone())
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?
                .error_for_status()?;
            answer.json::<Value>().await
        };
        let info =
            info.await.map_err(|source| WebhookKeysError::Unanswered { url: info_url, source })?;
        let keys = &info["webhook_public_keys"];
        Ok(Some(WebhookKeys {
            ed25519: keys["ed25519"].as_str().map(str::to_owned),
            rsa_pem: keys["rsa_pem"].as_str().map(str::to_owned),
        }))
    }
}

/// A HighLevel connection's client: the typed `ghl_client::Client`, which keeps its table's
/// rows; an operation is found there by its id.
struct HighLevelClient(Client);

/// HighLevel's table by operation id, built once per process.
static ROWS: LazyLock<HashMap<&'static str, &'static Operation>> =
    LazyLock::new(|| OPERATIONS.iter().map(|row| (row.id, row)).collect());

/// The row of HighLevel's table an operation was built from.
fn row(operation: &OperationSpec) -> Option<&'static Operation> {
    ROWS.get(operation.id.as_str()).copied()
}

/// Parameters as the client takes them.
fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect()
}

#[async_trait::async_trait]
impl AppClient for HighLevelClient {
    fn account(&self) -> Option<&str> {
        Some(self.0.location_id())
    }

    /// The location where the operation takes it and the caller did not give it.
    fn fill(
        &self,
        operation: &OperationSpec,
        params: &mut Vec<(String, String)>,
        body: &mut Option<Value>,
    ) {
        if let Some(row) = row(operation) {
            row.fill_tenant(self.0.location_id(), params, body);
        }
    }

    /// HighLevel's API takes no idempotency key: a lost create is found again instead
    /// (`find_created`), so the intent is not sent.
    async fn call(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        _options: CallOptions<'_>,
    ) -> Result<Value, ghl_client::Error> {
        self.0.call(&operation.id, &borrowed(params), body).await
    }

    async fn find_created(
        &self,
        operation: &OperationSpec,
        params: &[(String, String)],
        body: Option<&Value>,
        since: SystemTime,
    ) -> Option<Value> {
        row(operation)?.creates?;
        self.0.find_created(&operation.id, &borrowed(params), body, since).await.ok().flatten()
    }

    fn records(
        &self,
        operation: &OperationSpec,
        mut params: Vec<(String, String)>,
        mut body: Option<Value>,
    ) -> Option<BoxStream<'static, Result<Value, ghl_client::Error>>> {
        row(operation)?.paging?.ask_largest(&mut params, &mut body);
        Some(self.0.records(&operation.id, params, body).boxed())
    }

    fn paged_operations(&self) -> Vec<String> {
        paged_operations().map(|operation| operation.id.to_owned()).collect()
    }

    async fn check(&self) -> Result<(), ghl_client::Error> {
        self.0.list_contacts(&[("limit", "1")]).await.map(|_| ())
    }

    async fn record(&self, id: &str) -> Result<Value, ghl_client::Error> {
        let contact = self.0.contact(id).await?;
        serde_json::to_value(contact).map_err(|err| ghl_client::Error::InvalidCall(err.to_string()))
    }
}

/// Stores (or replaces) a HighLevel connection that uses a location's private integration
/// token; its secret is sealed by the store.
pub async fn save_private_token(
    store: &Store,
    name: &str,
    base_url: &str,
    location_id: &str,
    token: &str,
) -> Result<(), ConnectionError> {
    let auth = AuthSecret::PrivateToken {
        token: token.to_owned(),
        base_url: base_url.to_owned(),
        account: location_id.to_owned(),
    };
    let scopes = HighLevel::default().connect_info().private_token_scopes;
    save(store, name, &ConnectionSecret { app: ID, auth }, &scopes).await
}

/// Stores (or replaces) a HighLevel connection authorised by OAuth, with its tokens.
pub async fn save_oauth(
    store: &Store,
    name: &str,
    base_url: &str,
    app: &OAuthApp,
    tokens: TokenSet,
) -> Result<(), ConnectionError> {
    let auth = AuthSecret::oauth(base_url, app, tokens);
    save(store, name, &ConnectionSecret { app: ID, auth }, "").await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the table is one operation, with the row's facts; the field a connection
    /// fills in (`locationId`) is the row's tenant wherever an operation requires it, so no
    /// flow is asked for it.
    #[test]
    fn every_row_of_the_table_is_an_operation_with_its_facts() {
        let app = HighLevel::default();
        assert_eq!(app.operations().len(), OPERATIONS.len());
        for (row, spec) in OPERATIONS.iter().zip(app.operations()) {
            assert_eq!(spec.id, row.id);
            assert_eq!(spec.method.as_str(), row.method);
            assert_eq!(spec.path.as_str(), row.path);
            assert_eq!(spec.scopes, [row.scope]);
            assert_eq!(spec.writes, row.writes, "{}", row.id);
            assert_eq!(spec.body, row.request_schema.is_some(), "{}", row.id);
            let causes: Vec<&str> = row.events.iter().map(|event| event.as_str()).collect();
            assert_eq!(spec.causes, causes, "{}", row.id);
            if spec.fields.required.iter().any(|field| field == LOCATION_ID) {
                assert_eq!(spec.account.as_deref(), Some(LOCATION_ID), "{}", row.id);
            }
            assert_eq!(super::row(spec).map(|found| found.id), Some(row.id));
        }
    }

    /// A secret HighLevel cannot use is refused saying what to do, without showing the
    /// secret or the address.
    #[test]
    fn an_unusable_secret_is_refused_saying_what_to_do_without_showing_it() {
        let refusal = |auth: AuthSecret| {
            let budget = ghl_client::LocalBudget::new();
            let tokens = ghl_client::MemoryTokenStore::new(None);
            let context = ClientContext { name: "hl", auth, budget, tokens };
            let Err(error) = HighLevel::default().client(context) else { panic!("refused") };
            error.to_string()
        };
        let error = refusal(AuthSecret::PrivateToken {
            token: "pit-7f2".into(),
            base_url: "secret-9c1 is no address".into(),
            account: "loc-1".into(),
        });
        assert!(error.contains("base URL") && error.contains("connect it again"), "{error}");
        assert!(!error.contains("secret-9c1") && !error.contains("pit-7f2"), "{error}");
        let error = refusal(AuthSecret::Headers(crate::connections::HttpSecret {
            base_url: None,
            headers: [("X-Api-Key".to_owned(), "key-3a8".to_owned())].into(),
        }));
        assert!(error.contains("a private integration token or OAuth, not headers"), "{error}");
        assert!(!error.contains("key-3a8"), "{error}");
    }
}
