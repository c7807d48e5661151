//! HighLevel as a registered app: its operation table (`ghl_types::OPERATIONS`), its webhook
//! events, the contact poll (contact search by `dateUpdated` or `dateAdded`), how its events
//! are keyed (a `ContactCreate` by its contact, so its webhook and the reconciliation poll make
//! one event), `locationId` filling, its connections (private integration token or OAuth)
//! as a `ghl_client::Client`, and its webhooks' verifier (`verify.rs`).

pub mod verify;

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use ghl_client::pagination::paged_operations;
use ghl_client::{
    AppProfile, Client, ClientConfig, Credentials, OAuthApp, OAuthConnection, TokenSet,
};
use ghl_store::{NewEvent, Store};
use ghl_types::spec_rules::response_fields;
use ghl_types::{EventType, Operation, OPERATIONS};
use serde_json::{json, Value};

use super::{
    App, AppClient, AppId, ClientContext, ConnectInfo, OperationFields, PageRequest, PollSource,
    WebhookEvent, WebhookKeys,
};
use crate::catalog::{body_fields, events_caused, path_params};
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

/// New or updated contacts: contact search, oldest first by the followed date, from the last
/// record's `searchAfter` on.
const CONTACTS: PollSource = PollSource {
    name: "contacts",
    summary: "New or updated HighLevel contacts (contact search ordered by dateUpdated)",
    operation: "search-contacts-advanced",
    page: contacts_page,
    records: "/contacts",
    position: search_after,
    id: "id",
    modified: "dateUpdated",
    created: "dateAdded",
    record_fields: contact_fields,
};

fn contacts_page(page: &PageRequest<'_>) -> Value {
    let mut body = json!({
        "pageLimit": page.limit,
        "sort": [{ "field": page.by, "direction": "asc" }],
        "filters": [{ "field": page.by, "operator": "range", "value": { "gte": page.since } }],
    });
    if let Some(after) = &page.after {
        body["searchAfter"] = after.clone();
    }
    body
}

/// A searched contact carries its position, `searchAfter: [date, id]`: taken out of it.
fn search_after(contact: &mut Value) -> Vec<Value> {
    contact
        .as_object_mut()
        .and_then(|fields| fields.remove("searchAfter"))
        .and_then(|key| key.as_array().cloned())
        .unwrap_or_default()
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

    fn title(&self) -> &'static str {
        "HighLevel"
    }

    fn operations(&self) -> &'static [Operation] {
        OPERATIONS
    }

    /// Fields from the path, the query and the spec's body schema; the answer's from the spec.
    fn fields(&self, operation: &'static Operation) -> OperationFields {
        let (body, body_required) = body_fields(operation);
        let path = path_params(operation);
        let mut input = path.clone();
        input.extend(operation.query.iter().map(|name| (*name).to_owned()));
        input.extend(body);
        input.dedup();
        let mut required = path;
        required.extend(body_required);
        OperationFields {
            input,
            required,
            output: response_fields(operation),
            writes: !operation.is_read() && operation.id != "search-contacts-advanced",
        }
    }

    fn filled_by_connection(&self) -> &'static [&'static str] {
        &[LOCATION_ID]
    }

    fn events(&self) -> Vec<WebhookEvent> {
        EventType::ALL
            .iter()
            .map(|event| WebhookEvent {
                name: event.as_str(),
                fields: event.fields(),
                reconciled_by: (*event == EventType::ContactCreate).then_some(CONTACTS.name),
            })
            .collect()
    }

    fn poll_sources(&self) -> &'static [PollSource] {
        &[CONTACTS]
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

    fn events_caused(&self, operation: &'static Operation) -> Vec<&'static str> {
        events_caused(operation).iter().map(|event| event.as_str()).collect()
    }

    /// The answer's `contact`, `task`, ... or the answer itself.
    fn written_record<'a>(&self, answer: &'a Value) -> &'a Value {
        ["contact", "task", "note", "appointment", "event"]
            .iter()
            .find_map(|field| answer.get(field).filter(|value| value.is_object()))
            .unwrap_or(answer)
    }

    fn client(&self, context: ClientContext<'_>) -> Result<Arc<dyn AppClient>, String> {
        let url = |text: &str| text.parse::<url::Url>().map_err(|err| format!("{text}: {err}"));
        let config = match context.auth {
            AuthSecret::PrivateToken { token, base_url, account } => {
                ClientConfig::new(url(&base_url)?, Credentials::PrivateToken(token.into()), account)
            }
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
                    client_id,
                    client_secret: client_secret.into(),
                    authorize_url: url(&authorize_url)?,
                    token_url: url(&token_url)?,
                    redirect_uri: url(&redirect_uri)?,
                    extra_form: self.profile.token_form(),
                };
                ClientConfig::new(
                    url(&base_url)?,
                    Credentials::OAuth(OAuthConnection::new(app, context.tokens)),
                    account,
                )
            }
            AuthSecret::Headers(_) => {
                return Err("HighLevel connections use a private integration token or OAuth, \
                            not headers"
                    .into())
            }
        };
        let config = ClientConfig {
            budget: Some(context.budget),
            profile: Arc::new(self.profile),
            ..config
        };
        let client = Client::new(config).map_err(|err| err.to_string())?;
        Ok(Arc::new(HighLevelClient(client)))
    }

    fn connect_info(&self) -> ConnectInfo {
        ConnectInfo {
            default_base_url: ghl_types::PRODUCTION_BASE_URL,
            account: "location",
            base_scopes: &["contacts.readonly"],
            write_scopes: &["contacts.write"],
            private_token_scopes: "contacts.readonly contacts.write",
            authorize_url: Some("https://marketplace.gohighlevel.com/oauth/chooselocation"),
            authorize_path: "/oauth/chooselocation",
            token_path: "/oauth/token",
        }
    }

    fn verifier(&self) -> Option<Arc<dyn Verifier>> {
        Some(self.webhooks.clone())
    }

    /// A sandbox (any base URL but HighLevel's) gives its keys at `/_sandbox/info`.
    async fn webhook_keys(&self, base_url: &url::Url) -> Result<Option<WebhookKeys>, String> {
        if base_url.as_str().trim_end_matches('/')
            == ghl_types::PRODUCTION_BASE_URL.trim_end_matches('/')
        {
            return Ok(None);
        }
        let info_url = base_url.join("/_sandbox/info").map_err(|err| err.to_string())?;
        let info = async {
            let answer = reqwest::Client::new()
                .get(info_url.clone())
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?
                .error_for_status()?;
            answer.json::<Value>().await
        };
        let info = info.await.map_err(|err| format!("{info_url} did not answer ({err})"))?;
        let keys = &info["webhook_public_keys"];
        Ok(Some(WebhookKeys {
            ed25519: keys["ed25519"].as_str().map(str::to_owned),
            rsa_pem: keys["rsa_pem"].as_str().map(str::to_owned),
        }))
    }
}

/// A HighLevel connection's client.
struct HighLevelClient(Client);

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
        operation: &'static Operation,
        params: &mut Vec<(String, String)>,
        body: &mut Option<Value>,
    ) {
        operation.fill_tenant(self.0.location_id(), params, body);
    }

    async fn call(
        &self,
        operation: &'static Operation,
        params: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, ghl_client::Error> {
        self.0.call(operation.id, &borrowed(params), body).await
    }

    async fn find_created(
        &self,
        operation: &'static Operation,
        params: &[(String, String)],
        body: Option<&Value>,
        since: SystemTime,
    ) -> Option<Value> {
        operation.creates?;
        self.0.find_created(operation.id, &borrowed(params), body, since).await.ok().flatten()
    }

    fn records(
        &self,
        operation: &'static Operation,
        mut params: Vec<(String, String)>,
        mut body: Option<Value>,
    ) -> Option<BoxStream<'static, Result<Value, ghl_client::Error>>> {
        operation.paging?.ask_largest(&mut params, &mut body);
        Some(self.0.records(operation.id, params, body).boxed())
    }

    fn paged_operations(&self) -> Vec<&'static str> {
        paged_operations().map(|operation| operation.id).collect()
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
    save(store, name, &ConnectionSecret { app: ID, auth }, scopes).await
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
