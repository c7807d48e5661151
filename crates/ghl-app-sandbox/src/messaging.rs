//! Slack's and Teams' incoming webhooks: each hook URL is a credential; what is posted to a
//! working hook is recorded (`GET /_sandbox/posts`), and the answers are the services' own
//! (specs/partners/messaging-webhooks.md):
//!
//! - Slack (`/services/T.../B.../SECRET`): `200 ok`; plain-text error codes with their
//!   statuses (`400 invalid_payload`, `400 no_text`, `404 no_service` for an unknown hook,
//!   `410 channel_is_archived`...); over the rate, `429` with `Retry-After`.
//! - Teams Workflows (`/workflows/ID/triggers/manual/paths/invoke?sig=SECRET`): `202` and no
//!   body for an Adaptive Card envelope (checked against the manifest's schema), `400` for
//!   other shapes, `429` with `Retry-After` over the rate.
//! - Teams legacy connector (`/webhookb2/ID/IncomingWebhook/SECRET`): `200 1`; `400 Summary
//!   or Text is required.`; over the rate no 429 status but a body saying `HTTP error 429`.
//!
//! A hook can be told to refuse every post with a code (`PUT /_sandbox/hooks/{id}`), as an
//! archived channel or a removed hook does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use ghl_sandbox_kit::ids;
use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{answer, gate, Kind, Shared};

/// Which service's hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    Slack,
    /// Teams Workflows (Power Automate).
    Workflows,
    /// Teams' legacy Office 365 connector.
    Legacy,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hook {
    pub id: String,
    pub flavor: Flavor,
    #[serde(skip)]
    pub secret: String,
    /// The code every post is refused with (`channel_is_archived`), if any.
    pub refuse: Option<String>,
}

/// One post a hook accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Post {
    pub hook: String,
    pub operation: String,
    pub body: Value,
    pub at: String,
}

pub struct Hooks {
    hooks: Mutex<Vec<Hook>>,
    posts: Mutex<Vec<Post>>,
}

/// Slack's status for each of its error codes. The changelog of 2016-05-17 gives the first
/// six; the others follow the third-party clients the spec notes cite (UNCONFIRMED there).
pub fn slack_status(code: &str) -> StatusCode {
    match code {
        "action_prohibited"
        | "invalid_token"
        | "posting_to_general_channel_denied"
        | "team_disabled" => StatusCode::FORBIDDEN,
        "channel_not_found" | "no_service" | "no_service_id" | "no_active_hooks" | "no_team" => {
            StatusCode::NOT_FOUND
        }
        "channel_is_archived" => StatusCode::GONE,
        "rollup_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl Hooks {
    /// One working hook per flavor the service has.
    pub fn new(kind: Kind, rng: &mut impl Rng) -> Self {
        let flavors: &[Flavor] = match kind {
            Kind::Slack => &[Flavor::Slack],
            _ => &[Flavor::Workflows, Flavor::Legacy],
        };
        let hooks = flavors.iter().map(|flavor| new_hook(*flavor, rng)).collect();
        Self { hooks: Mutex::new(hooks), posts: Mutex::new(Vec::new()) }
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().clone()
    }

    pub fn add(&self, flavor: Flavor, refuse: Option<String>, rng: &mut impl Rng) -> Hook {
        let mut hook = new_hook(flavor, rng);
        hook.refuse = refuse;
        self.hooks.lock().push(hook.clone());
        hook
    }

    /// Sets what a hook refuses posts with; `false` when there is no such hook.
    pub fn set_refuse(&self, id: &str, refuse: Option<String>) -> bool {
        let mut hooks = self.hooks.lock();
        match hooks.iter_mut().find(|hook| hook.id == id) {
            Some(hook) => {
                hook.refuse = refuse;
                true
            }
            None => false,
        }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().clone()
    }

    pub fn clear_posts(&self) {
        self.posts.lock().clear();
    }

    fn find(&self, flavor: Flavor, secret: &str) -> Option<Hook> {
        self.hooks
            .lock()
            .iter()
            .find(|hook| hook.flavor == flavor && hook.secret == secret)
            .cloned()
    }

    fn record(&self, hook: &Hook, operation: &str, body: Value) {
        self.posts.lock().push(Post {
            hook: hook.id.clone(),
            operation: operation.to_owned(),
            body,
            at: crate::rest::now(),
        });
    }

    /// The URL of the first hook: the credential a connection gives.
    pub fn first_url(&self, address: &str) -> String {
        self.hooks.lock().first().map(|hook| url(address, hook)).unwrap_or_default()
    }

    /// Teams' legacy connector URL, when there is one.
    pub fn legacy_url(&self, address: &str) -> Option<String> {
        let hooks = self.hooks.lock();
        hooks.iter().find(|hook| hook.flavor == Flavor::Legacy).map(|hook| url(address, hook))
    }
}

fn new_hook(flavor: Flavor, rng: &mut impl Rng) -> Hook {
    let id = match flavor {
        Flavor::Slack => ids::new_secret(rng, "B", 10).to_uppercase(),
        _ => ids::new_secret(rng, "", 32).to_lowercase(),
    };
    Hook { id, flavor, secret: ids::new_secret(rng, "", 24), refuse: None }
}

/// A hook's URL, the credential.
pub fn url(address: &str, hook: &Hook) -> String {
    match hook.flavor {
        Flavor::Slack => format!("{address}/services/TSANDBOX/{}/{}", hook.id, hook.secret),
        Flavor::Workflows => format!(
            "{address}/workflows/{}/triggers/manual/paths/invoke?api-version=2016-06-01&sig={}",
            hook.id, hook.secret
        ),
        Flavor::Legacy => {
            format!("{address}/webhookb2/{}/IncomingWebhook/{}", hook.id, hook.secret)
        }
    }
}

pub fn routes(kind: Kind) -> Router<Arc<Shared>> {
    match kind {
        Kind::Slack => Router::new().route("/services/{team}/{hook}/{secret}", post(slack)),
        _ => Router::new()
            .route("/workflows/{hook}/triggers/manual/paths/invoke", post(workflows))
            .route("/webhookb2/{hook}/IncomingWebhook/{secret}", post(legacy)),
    }
}

fn hooks(shared: &Shared) -> Option<&Hooks> {
    shared.messaging.as_ref()
}

/// The JSON body, or Slack's `payload=` form field.
fn parse(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form {
        let payload = url::form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, value)| value.into_owned())?;
        return serde_json::from_str(&payload).ok();
    }
    serde_json::from_slice(body).ok()
}

/// What Slack says of a message body, if it refuses it.
fn slack_refusal(message: &Value) -> Option<&'static str> {
    let Value::Object(fields) = message else { return Some("invalid_payload") };
    let present = |name: &str| fields.get(name).is_some_and(|value| !value.is_null());
    let text_ok = fields.get("text").and_then(Value::as_str).is_some_and(|text| !text.is_empty());
    if !text_ok && !present("blocks") && !present("attachments") {
        return Some("no_text");
    }
    if let Some(blocks) = fields.get("blocks") {
        let Value::Array(blocks) = blocks else { return Some("invalid_blocks_format") };
        let typed = blocks.iter().all(|block| block.get("type").and_then(Value::as_str).is_some());
        if blocks.len() > 50 || !typed {
            return Some("invalid_blocks");
        }
    }
    if let Some(attachments) = fields.get("attachments") {
        let Value::Array(attachments) = attachments else { return Some("invalid_payload") };
        if attachments.len() > 100 {
            return Some("too_many_attachments");
        }
    }
    None
}

async fn slack(
    State(shared): State<Arc<Shared>>,
    Path((_team, _hook, secret)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = "post-message";
    gate::guarded(&shared, operation, async {
        let Some(hooks) = hooks(&shared) else { return StatusCode::NOT_FOUND.into_response() };
        let Some(hook) = hooks.find(Flavor::Slack, &secret) else {
            return answer::text(StatusCode::NOT_FOUND, "no_service");
        };
        if let Err(refused) = gate::admit(&shared, &hook.id) {
            return *refused;
        }
        if let Some(code) = &hook.refuse {
            return answer::text(slack_status(code), code.clone());
        }
        let Some(message) = parse(&headers, &body) else {
            return answer::text(StatusCode::BAD_REQUEST, "invalid_payload");
        };
        if let Some(code) = slack_refusal(&message) {
            return answer::text(slack_status(code), code);
        }
        hooks.record(&hook, operation, message);
        shared.stats.lock().effect("message.posted");
        answer::text(StatusCode::OK, "ok")
    })
    .await
}

#[derive(Debug, Deserialize)]
struct Signed {
    sig: Option<String>,
}

async fn workflows(
    State(shared): State<Arc<Shared>>,
    Path(_hook): Path<String>,
    Query(signed): Query<Signed>,
    body: Bytes,
) -> Response {
    let operation = "post-adaptive-card";
    gate::guarded(&shared, operation, async {
        let Some(hooks) = hooks(&shared) else { return StatusCode::NOT_FOUND.into_response() };
        // Power Automate's refusal of a wrong signature: its body is UNCONFIRMED in the
        // spec notes; the status is what clients see.
        let Some(hook) = signed.sig.and_then(|sig| hooks.find(Flavor::Workflows, &sig)) else {
            return workflow_error(
                StatusCode::UNAUTHORIZED,
                "The request's sig does not match the workflow's",
            );
        };
        if let Err(refused) = gate::admit(&shared, &hook.id) {
            return *refused;
        }
        if let Some(code) = &hook.refuse {
            return workflow_error(StatusCode::NOT_FOUND, code);
        }
        let Ok(message) = serde_json::from_slice::<Value>(&body) else {
            return workflow_error(StatusCode::BAD_REQUEST, "The body is not JSON");
        };
        if let Err(reason) = schema_check(&shared, operation, &message) {
            return workflow_error(StatusCode::BAD_REQUEST, &reason);
        }
        hooks.record(&hook, operation, message);
        shared.stats.lock().effect("card.posted");
        StatusCode::ACCEPTED.into_response()
    })
    .await
}

fn workflow_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": status.as_u16().to_string(), "message": message } })),
    )
        .into_response()
}

/// The body against the operation's schema in the manifest (the Adaptive Card envelope).
fn schema_check(shared: &Shared, operation: &str, message: &Value) -> Result<(), String> {
    let Some(schema) = shared
        .manifest
        .operation(operation)
        .and_then(|op| op.body.as_ref())
        .and_then(|b| b.schema.as_ref())
    else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(schema).map_err(|err| err.to_string())?;
    let first = validator
        .iter_errors(message)
        .next()
        .map(|error| format!("{error} at {}", error.instance_path()));
    match first {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

async fn legacy(
    State(shared): State<Arc<Shared>>,
    Path((_hook, secret)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let operation = "post-message-card";
    gate::guarded(&shared, operation, async {
        let Some(hooks) = hooks(&shared) else { return StatusCode::NOT_FOUND.into_response() };
        let Some(hook) = hooks.find(Flavor::Legacy, &secret) else {
            return answer::text(StatusCode::NOT_FOUND, "Webhook not found");
        };
        // "Connectors do not throw 429s": the body says so instead (the status of that
        // answer is UNCONFIRMED; the docs' text implies a success status).
        if shared.windows.acquire(&hook.id).is_err() {
            shared.stats.lock().rate_limited += 1;
            return answer::text(
                StatusCode::OK,
                "Microsoft Teams endpoint returned HTTP error 429",
            );
        }
        if let Some(code) = &hook.refuse {
            return answer::text(StatusCode::NOT_FOUND, code.clone());
        }
        let Ok(Value::Object(card)) = serde_json::from_slice::<Value>(&body) else {
            return answer::text(
                StatusCode::BAD_REQUEST,
                "Bad payload received by generic incoming webhook.",
            );
        };
        let has = |name: &str| {
            card.get(name).and_then(Value::as_str).is_some_and(|text| !text.is_empty())
        };
        if !has("summary") && !has("text") {
            return answer::text(StatusCode::BAD_REQUEST, "Summary or Text is required.");
        }
        hooks.record(&hook, operation, Value::Object(card));
        shared.stats.lock().effect("card.posted");
        answer::text(StatusCode::OK, "1")
    })
    .await
}
