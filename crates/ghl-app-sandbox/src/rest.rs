//! A REST app from its manifest: records kept in memory per resource, served at the
//! manifest's paths and methods. What each operation does follows from its method and path
//! (`POST /contacts` creates, `GET /contacts/{id}` reads, `PATCH` or `PUT` of it updates,
//! `DELETE` of it deletes, `GET /contacts` lists); its body fields are validated (a required
//! one missing or a wrong type: the app's 422), its natural keys are unique (the app's 409,
//! naming the existing record where `write.duplicate.id_at` says), lists follow its paging
//! style and its poll's `since` and `sort` parameters, and every write stamps its times in
//! the format of the resource's poll (`times.rs`) and sends the webhooks the operation
//! `causes`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use axum::body::Bytes;
use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ghl_apps::auth::{template_names, Auth};
use ghl_apps::error_rules::ErrorMeaning;
use ghl_apps::manifest::{FieldType, Fields, Method};
use ghl_apps::paging::{PageAndSize, Paging};
use ghl_apps::place::{Param, Place};
use ghl_apps::writes::Write;
use ghl_apps::{Manifest, Operation};
use ghl_sandbox_kit::ids;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{Map, Value};

use crate::expression::Expression;
use crate::oauth::OAuthServer;
use crate::quirks::{self, Deletion, Filter, Refusal};
use crate::times::Stamps;
use crate::{answer, gate, Shared};

/// A stored record: the JSON object the app answers.
pub type Record = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Create,
    Get,
    Update,
    Delete,
    List,
}

struct Route {
    operation: Operation,
    role: Role,
    /// The collection's path (`/contacts`): the records' resource.
    resource: String,
    /// The name of the path's id parameter.
    id_param: Option<String>,
}

/// Credentials that work: all rights, and read only.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub full: BTreeMap<String, String>,
    pub read_only: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Full,
    ReadOnly,
}

pub struct Rest {
    /// The path the operations are served under: the manifest's base URL path (`/v1`), or,
    /// where the token answer gives the account's API address (`base_url_from`), that
    /// address's (`/accounts/<id>/v1`), so that only a connection that took it reaches them.
    pub prefix: String,
    /// The base URL path a connection is made with (`--base-url`): the manifest's.
    pub connect_prefix: String,
    pub credentials: Credentials,
    /// The OAuth server of an OAuth app (its tokens are the API's credentials).
    pub oauth: Option<OAuthServer>,
    /// The account (workspace) the credentials speak for.
    pub account_id: String,
    routes: Vec<Route>,
    /// The time fields of each polled resource, in its poll's format.
    stamps: BTreeMap<String, Stamps>,
    /// Those of the other resources.
    default_stamps: Stamps,
    /// Records per resource, in creation order.
    records: Mutex<BTreeMap<String, Vec<Record>>>,
}

impl Rest {
    pub fn new(
        manifest: &Manifest,
        account_id: &str,
        token_lifetime: std::time::Duration,
        rng: &mut impl Rng,
    ) -> anyhow::Result<Self> {
        let oauth = OAuthServer::of(manifest, token_lifetime, rng);
        let credentials = match &oauth {
            Some(server) => Credentials {
                full: BTreeMap::from([
                    ("client_id".to_owned(), server.client_id.clone()),
                    ("client_secret".to_owned(), server.client_secret.clone()),
                ]),
                read_only: BTreeMap::new(),
            },
            None => credentials(&manifest.auth, rng)?,
        };
        let mut routes = Vec::new();
        for operation in &manifest.operations {
            routes.push(route(operation)?);
        }
        let (stamps, default_stamps) = Stamps::of(manifest, |operation| {
            routes
                .iter()
                .find(|route: &&Route| route.operation.name == operation)
                .map(|route| route.resource.clone())
        });
        let connect_prefix = manifest.base_url.as_url().path().trim_end_matches('/').to_owned();
        let prefix = match &oauth {
            Some(server) if server.gives_base_url() => {
                format!("/accounts/{account_id}{connect_prefix}")
            }
            _ => connect_prefix.clone(),
        };
        let records = BTreeMap::new();
        Ok(Self {
            prefix,
            connect_prefix,
            credentials,
            oauth,
            account_id: account_id.to_owned(),
            routes,
            stamps,
            default_stamps,
            records: Mutex::new(records),
        })
    }

    /// The time fields of a resource's records and their format.
    pub fn stamps(&self, resource: &str) -> &Stamps {
        self.stamps.get(resource).unwrap_or(&self.default_stamps)
    }

    /// Every stored record of a resource (`/contacts`), for the admin API and the tests.
    pub fn records(&self, resource: &str) -> Vec<Record> {
        self.records.lock().get(resource).cloned().unwrap_or_default()
    }

    /// Keeps a record the app made itself (a seeded one, one made by app-side activity).
    pub fn insert(&self, resource: &str, record: Record) {
        self.records.lock().entry(resource.to_owned()).or_default().push(record);
    }

    /// Changes a stored record in place; `false` if there is none with `id`.
    pub fn change(&self, resource: &str, id: &str, change: impl FnOnce(&mut Record)) -> bool {
        let mut all = self.records.lock();
        let found = all.get_mut(resource).and_then(|records| {
            records.iter_mut().find(|record| record.get("id").and_then(Value::as_str) == Some(id))
        });
        match found {
            Some(record) => {
                change(record);
                true
            }
            None => false,
        }
    }

    fn authorize(
        &self,
        auth: &Auth,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<Access, (&'static str, String)> {
        if let Some(server) = &self.oauth {
            let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
            return server.check_bearer(bearer).map(|()| Access::Full);
        }
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let matches = |credentials: &BTreeMap<String, String>| -> Option<bool> {
            let mut presented = false;
            let mut all = true;
            for (wanted, given) in expected(auth, credentials) {
                let value = match &wanted {
                    Expected::Header(name) => header(name).map(str::to_owned),
                    Expected::Query(name) => {
                        query.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
                    }
                };
                presented |= value.is_some();
                all &= value.as_deref() == Some(given.as_str());
            }
            presented.then_some(all)
        };
        match (matches(&self.credentials.full), matches(&self.credentials.read_only)) {
            (Some(true), _) => Ok(Access::Full),
            (_, Some(true)) => Ok(Access::ReadOnly),
            (None, _) => {
                Err(("unauthorized", format!("Missing credentials: send {}", describe(auth))))
            }
            (Some(false), _) => {
                Err(("invalid_credentials", "The credentials are not valid".into()))
            }
        }
    }
}

enum Expected {
    Header(String),
    Query(String),
}

/// What a request must carry, with the values rendered from `credentials`.
fn expected(auth: &Auth, credentials: &BTreeMap<String, String>) -> Vec<(Expected, String)> {
    let render = |template: &str| {
        let mut text = template.to_owned();
        for (name, value) in credentials {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    };
    let get = |name: &str| credentials.get(name).cloned().unwrap_or_default();
    match auth {
        Auth::ApiKey { headers, query } => headers
            .iter()
            .map(|(name, template)| (Expected::Header(name.to_ascii_lowercase()), render(template)))
            .chain(
                query
                    .iter()
                    .map(|(name, template)| (Expected::Query(name.clone()), render(template))),
            )
            .collect(),
        Auth::Bearer => {
            vec![(Expected::Header("authorization".into()), format!("Bearer {}", get("token")))]
        }
        Auth::Basic => vec![(
            Expected::Header("authorization".into()),
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", get("username"), get("password")))
            ),
        )],
        Auth::LoginSecretKey { header } => vec![(
            Expected::Header(header.to_ascii_lowercase()),
            format!("{}:{}", get("login"), get("secret_key")),
        )],
        _ => Vec::new(),
    }
}

fn describe(auth: &Auth) -> String {
    match auth {
        Auth::ApiKey { headers, query } => headers
            .keys()
            .map(|name| format!("the {name} header"))
            .chain(query.keys().map(|name| format!("the {name} query parameter")))
            .collect::<Vec<_>>()
            .join(" and "),
        Auth::LoginSecretKey { header } => format!("the {header} header"),
        _ => "the Authorization header".into(),
    }
}

/// Credentials of the auth kind, drawn from the seeded generator.
fn credentials(auth: &Auth, rng: &mut impl Rng) -> anyhow::Result<Credentials> {
    let names: Vec<String> = match auth {
        Auth::ApiKey { headers, query } => headers
            .values()
            .chain(query.values())
            .flat_map(|template| template_names(template))
            .map(str::to_owned)
            .collect(),
        Auth::Bearer => vec!["token".into()],
        Auth::Basic => vec!["username".into(), "password".into()],
        Auth::LoginSecretKey { .. } => vec!["login".into(), "secret_key".into()],
        other => bail!(
            "the app sandbox cannot play the auth kind {:?} yet (API keys, bearer tokens, basic, login:secret and OAuth only)",
            std::mem::discriminant(other)
        ),
    };
    let mut credentials = Credentials::default();
    for name in names {
        credentials.full.insert(name.clone(), ids::new_secret(rng, "sk_", 32));
        credentials.read_only.insert(name, ids::new_secret(rng, "ro_", 32));
    }
    Ok(credentials)
}

fn route(operation: &Operation) -> anyhow::Result<Route> {
    let name = &operation.name;
    let item = operation.path.ends_with('}');
    let (resource, id_param) = if item {
        let (collection, last) = operation.path.rsplit_once('/').unwrap_or(("", &operation.path));
        (collection.to_owned(), Some(last.trim_matches(|c| c == '{' || c == '}').to_owned()))
    } else {
        (operation.path.clone(), None)
    };
    let role = match (operation.method, item) {
        (Method::Post, false) => Role::Create,
        (Method::Get, true) => Role::Get,
        (Method::Patch | Method::Put, true) => Role::Update,
        (Method::Delete, true) => Role::Delete,
        (Method::Get, false) => Role::List,
        (method, _) => {
            bail!("`{name}`: the sandbox does not know what {method} {} does", operation.path)
        }
    };
    match &operation.paging {
        None
        | Some(Paging::Page { .. })
        | Some(Paging::Offset { .. })
        | Some(Paging::PageAndSize { .. }) => {}
        Some(other) => {
            bail!("`{name}`: the sandbox cannot page in the `{}` style yet", other.style())
        }
    }
    Ok(Route { operation: operation.clone(), role, resource, id_param })
}

/// The routes of every operation, under the base URL's path.
pub fn routes(shared: &Shared) -> Router<Arc<Shared>> {
    let Some(rest) = &shared.rest else { return Router::new() };
    let mut paths: BTreeMap<String, MethodRouter<Arc<Shared>>> = BTreeMap::new();
    for (index, route) in rest.routes.iter().enumerate() {
        let filter = match route.operation.method {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        };
        let handler = move |State(shared): State<Arc<Shared>>,
                            params: RawPathParams,
                            RawQuery(query): RawQuery,
                            headers: HeaderMap,
                            body: Bytes| async move {
            let params: BTreeMap<String, String> =
                params.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
            let query: Vec<(String, String)> =
                url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            handle(&shared, index, &params, &query, &headers, &body).await
        };
        let path = format!("{}{}", rest.prefix, route.operation.path);
        // Two operations may be one call with other bodies (Nozbe's update, complete and
        // reopen are all `PUT /tasks/{id}`): the first declared serves them all.
        let served = rest.routes[..index].iter().any(|earlier| {
            earlier.operation.method == route.operation.method
                && earlier.operation.path == route.operation.path
        });
        if served {
            continue;
        }
        let entry = paths.remove(&path).unwrap_or_default();
        paths.insert(path, entry.merge(on(filter, handler)));
    }
    paths.into_iter().fold(Router::new(), |router, (path, methods)| router.route(&path, methods))
}

async fn handle(
    shared: &Shared,
    index: usize,
    params: &BTreeMap<String, String>,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some(rest) = &shared.rest else { return StatusCode::NOT_FOUND.into_response() };
    let index = sibling(rest, index, body);
    let Some(route) = rest.routes.get(index) else { return StatusCode::NOT_FOUND.into_response() };
    gate::guarded(shared, &route.operation.name, async {
        if let Some(refusal) = shared.quirks.refuse(headers) {
            return answer::error(shared, refusal.status, refusal.code, &refusal.message, &[]);
        }
        let access = match rest.authorize(&shared.manifest.auth, headers, query) {
            Ok(access) => access,
            Err((code, message)) => {
                return answer::error(shared, StatusCode::UNAUTHORIZED, code, &message, &[])
            }
        };
        if access == Access::ReadOnly && route.operation.writes() {
            return answer::error(
                shared,
                StatusCode::FORBIDDEN,
                "forbidden",
                "This API key may only read; use a key with write access",
                &[],
            );
        }
        let key = match access {
            Access::Full => "full",
            Access::ReadOnly => "read_only",
        };
        if let Err(refused) = gate::admit(shared, key) {
            return *refused;
        }
        let id = route.id_param.as_ref().and_then(|name| params.get(name)).cloned();
        let mut query = query.to_vec();
        if let Some(answer) = shared.quirks.prepare(shared, &route.operation, &mut query, body) {
            return answer;
        }
        let query = query.as_slice();
        let resource = filled(&route.resource, params);
        if let Err(refusal) = parent_exists(shared, rest, route, params, query) {
            return *refusal;
        }
        let at = At { route, resource: &resource, query };
        let outcome = match route.role {
            Role::Create => create(shared, rest, &at, body),
            Role::Get => get(shared, rest, &at, id.as_deref()),
            Role::Update => update(shared, rest, &at, id.as_deref(), body),
            Role::Delete => delete(shared, rest, &at, id.as_deref()),
            Role::List => list(shared, rest, &at),
        };
        outcome.unwrap_or_else(|refusal| *refusal)
    })
    .await
}

/// Which of the operations sharing a method and path a request is: among those whose body
/// declares every field given, with its required ones present, the one declaring the fewest
/// (Nozbe's `complete-task` is `PUT /tasks/{id}` with only `ended_at`); else the first.
fn sibling(rest: &Rest, index: usize, body: &Bytes) -> usize {
    let Some(first) = rest.routes.get(index) else { return index };
    let Ok(Value::Object(given)) = serde_json::from_slice::<Value>(body) else { return index };
    let fits = |route: &Route| {
        let Some(declared) = &route.operation.body else { return given.is_empty() };
        given.keys().all(|name| declared.declares(name))
            && declared.required().iter().all(|name| {
                given
                    .get(name)
                    .is_some_and(|value| !value.is_null() || declared.fields.get(name).is_none())
            })
    };
    let size = |route: &Route| {
        route.operation.body.as_ref().map_or(0, |body| {
            body.fields.0.len()
                + body
                    .schema
                    .as_ref()
                    .and_then(|schema| schema.get("properties"))
                    .and_then(Value::as_object)
                    .map_or(0, Map::len)
        })
    };
    rest.routes
        .iter()
        .enumerate()
        .filter(|(_, route)| {
            route.operation.method == first.operation.method
                && route.operation.path == first.operation.path
        })
        .filter(|(_, route)| fits(route))
        .min_by_key(|(at, route)| (size(route), *at))
        .map_or(index, |(at, _)| at)
}

/// A refusal is an answer too, boxed (an answer is large).
type Outcome = Result<Response, Box<Response>>;

/// What one request is about: its route, the resource its path names (a child collection's
/// with its parent's id: `/contacts/c-1/comments`) and its query.
struct At<'a> {
    route: &'a Route,
    resource: &'a str,
    query: &'a [(String, String)],
}

/// A path template with its `{param}`s filled from the request's.
fn filled(template: &str, params: &BTreeMap<String, String>) -> String {
    let mut text = template.to_owned();
    for (name, value) in params {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// A child collection (`/contacts/{id}/comments`) lives under a parent record: the parent
/// must exist (and be visible), or the request is the app's 404.
fn parent_exists(
    shared: &Shared,
    rest: &Rest,
    route: &Route,
    params: &BTreeMap<String, String>,
    query: &[(String, String)],
) -> Result<(), Box<Response>> {
    let Some((collection, param)) = route.resource.rsplit_once("/{") else { return Ok(()) };
    let Some(name) = param.split('}').next() else { return Ok(()) };
    if !rest.routes.iter().any(|other| other.resource == collection) {
        return Ok(());
    }
    let id = params.get(name).map(String::as_str).unwrap_or_default();
    let parents = filled(collection, params);
    let found = rest.records.lock().get(&parents).is_some_and(|records| {
        records.iter().any(|record| {
            record.get("id").and_then(Value::as_str) == Some(id)
                && shared.quirks.visible(record, query)
        })
    });
    if found {
        return Ok(());
    }
    let message = format!("No {} with id {id}", singular(collection));
    Err(Box::new(answer::error(shared, StatusCode::NOT_FOUND, "not_found", &message, &[])))
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `contacts` -> `contact`, for messages.
fn singular(resource: &str) -> &str {
    let name = resource.rsplit('/').next().unwrap_or(resource);
    name.strip_suffix('s').unwrap_or(name)
}

/// The first success status the manifest gives the operation, else `default`.
fn success_status(route: &Route, default: StatusCode) -> StatusCode {
    route
        .operation
        .response
        .status
        .first()
        .and_then(|status| StatusCode::from_u16(*status).ok())
        .unwrap_or(default)
}

fn success(route: &Route, default: StatusCode, value: Value) -> Response {
    let status = success_status(route, default);
    let mut body = Value::Null;
    answer::set(&mut body, route.operation.response.record.as_str(), value);
    (status, axum::Json(body)).into_response()
}

fn invalid(shared: &Shared, message: String) -> Box<Response> {
    Box::new(answer::error(
        shared,
        shared.quirks.invalid_status(),
        "validation_failed",
        &message,
        &[],
    ))
}

fn refused(shared: &Shared, refusal: Refusal) -> Box<Response> {
    Box::new(answer::error(shared, refusal.status, refusal.code, &refusal.message, &[]))
}

fn bad_request(shared: &Shared, message: String) -> Box<Response> {
    Box::new(answer::error(shared, StatusCode::BAD_REQUEST, "bad_request", &message, &[]))
}

fn not_found(shared: &Shared, route: &Route, id: &str) -> Box<Response> {
    let message = format!("No {} with id {id}", singular(&route.resource));
    Box::new(answer::error(shared, StatusCode::NOT_FOUND, "not_found", &message, &[]))
}

/// The body as a JSON object whose declared fields have their declared types; `required`
/// fields must be there.
fn parse_body(
    shared: &Shared,
    route: &Route,
    body: &Bytes,
    required: bool,
) -> Result<Record, Box<Response>> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        Box::new(answer::error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("The body is not JSON: {err}"),
            &[],
        ))
    })?;
    let Value::Object(record) = value else {
        return Err(invalid(shared, "The body must be a JSON object".into()));
    };
    let Some(declared) = &route.operation.body else { return Ok(record) };
    let fields: &Fields = &declared.fields;
    if required {
        for name in fields.required() {
            if record.get(name).is_none_or(|value| value.is_null() || value == "") {
                return Err(invalid(shared, format!("{name} is required")));
            }
        }
    }
    if fields.is_empty() {
        return Ok(record);
    }
    for (name, value) in &record {
        let Some(field) = fields.get(name) else {
            return Err(invalid(
                shared,
                format!("{name} is not a field of a {}", singular(&route.resource)),
            ));
        };
        let fits = value.is_null()
            || match field.kind {
                FieldType::String => value.is_string(),
                FieldType::Integer => value.is_i64() || value.is_u64(),
                FieldType::Number => value.is_number(),
                FieldType::Boolean => value.is_boolean(),
                FieldType::Object => value.is_object(),
                FieldType::Array => value.is_array(),
                FieldType::DateTime => {
                    value.as_str().is_some_and(|text| DateTime::parse_from_rfc3339(text).is_ok())
                }
            };
        if !fits {
            return Err(invalid(shared, format!("{name} must be of type {:?}", field.kind)));
        }
    }
    Ok(record)
}

/// A natural key of `record` another record of the resource already holds: the 409 naming it.
fn duplicate(
    shared: &Shared,
    rest: &Rest,
    route: &Route,
    records: &[Record],
    record: &Record,
    except: Option<&str>,
) -> Option<Response> {
    let Some(Write::NaturalKey(natural)) = rest_create_write(rest, route) else { return None };
    // Only an app whose manifest says it refuses duplicates keeps its keys unique (Qobrix
    // does not: its natural key is a lookup, nothing more), and not one whose quirks say it
    // has no uniqueness rule (Qonto).
    let refuses = natural.duplicate.is_some()
        || shared.manifest.errors.rules.iter().any(|rule| rule.means == ErrorMeaning::Duplicate);
    if !refuses || !shared.quirks.unique_natural_keys() {
        return None;
    }
    for key in &natural.keys {
        let Some(value) = record.get(&key.field).filter(|value| !value.is_null()) else { continue };
        let Some(existing) = records.iter().find(|other| {
            other.get(&key.field) == Some(value)
                && other.get("id").and_then(Value::as_str) != except
        }) else {
            continue;
        };
        let existing_id = existing.get("id").cloned().unwrap_or(Value::Null);
        let code = shared
            .manifest
            .errors
            .rules
            .iter()
            .find(|rule| rule.status.contains(&409))
            .and_then(|rule| rule.code.clone())
            .unwrap_or_else(|| "duplicate".into());
        let message = format!(
            "A {} with this {} already exists: {}",
            singular(&route.resource),
            key.field,
            existing_id.as_str().unwrap_or_default()
        );
        let extra: Vec<(&str, Value)> = natural
            .duplicate
            .iter()
            .map(|proof| (proof.id_at.as_str(), existing_id.clone()))
            .collect();
        return Some(answer::error(shared, StatusCode::CONFLICT, &code, &message, &extra));
    }
    None
}

/// The natural-key rule of the resource's create (an update keeps the keys unique too).
fn rest_create_write<'a>(rest: &'a Rest, route: &Route) -> Option<&'a Write> {
    rest.routes
        .iter()
        .find(|other| other.role == Role::Create && other.resource == route.resource)
        .and_then(|create| create.operation.write.as_ref())
}

/// Counts the effects of a change from `before` to `record` and sends their webhooks; an
/// event the app does not send for this change (the quirks say) counts as `fallback`.
fn effects(
    shared: &Shared,
    route: &Route,
    before: Option<&Record>,
    record: &Record,
    fallback: &str,
) {
    let plain = format!("{}.{fallback}", singular(&route.resource));
    if route.operation.causes.is_empty() {
        shared.stats.lock().effect(&plain);
        // The app sends only the events its manifest knows.
        let webhooks = shared.manifest.triggers.webhooks.iter();
        if webhooks.flat_map(|hooks| &hooks.events).any(|event| event.name == plain) {
            shared.webhooks.emit(&plain, record);
        }
        return;
    }
    for cause in &route.operation.causes {
        match shared.quirks.event(cause, before, record) {
            Some(data) => {
                shared.stats.lock().effect(cause);
                shared.webhooks.emit(cause, &data);
            }
            None => shared.stats.lock().effect(&plain),
        }
    }
}

fn create(shared: &Shared, rest: &Rest, at: &At<'_>, body: &Bytes) -> Outcome {
    let route = at.route;
    let mut record = parse_body(shared, route, body, true)?;
    shared.quirks.check(&route.resource, &record).map_err(|problem| invalid(shared, problem))?;
    let mut all = rest.records.lock();
    let records = all.entry(at.resource.to_owned()).or_default();
    if let Some(refusal) = duplicate(shared, rest, route, records, &record, None) {
        return Err(Box::new(refusal));
    }
    record.retain(|_, value| !value.is_null());
    let quirks = shared.quirks;
    let id = quirks.new_id(&mut shared.rng.lock());
    let stamps = rest.stamps(&route.resource);
    let stamp = stamps.write(Utc::now());
    record.insert("id".into(), Value::String(id));
    record.insert(stamps.created.clone(), stamp.clone());
    record.insert(stamps.modified.clone(), stamp);
    quirks.created(at.resource, records, &mut record, &rest.account_id);
    records.push(record.clone());
    drop(all);
    effects(shared, route, None, &record, "created");
    Ok(success(route, StatusCode::CREATED, Value::Object(record)))
}

/// Whether `record` is the one with `id` that the request may see.
fn is(shared: &Shared, at: &At<'_>, record: &Record, id: &str) -> bool {
    record.get("id").and_then(Value::as_str) == Some(id) && shared.quirks.visible(record, at.query)
}

fn get(shared: &Shared, rest: &Rest, at: &At<'_>, id: Option<&str>) -> Outcome {
    let route = at.route;
    let id = id.unwrap_or_default();
    let all = rest.records.lock();
    let record = all
        .get(at.resource)
        .and_then(|records| records.iter().find(|record| is(shared, at, record, id)))
        .ok_or_else(|| not_found(shared, route, id))?;
    Ok(success(route, StatusCode::OK, Value::Object(record.clone())))
}

fn update(shared: &Shared, rest: &Rest, at: &At<'_>, id: Option<&str>, body: &Bytes) -> Outcome {
    let route = at.route;
    let id = id.unwrap_or_default();
    let changes = parse_body(shared, route, body, route.operation.method == Method::Put)?;
    shared.quirks.check(&route.resource, &changes).map_err(|problem| invalid(shared, problem))?;
    let mut all = rest.records.lock();
    let records = all.entry(at.resource.to_owned()).or_default();
    let Some(index) = records.iter().position(|record| is(shared, at, record, id)) else {
        return Err(not_found(shared, route, id));
    };
    shared.quirks.check_update(&records[index], &changes).map_err(|r| refused(shared, r))?;
    if let Some(refusal) = duplicate(shared, rest, route, records, &changes, Some(id)) {
        return Err(Box::new(refusal));
    }
    let before = records[index].clone();
    let record = &mut records[index];
    let stamps = rest.stamps(&route.resource);
    let quirks = shared.quirks;
    if route.operation.method == Method::Put && !quirks.put_merges() {
        let keep = ["id", stamps.created.as_str()];
        record.retain(|name, _| keep.contains(&name.as_str()));
    }
    for (name, value) in changes {
        if ["id", stamps.created.as_str(), stamps.modified.as_str()].contains(&name.as_str()) {
            continue;
        }
        if value.is_null() {
            record.remove(&name);
        } else {
            record.insert(name, value);
        }
    }
    if stamps.modified_on_update() {
        record.insert(stamps.modified.clone(), stamps.write(Utc::now()));
    }
    quirks.updated(&route.resource, record);
    let record = record.clone();
    drop(all);
    effects(shared, route, Some(&before), &record, "updated");
    Ok(success(route, StatusCode::OK, Value::Object(record)))
}

fn delete(shared: &Shared, rest: &Rest, at: &At<'_>, id: Option<&str>) -> Outcome {
    let route = at.route;
    let id = id.unwrap_or_default();
    let mut all = rest.records.lock();
    let records = all.entry(at.resource.to_owned()).or_default();
    let Some(index) = records.iter().position(|record| is(shared, at, record, id)) else {
        return Err(not_found(shared, route, id));
    };
    let before = records[index].clone();
    let record = match shared.quirks.delete(&mut records[index], at.query, &now()) {
        Deletion::Remove => records.remove(index),
        Deletion::Keep => records[index].clone(),
    };
    drop(all);
    effects(shared, route, Some(&before), &record, "deleted");
    if shared.quirks.delete_answers_record(&route.resource) {
        return Ok(success(route, StatusCode::OK, Value::Object(record)));
    }
    Ok(success_status(route, StatusCode::NO_CONTENT).into_response())
}

/// The value of a query parameter the operation declares at `param`.
fn query_value<'a>(query: &'a [(String, String)], param: &Param) -> Option<&'a str> {
    (param.place == Place::Query)
        .then(|| {
            query.iter().find(|(name, _)| *name == param.name).map(|(_, value)| value.as_str())
        })
        .flatten()
}

fn number(
    shared: &Shared,
    query: &[(String, String)],
    param: &Param,
) -> Result<Option<u64>, Box<Response>> {
    match query_value(query, param) {
        None => Ok(None),
        Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
            invalid(shared, format!("{} must be a whole number, not `{text}`", param.name))
        }),
    }
}

fn list(shared: &Shared, rest: &Rest, at: &At<'_>) -> Outcome {
    let (route, query) = (at.route, at.query);
    let mut records = rest.records(at.resource);
    records.retain(|record| shared.quirks.visible(record, query));
    let paging_params: Vec<&Param> = route
        .operation
        .paging
        .iter()
        .flat_map(|paging| paging.params())
        .map(|(_, param)| param)
        .collect();
    let poll =
        shared.manifest.triggers.polls.iter().find(|poll| poll.operation == route.operation.name);
    let since = poll.and_then(|poll| poll.since.as_ref());
    // A list no poll reads sorts as the app's polled lists do, where it takes their
    // parameter (BQE CORE's `orderby` on every list).
    let sort = poll.and_then(|poll| poll.sort.as_ref()).or_else(|| {
        let polls = shared.manifest.triggers.polls.iter();
        polls
            .filter_map(|poll| poll.sort.as_ref())
            .find(|sort| route.operation.declares(&sort.param))
    });
    let expressions = expression_params(&shared.manifest, &route.operation);
    // The values of each declared filter parameter (one given several times: any of them).
    let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in query {
        let special = paging_params.iter().any(|param| param.name == *name)
            || since.is_some_and(|since| since.param.name == *name)
            || sort.is_some_and(|sort| sort.param.name == *name)
            || expressions.contains(&name.as_str())
            || shared.quirks.list_params().contains(&name.as_str());
        if special || !route.operation.query.0.contains_key(name) {
            continue;
        }
        filters.entry(name.as_str()).or_default().push(value.as_str());
    }
    for (name, values) in filters {
        let filter = shared.quirks.filter(name);
        if let Filter::From(_) | Filter::To(_) = &filter {
            for value in &values {
                if DateTime::parse_from_rfc3339(value).is_err() {
                    return Err(invalid(
                        shared,
                        format!("{name}: `{value}` is not an RFC 3339 time"),
                    ));
                }
            }
        }
        // The app's own reading of the parameter (Nozbe's `field[min]`), else the filter's.
        records.retain(|record| {
            let own = values.iter().map(|value| shared.quirks.matches(record, name, value));
            let own: Option<Vec<bool>> = own.collect();
            own.map_or_else(|| filter.keeps(record, &values), |own| own.contains(&true))
        });
    }
    for (name, text) in query.iter().filter(|(name, _)| expressions.contains(&name.as_str())) {
        let expression = Expression::parse(text).map_err(|reason| {
            Box::new(answer::error(
                shared,
                StatusCode::BAD_REQUEST,
                "invalid_expression",
                &format!("{name}: {reason}"),
                &[],
            ))
        })?;
        records.retain(|record| expression.matches(record));
    }
    let stamps = rest.stamps(&route.resource);
    let plain_since = since.filter(|since| since.template.is_none()).map(|since| &since.param);
    if let Some((param, text)) =
        plain_since.and_then(|param| query_value(query, param).map(|text| (param, text)))
    {
        let since = stamps.parse_text(text).ok_or_else(|| {
            invalid(
                shared,
                format!("{}: `{text}` is not a time in {:?}", param.name, stamps.format),
            )
        })?;
        records.retain(|record| {
            record
                .get(&stamps.modified)
                .and_then(|value| stamps.read(value))
                .is_some_and(|modified| modified >= since)
        });
    }
    if let Some(asked) = sort.and_then(|sort| query_value(query, &sort.param)) {
        let allowed = sort
            .and_then(|sort| route.operation.query.get(&sort.param.name))
            .and_then(|declared| declared.one_of.as_ref());
        if allowed.is_some_and(|allowed| !allowed.iter().any(|value| value == asked)) {
            return Err(invalid(shared, format!("cannot sort by {asked}")));
        }
        // `field`, `-field` (newest first: JSON:API's and Qobrix's `sort[]`), `field desc` or
        // `field asc` (BQE CORE's `orderby`), `field:desc` or `field:asc` (Qonto's `sort_by`).
        let direction = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
            "asc" => Some(false),
            "desc" => Some(true),
            _ => None,
        };
        let spaced = asked.split_once(' ').or_else(|| asked.rsplit_once(':'));
        let directed = spaced.and_then(|(field, way)| Some((field, direction(way)?)));
        let (field, descending) = match (asked.strip_prefix('-'), directed) {
            (Some(field), _) => (field, true),
            (None, Some(directed)) => directed,
            _ => (asked, false),
        };
        // Numbers (epoch times) by value, text (RFC 3339 times, names) as text.
        let key = |record: &Record| match record.get(field) {
            Some(Value::Number(number)) => (number.as_f64(), String::new()),
            Some(Value::String(text)) => (None, text.clone()),
            _ => (None, String::new()),
        };
        records.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal));
        // Newest first reverses the whole list: of records made in the same instant, the
        // one made last comes first.
        if descending {
            records.reverse();
        }
    }
    let mut answer = Value::Null;
    let total = records.len() as u64;
    let mut numbered = None;
    let (page, has_more) = match &route.operation.paging {
        Some(Paging::Page { page, limit, max_limit, first_page, has_more }) => {
            let limit = number(shared, query, limit)?
                .unwrap_or(u64::from(*max_limit).min(20))
                .clamp(1, u64::from(*max_limit));
            let number = number(shared, query, page)?
                .unwrap_or(u64::from(*first_page))
                .max(u64::from(*first_page));
            let skip = (number - u64::from(*first_page)).saturating_mul(limit);
            numbered = Some(quirks::Page { number, limit, total, first: u64::from(*first_page) });
            (
                window(&records, skip, limit),
                has_more.as_ref().map(|at| (at, skip.saturating_add(limit) < total)),
            )
        }
        Some(Paging::Offset { offset, limit, max_limit }) => {
            let limit = number(shared, query, limit)?
                .unwrap_or(u64::from(*max_limit).min(20))
                .clamp(1, u64::from(*max_limit));
            let skip = number(shared, query, offset)?.unwrap_or(0);
            (window(&records, skip, limit), None)
        }
        Some(Paging::PageAndSize { param, max_limit, first_page }) => {
            let first = u64::from(*first_page);
            let asked = match query_value(query, param) {
                None => PageAndSize { page: first, size: u64::from(*max_limit).min(20) },
                Some(text) => PageAndSize::parse(text).ok_or_else(|| {
                    bad_request(
                        shared,
                        format!(
                            "{} must be `<page>,<size>` (`{first},100`), not `{text}`",
                            param.name
                        ),
                    )
                })?,
            };
            let size = asked.size.clamp(1, u64::from(*max_limit));
            let skip = (asked.page.max(first) - first).saturating_mul(size);
            let page = window(&records, skip, size);
            // Past the last record: no content at all, as BQE CORE answers.
            if page.is_empty() {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            (page, None)
        }
        _ => (records, None),
    };
    answer::set(
        &mut answer,
        route.operation.response.record.as_str(),
        Value::Array(page.into_iter().map(Value::Object).collect()),
    );
    if let Some((at, more)) = has_more {
        answer::set(&mut answer, at.as_str(), Value::Bool(more));
    }
    if let Some(page) = numbered {
        shared.quirks.page(&mut answer, &page);
    }
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(answer)).into_response())
}

/// The query parameters of a list that carry a search expression: a poll's `since` with a
/// template, a natural-key lookup's key with one, on this list or on another of the app's
/// that this one takes too (BQE CORE's `where` on every list).
fn expression_params<'a>(manifest: &'a Manifest, list: &Operation) -> Vec<&'a str> {
    let polls = manifest
        .triggers
        .polls
        .iter()
        .filter_map(|poll| poll.since.as_ref())
        .filter(|since| since.template.is_some())
        .map(|since| &since.param);
    let keys = manifest
        .operations
        .iter()
        .filter_map(|create| match &create.write {
            Some(Write::NaturalKey(natural)) => Some(&natural.keys),
            _ => None,
        })
        .flatten()
        .filter(|key| key.template.is_some())
        .map(|key| &key.param);
    let mut names: Vec<&str> = polls
        .chain(keys)
        .filter(|param| param.place == Place::Query && list.declares(param))
        .map(|param| param.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn window(records: &[Record], skip: u64, limit: u64) -> Vec<Record> {
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    records.iter().skip(skip).take(limit).cloned().collect()
}
