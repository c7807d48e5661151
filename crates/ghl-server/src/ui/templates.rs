//! Templates (`/ui/templates`): the gallery of shipped templates, and a template's page to
//! install it: each connection slot is a list of the connections of its app, the flow's name
//! is prefilled; installing runs the same checks as `flows apply` (the service's `install`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use ghl_service::templates::Template;
use ghl_store::ConnectionSummary;
use maud::{html, Markup};

use super::auth::{Posted, SignedIn};
use super::{csrf_field, internal, page, see_other, Nav, Notice};
use crate::state::AppState;

/// `GET /ui/templates`.
pub(crate) async fn gallery(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
) -> Response {
    let templates = state.service.templates().list();
    let body = html! {
        h1 { "Templates" }
        p { "Each template is a flow ready to install: choose its connections and it runs." }
        ul.gallery {
            @for template in templates {
                li.card {
                    h2 { a href={ "/ui/templates/" (template.template) } { (template.title) } }
                    p { (template.description) }
                    p.apps { "Apps: " (apps(template).join(", ")) }
                }
            }
        }
    };
    page("Templates", Some(&session), Nav::Templates, body).into_response()
}

/// The apps a template's slots connect, once each.
fn apps(template: &Template) -> Vec<&str> {
    let mut apps: Vec<&str> = template.connections.values().map(|slot| slot.app.as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    apps
}

/// `GET /ui/templates/{name}`: the template and its install form.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    SignedIn(session): SignedIn,
    Path(name): Path<String>,
) -> Response {
    install_page(&state, &session, &name, None).await
}

async fn install_page(
    state: &AppState,
    session: &ghl_service::sessions::Session,
    name: &str,
    notice: Option<Notice>,
) -> Response {
    let template = match state.service.templates().show(name) {
        Ok(template) => template,
        Err(err) => {
            let body = html! { h1 { "Template" } (Notice::failed(&err).render()) };
            return page("Template", Some(session), Nav::Templates, body).into_response();
        }
    };
    let connections = match state.service.connections().list().await {
        Ok(connections) => connections,
        Err(err) => return internal(&err),
    };
    let body = html! {
        p { a href="/ui/templates" { "← All templates" } }
        h1 { (template.title) }
        p { (template.description) }
        @if let Some(notice) = &notice { (notice.render()) }
        form.stack method="post" action={ "/ui/templates/" (template.template) "/install" } {
            (csrf_field(session))
            label { "Flow name"
                input type="text" name="flow" required value=(template.flow.name);
            }
            @for (slot, wanted) in &template.connections {
                (slot_field(slot, &wanted.app, wanted.description.as_deref(), &connections))
            }
            button #install type="submit" { "Install" }
        }
        details {
            summary { "The flow as YAML" }
            pre { code { (template.to_yaml()) } }
        }
    };
    page(&template.title, Some(session), Nav::Templates, body).into_response()
}

/// A slot's list: the connections of its app, or a link to connect one.
fn slot_field(
    slot: &str,
    app: &str,
    description: Option<&str>,
    connections: &[ConnectionSummary],
) -> Markup {
    let fitting: Vec<&ConnectionSummary> = connections.iter().filter(|c| c.app == app).collect();
    let id = format!("slot-{slot}");
    html! {
        div.field {
            label for=(id) { "Connection for " strong { (slot) } " (" (app) ")" }
            @if let Some(description) = description { p.hint { (description) } }
            @if fitting.is_empty() {
                p.warn { "No " (app) " connection yet. " a href="/ui/connections/new" { "Connect " (app) } " first." }
            } @else {
                select #(id) name={ "slot." (slot) } required {
                    @for connection in fitting {
                        option value=(connection.name) { (connection.name) }
                    }
                }
            }
        }
    }
}

/// `POST /ui/templates/{name}/install`: the form's `flow` and `slot.<name>` fields.
pub(crate) async fn install(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Posted { session, form }: Posted<BTreeMap<String, String>>,
) -> Response {
    let flow = form.get("flow").map(String::as_str).filter(|flow| !flow.is_empty());
    let connections: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(field, value)| Some((field.strip_prefix("slot.")?.to_owned(), value.clone())))
        .collect();
    match state.service.templates().install(&name, &connections, flow).await {
        Ok(installed) => see_other("/ui/flows", &[("installed", &installed.flow)]),
        Err(err) => install_page(&state, &session, &name, Some(Notice::failed(&err))).await,
    }
}
