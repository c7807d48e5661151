//! Every entry of the catalog, driven over HTTP against its sandbox, on SQLite and
//! PostgreSQL: each action is the one step of a flow the engine runs (the path a user's step
//! takes), and counts only if its sandbox answered that operation with a 2xx and shows its
//! effect; each trigger is a flow that must have run: webhook events are the ones the
//! sandboxes send, signed, to an ingest route here that verifies them as the server does;
//! poll sources and the schedule are fired; manual is run on demand.
//!
//! The tables below must match the catalog exactly: an entry with no row, or a row naming no
//! entry, fails [`every_catalog_entry_has_a_row_and_every_row_an_entry`] saying what to add.
//! `cargo nextest run --workspace -E 'binary(catalog)' --no-capture` runs the check and shows
//! the entries per app.

// Its `on_both!` is not used: this test's world is its own ([`world`]).
#[allow(unused_macros)]
mod support;

mod catalog_rows;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use catalog_rows::{fired, op, utility, ActionRow, TriggerRow, PARTNERS};
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_engine::apps::highlevel::verify::TrustedKeys;
use ghl_engine::apps::highlevel::HighLevel;
use ghl_engine::apps::{AppId, Apps, ConnectFlow};
use ghl_engine::catalog::{actions, triggers};
use ghl_engine::connections::{save, save_http, AuthSecret, ConnectionSecret, HttpSecret};
use ghl_engine::inbound::Inbound;
use ghl_engine::{Engine, EngineConfig};
use ghl_store::{IngestOutcome, RunFilter, RunStatus, RunSummary};
use serde_json::{json, Value};
use support::World;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

ghl_testkit::on_both!(
    every_catalog_entry_is_driven_against_its_sandbox,
    every_entry,
    via super::world
);

/// A delivery the ingest route refuses is sent again soon (a busy store answers 500).
const REDELIVERY: Duration = Duration::from_millis(50);

/// [`support::world`] with HighLevel's sandbox sending a refused webhook again soon.
async fn world(store: ghl_store::Store) -> World {
    let mut sandbox = support::roomy_sandbox();
    sandbox.webhooks.retry_on_any_failure = true;
    sandbox.webhooks.retry_delay = REDELIVERY;
    support::world_with(store, sandbox, support::quick_engine()).await
}

const CONTACT: (&str, &str) = ("contactId", ".trigger.contactId");
const LOCATION: (&str, &str) = ("locationId", ".trigger.locationId");
const TASK: (&str, &str) = ("taskId", ".trigger.taskId");
const NOTE: (&str, &str) = ("id", ".trigger.noteId");
const EVENT: (&str, &str) = ("eventId", ".trigger.eventId");
const RECORD: (&str, &str) = ("id", ".trigger.recordId");

/// A Teams message's one attachment: an Adaptive Card (jq).
const ADAPTIVE_CARD: &str = concat!(
    r#"[{contentType: "application/vnd.microsoft.card.adaptive", content: {type: "AdaptiveCard", "#,
    r#"version: "1.4", body: [{type: "TextBlock", text: "A new contact: Ada"}]}}]"#,
);

/// Every action of the catalog but the deletes ([`DELETES`]), in the order they run: a row
/// may use what an earlier one kept.
const ACTIONS: &[ActionRow] = &[
    // HighLevel: contacts.
    op("highlevel.create-contact", "highlevel")
        .input(&[LOCATION, ("firstName", r#""Ada""#), ("email", r#""ada@example.com""#)])
        .effect("contact.created")
        .keep("contactId", "/contact/id"),
    op("highlevel.upsert-contact", "highlevel")
        .input(&[LOCATION, ("firstName", r#""Grace""#), ("email", r#""grace@example.com""#)])
        .effect("contact.created")
        .keep("doomedId", "/contact/id"),
    op("highlevel.get-contact", "highlevel").input(&[CONTACT]).output("/contact/id"),
    op("highlevel.update-contact", "highlevel")
        .input(&[CONTACT, ("lastName", r#""Lovelace""#), ("dnd", "true")])
        .effect("contact.updated")
        .output("/contact/lastName"),
    op("highlevel.get-contacts", "highlevel")
        .input(&[LOCATION, ("limit", "10")])
        .output("/contacts/0"),
    op("highlevel.search-contacts-advanced", "highlevel")
        .input(&[LOCATION, ("pageLimit", "10")])
        .output("/contacts/0"),
    op("highlevel.get-duplicate-contact", "highlevel")
        .input(&[LOCATION, ("email", r#""ada@example.com""#)])
        .output("/contact/id"),
    op("highlevel.add-tags", "highlevel")
        .input(&[CONTACT, ("tags", r#"["vip", "lead"]"#)])
        .effect("contact.updated")
        .output("/tags/0"),
    op("highlevel.remove-tags", "highlevel")
        .input(&[CONTACT, ("tags", r#"["lead"]"#)])
        .effect("contact.updated")
        .output("/tags"),
    op("highlevel.create-association", "highlevel")
        .input(&[
            ("type", r#""add""#),
            ("contacts", "[.trigger.contactId]"),
            ("tags", r#"["bulk"]"#),
            LOCATION,
        ])
        .effect("contact.updated")
        .output("/succeded"),
    op("highlevel.add-remove-contact-from-business", "highlevel")
        .input(&[LOCATION, ("ids", "[.trigger.contactId]"), ("businessId", r#""biz-catalog""#)])
        .effect("contact.updated")
        .output("/success"),
    op("highlevel.get-contacts-by-businessId", "highlevel")
        .input(&[LOCATION, ("businessId", r#""biz-catalog""#)])
        .output("/contacts/0"),
    op("highlevel.add-followers-contact", "highlevel")
        .input(&[CONTACT, ("followers", "[.trigger.userId]")])
        .effect("contact.followers_changed")
        .output("/followersAdded"),
    op("highlevel.remove-followers-contact", "highlevel")
        .input(&[CONTACT, ("followers", "[.trigger.userId]")])
        .effect("contact.followers_changed")
        .output("/followersRemoved"),
    op("highlevel.add-contact-to-campaign", "highlevel")
        .input(&[CONTACT, ("campaignId", ".trigger.campaignId")])
        .effect("contact.campaigns_changed"),
    op("highlevel.remove-contact-from-campaign", "highlevel")
        .input(&[CONTACT, ("campaignId", ".trigger.campaignId")])
        .effect("contact.campaigns_changed"),
    op("highlevel.remove-contact-from-every-campaign", "highlevel")
        .input(&[CONTACT])
        .effect("contact.campaigns_changed"),
    op("highlevel.add-contact-to-workflow", "highlevel")
        .input(&[
            CONTACT,
            ("workflowId", ".trigger.workflowId"),
            ("eventStartTime", r#""2026-12-01T10:00:00Z""#),
        ])
        .effect("contact.workflows_changed"),
    op("highlevel.delete-contact-from-workflow", "highlevel")
        .input(&[CONTACT, ("workflowId", ".trigger.workflowId")])
        .effect("contact.workflows_changed"),
    // HighLevel: tasks.
    op("highlevel.create-task", "highlevel")
        .input(&[
            CONTACT,
            ("title", r#""Call Ada""#),
            ("dueDate", r#""2026-12-01T10:00:00Z""#),
            ("completed", "false"),
        ])
        .effect("task.created")
        .keep("taskId", "/task/id"),
    op("highlevel.get-task", "highlevel").input(&[CONTACT, TASK]).output("/task/id"),
    op("highlevel.get-all-tasks", "highlevel").input(&[CONTACT]).output("/tasks/0/id"),
    op("highlevel.update-task", "highlevel")
        .input(&[CONTACT, TASK, ("title", r#""Call Ada back""#)])
        .effect("task.updated")
        .output("/task/title"),
    op("highlevel.update-task-completed", "highlevel")
        .input(&[CONTACT, TASK, ("completed", "true")])
        .effect("task.completed")
        .output("/task/completed"),
    // HighLevel: notes.
    op("highlevel.create-note", "highlevel")
        .input(&[CONTACT, ("body", r#""Met at the conference""#)])
        .effect("note.created")
        .keep("noteId", "/note/id"),
    op("highlevel.get-note", "highlevel").input(&[CONTACT, NOTE]).output("/note/id"),
    op("highlevel.get-all-notes", "highlevel").input(&[CONTACT]).output("/notes/0/id"),
    op("highlevel.update-note", "highlevel")
        .input(&[CONTACT, NOTE, ("body", r#""Met at the conference, twice""#)])
        .effect("note.updated")
        .output("/note/body"),
    // HighLevel: appointments.
    op("highlevel.create-appointment", "highlevel")
        .input(&[
            ("calendarId", ".trigger.calendarId"),
            LOCATION,
            CONTACT,
            ("startTime", r#""2026-12-02T15:00:00.000Z""#),
            ("endTime", r#""2026-12-02T15:30:00.000Z""#),
            ("title", r#""Viewing""#),
        ])
        .effect("appointment.created")
        .keep("eventId", "/id"),
    op("highlevel.get-appointment", "highlevel").input(&[EVENT]).output("/event/id"),
    op("highlevel.edit-appointment", "highlevel")
        .input(&[EVENT, ("title", r#""Second viewing""#)])
        .effect("appointment.updated")
        .output("/title"),
    op("highlevel.get-appointments-for-contact", "highlevel")
        .input(&[CONTACT])
        .output("/events/0/id"),
    op("highlevel.get-calendar-events", "highlevel")
        .input(&[
            LOCATION,
            ("calendarId", ".trigger.calendarId"),
            ("startTime", ".trigger.from"),
            ("endTime", ".trigger.to"),
        ])
        .output("/events/0/id"),
    // Your App.
    op("your-app.create-contact", "your-app")
        .input(&[("name", r#""Ada Lovelace""#), ("email", r#""ada@example.com""#)])
        .effect("contact.created")
        .keep("recordId", "/id"),
    op("your-app.get-contact", "your-app").input(&[RECORD]).output("/email"),
    op("your-app.update-contact", "your-app")
        .input(&[RECORD, ("phone", r#""+44 20 7946 0000""#)])
        .effect("contact.updated")
        .output("/phone"),
    op("your-app.list-contacts", "your-app").input(&[("limit", "10")]).output("/0/id"),
    // Messaging and outgoing webhooks.
    op("slack.post-message", "slack")
        .input(&[("text", r#""A new contact: Ada""#)])
        .effect("message.posted"),
    op("teams.post-adaptive-card", "teams")
        .input(&[("type", r#""message""#), ("attachments", ADAPTIVE_CARD)])
        .effect("card.posted"),
    op("teams.post-message-card", "teams-legacy")
        .input(&[
            ("@type", r#""MessageCard""#),
            ("@context", r#""https://schema.org/extensions""#),
            ("summary", r#""A new contact""#),
            ("text", r#""A new contact: Ada""#),
        ])
        .effect("card.posted"),
    op("webhook.send", "webhook")
        .input(&[("type", r#""contact.created""#), ("contactId", ".trigger.contactId")])
        .effect("message.received"),
    // The engine's own steps.
    utility("http.request")
        .via(HTTP_CONNECTION)
        .input(&[
            ("method", r#""POST""#),
            ("url", r#""/contacts/" + .trigger.contactId + "/notes""#),
            ("headers", r#"{"Version": "2021-07-28"}"#),
            ("body", r#"{body: "Sent with http.request"}"#),
        ])
        .served_by("highlevel", "create-note")
        .effect("note.created")
        .output("/body/note/id"),
    utility("util.log").input(&[("message", r#""Ada is in""#)]).output("/message"),
    utility("util.filter")
        .input(&[("condition", ".trigger.contactId != null")])
        .output("/condition"),
    utility("util.delay").input(&[("seconds", "1")]).output("/until"),
];

/// The deletes, run after the schedule and the polls fired (the polls must find the records
/// the rows made).
const DELETES: &[ActionRow] = &[
    op("highlevel.delete-event", "highlevel").input(&[EVENT]).effect("appointment.deleted"),
    op("highlevel.delete-note", "highlevel").input(&[CONTACT, NOTE]).effect("note.deleted"),
    op("highlevel.delete-task", "highlevel").input(&[CONTACT, TASK]).effect("task.deleted"),
    op("highlevel.delete-contact", "highlevel")
        .input(&[("contactId", ".trigger.doomedId")])
        .effect("contact.deleted"),
    op("your-app.delete-contact", "your-app").input(&[RECORD]).effect("contact.deleted"),
];

/// Every action row but the deletes, HighLevel's and the first apps' before the partners'.
fn all_actions() -> Vec<&'static ActionRow> {
    ACTIONS.iter().chain(PARTNERS.iter().flat_map(|rows| rows.actions)).collect()
}

/// Every delete row, the partners' after HighLevel's and the first apps'.
fn all_deletes() -> Vec<&'static ActionRow> {
    DELETES.iter().chain(PARTNERS.iter().flat_map(|rows| rows.deletes)).collect()
}

fn all_triggers() -> Vec<&'static TriggerRow> {
    TRIGGERS.iter().chain(PARTNERS.iter().flat_map(|rows| rows.triggers)).collect()
}

/// `http.request` reaches HighLevel's sandbox through this `http` connection.
const HTTP_CONNECTION: &str = "sandbox-api";

const TRIGGERS: &[TriggerRow] = &[
    fired("highlevel.ContactCreate", "highlevel.create-contact", "/id"),
    fired("highlevel.ContactUpdate", "highlevel.update-contact", "/id"),
    fired("highlevel.ContactDelete", "highlevel.delete-contact", "/id"),
    fired("highlevel.ContactTagUpdate", "highlevel.add-tags", "/tags"),
    fired("highlevel.ContactDndUpdate", "highlevel.update-contact (dnd)", "/id"),
    fired("highlevel.NoteCreate", "highlevel.create-note", "/body"),
    fired("highlevel.NoteUpdate", "highlevel.update-note", "/body"),
    fired("highlevel.NoteDelete", "highlevel.delete-note", "/id"),
    fired("highlevel.TaskCreate", "highlevel.create-task", "/title"),
    fired("highlevel.TaskComplete", "highlevel.update-task-completed", "/id"),
    fired("highlevel.TaskDelete", "highlevel.delete-task", "/id"),
    fired("highlevel.AppointmentCreate", "highlevel.create-appointment", "/appointment/id"),
    fired("highlevel.AppointmentUpdate", "highlevel.edit-appointment", "/appointment/id"),
    fired("highlevel.AppointmentDelete", "highlevel.delete-event", "/appointment/id"),
    fired("your-app.contact.created", "your-app.create-contact", "/id"),
    fired("your-app.contact.updated", "your-app.update-contact", "/phone"),
    fired("your-app.contact.deleted", "your-app.delete-contact", "/id"),
    fired("schedule", "a tick fired by the test", "/scheduledAt"),
    fired("poll: highlevel.contacts", "the contacts the rows made and changed", "/id"),
    fired("poll: your-app.contacts", "the record the rows made", "/id"),
    fired("manual", "run on demand by the test", "/asked"),
];

/// What the catalog lists against what the tables name: `(missing rows, rows of nothing)`.
fn compare(listed: &[String], rows: &[&str]) -> (Vec<String>, Vec<String>) {
    let rows: BTreeSet<&str> = rows.iter().copied().collect();
    let listed_set: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let missing = listed.iter().filter(|entry| !rows.contains(entry.as_str())).cloned().collect();
    let stray = rows.iter().filter(|row| !listed_set.contains(**row)).map(|row| (*row).to_owned());
    (missing, stray.collect())
}

/// Every catalog entry has a row here, and every row is an entry of the catalog; prints the
/// entries per app.
#[test]
fn every_catalog_entry_has_a_row_and_every_row_an_entry() {
    let apps = Apps::builtin();
    let listed_actions: Vec<String> = actions(&apps).into_iter().map(|a| a.action).collect();
    let listed_triggers: Vec<String> = triggers(&apps).into_iter().map(|t| t.trigger).collect();
    let action_rows: Vec<&str> =
        all_actions().into_iter().chain(all_deletes()).map(|row| row.action).collect();
    let trigger_rows: Vec<&str> = all_triggers().into_iter().map(|row| row.trigger).collect();
    let mut problems = Vec::new();
    let (missing, stray) = compare(&listed_actions, &action_rows);
    for action in missing {
        problems.push(format!(
            "catalog action `{action}` is driven by no test: add a row for it to its app's actions in \
             crates/ghl-engine/tests/catalog_rows/ (its input, and the effect or output its \
             sandbox shows)"
        ));
    }
    for row in stray {
        problems.push(format!(
            "ACTIONS has a row for `{row}`, which the catalog does not list: remove the row \
             or correct its name"
        ));
    }
    let (missing, stray) = compare(&listed_triggers, &trigger_rows);
    for trigger in missing {
        problems.push(format!(
            "catalog trigger `{trigger}` is fired by no test: add a row for it to its app's triggers \
             in crates/ghl-engine/tests/catalog_rows/ (and an action row that makes its sandbox \
             send or show it)"
        ));
    }
    for row in stray {
        problems.push(format!(
            "TRIGGERS has a row for `{row}`, which the catalog does not list: remove the row \
             or correct its name"
        ));
    }
    let writes: BTreeSet<String> =
        actions(&apps).into_iter().filter(|a| a.writes).map(|a| a.action).collect();
    for row in all_actions().into_iter().chain(all_deletes()) {
        if writes.contains(row.action) && row.effect.is_none() {
            problems.push(format!(
                "`{}` writes, but its row names no effect its sandbox counts: add one",
                row.action
            ));
        }
    }
    for (rows, what) in [(&action_rows, "ACTIONS"), (&trigger_rows, "TRIGGERS")] {
        let mut seen = BTreeSet::new();
        for row in rows.iter().filter(|row| !seen.insert(**row)) {
            problems.push(format!("{what} has two rows for `{row}`: keep one"));
        }
    }
    assert!(problems.is_empty(), "the catalog and its tests disagree:\n{}", problems.join("\n"));
    println!("{}", counts(&listed_actions, &listed_triggers));
}

/// Entries per app: `highlevel: 37 actions, 15 triggers`, the engine's own under `engine`.
fn counts(actions: &[String], triggers: &[String]) -> String {
    let mut per_app: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let app_of = |entry: &str| {
        let name = entry.strip_prefix("poll: ").unwrap_or(entry);
        match name.split_once('.') {
            Some((app, _)) if !["util", "http"].contains(&app) => app.to_owned(),
            _ => "engine".to_owned(),
        }
    };
    for action in actions {
        per_app.entry(app_of(action)).or_default().0 += 1;
    }
    for trigger in triggers {
        per_app.entry(app_of(trigger)).or_default().1 += 1;
    }
    let mut lines = vec![format!(
        "catalog: {} actions, {} triggers, each with its row here",
        actions.len(),
        triggers.len()
    )];
    for (app, (actions, triggers)) in per_app {
        lines.push(format!("  {app}: {actions} actions, {triggers} triggers"));
    }
    lines.join("\n")
}

/// The flow a row's step runs in.
fn action_flow_name(row: &ActionRow) -> String {
    format!("catalog {}", row.action)
}

fn trigger_flow_name(row: &TriggerRow) -> String {
    // A flow name holds no `:` nor `/` (Qonto's events are `v1/clients.created`).
    format!("catalog trigger {}", row.trigger.replace(':', "").replace('/', "-"))
}

/// A flow run on demand whose one step is the row's action.
fn action_flow(row: &ActionRow) -> String {
    let input: serde_json::Map<String, Value> =
        row.input.iter().map(|(field, jq)| ((*field).to_owned(), Value::from(*jq))).collect();
    let mut step = json!({ "name": "step", "action": row.action, "input": input });
    if let Some(connection) = row.connection {
        step["connection"] = connection.into();
    }
    let flow = json!({
        "name": action_flow_name(row),
        "trigger": { "manual": true },
        "steps": [step],
    });
    serde_norway::to_string(&flow).expect("a flow as YAML")
}

/// A flow on the row's trigger whose one step logs `.trigger`.
fn trigger_flow(row: &TriggerRow) -> String {
    let trigger = match row.trigger {
        "manual" => json!({ "manual": true }),
        "schedule" => json!({ "schedule": "* * * * *" }),
        polled if polled.starts_with("poll: ") => {
            let source = &polled["poll: ".len()..];
            let (app, _) = source.split_once('.').expect("app.source");
            json!({ "poll": { "source": source, "connection": app, "every": "1m" } })
        }
        event => {
            let (app, event) = event.split_once('.').expect("app.event");
            json!({ "app": app, "event": event })
        }
    };
    let flow = json!({
        "name": trigger_flow_name(row),
        "trigger": trigger,
        "steps": [{
            "name": "log",
            "action": "util.log",
            "input": { "message": ".trigger | tojson" },
        }],
    });
    serde_norway::to_string(&flow).expect("a flow as YAML")
}

/// The manifest apps' sandboxes, stopped with the guard.
struct AppSandboxes {
    by_app: BTreeMap<String, AppSandbox>,
    stop: CancellationToken,
}

impl Drop for AppSandboxes {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl AppSandboxes {
    fn get(&self, app: &str) -> &AppSandbox {
        self.by_app.get(app).unwrap_or_else(|| panic!("no sandbox for `{app}`"))
    }

    fn credential(&self, app: &str, name: &str) -> String {
        let sandbox = self.get(app);
        let value = sandbox.info.credentials.get(name);
        value.unwrap_or_else(|| panic!("the `{app}` sandbox gives no `{name}`")).clone()
    }
}

/// The sandboxes' admin addresses, by app.
struct Admin {
    http: reqwest::Client,
    urls: BTreeMap<String, String>,
}

impl Admin {
    async fn stats(&self, app: &str) -> Value {
        let url = format!("{}/stats", self.urls.get(app).expect("an admin URL"));
        let answer = self.http.get(url).send().await.expect("stats");
        answer.json().await.expect("stats as JSON")
    }

    /// The sandbox changes records on the app's side (`POST /_sandbox/activity`).
    async fn activity(&self, app: &str) {
        let admin = self.urls.get(app).expect("an admin URL");
        let answer = self.http.post(format!("{admin}/activity")).send().await.expect("activity");
        assert!(answer.status().is_success(), "{app}: {}", answer.status());
    }

    async fn add_target(&self, app: &str, url: &str) {
        let admin = self.urls.get(app).expect("an admin URL");
        let answer =
            self.http.post(format!("{admin}/webhook-targets")).json(&json!({ "url": url }));
        let answer = answer.send().await.expect("a webhook target");
        assert!(answer.status().is_success(), "{app}: {}", answer.status());
    }

    /// Waits (bounded) until the sandbox of `app` delivered or gave up on every event it
    /// emitted; answers how many it delivered.
    async fn settled(&self, app: &str) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stats = self.stats(app).await;
            let count = |name: &str| stats["webhooks"][name].as_u64().unwrap_or_default();
            if count("delivered") + count("failed") >= count("emitted") {
                assert_eq!(count("failed"), 0, "{app} could not deliver webhooks: {stats}");
                return count("delivered");
            }
            assert!(Instant::now() < deadline, "{app}'s webhooks never settled: {stats}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `requests[operation]` answered 2xx, and `effects[effect]`, from a stats answer.
fn answered(stats: &Value, operation: &str) -> u64 {
    let Some(statuses) = stats["requests"][operation].as_object() else { return 0 };
    statuses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .map(|(_, count)| count.as_u64().unwrap_or_default())
        .sum()
}

fn effects(stats: &Value, effect: &str) -> u64 {
    stats["effects"][effect].as_u64().unwrap_or_default()
}

/// The ingest route the sandboxes deliver to: `POST /webhooks/{app}`, verified by the app's
/// own verifier and stored by the engine, as the server's route does.
fn ingest_routes(engine: Arc<Engine>) -> Router {
    async fn ingest(
        State(engine): State<Arc<Engine>>,
        Path(app): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let Some(verifier) = engine.apps().get(&app).and_then(|app| app.verifier()) else {
            return StatusCode::NOT_FOUND;
        };
        let inbound = Inbound::new(app, body.to_vec(), headers);
        let Ok(verified) = inbound.verify(verifier.as_ref(), chrono::Utc::now()) else {
            return StatusCode::UNAUTHORIZED;
        };
        match engine.ingest_webhook(verified).await {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    Router::new().route("/webhooks/{app}", post(ingest)).with_state(engine)
}

async fn credentials(
    store: &ghl_store::Store,
    name: &str,
    app: &'static str,
    values: &[(&str, String)],
    base_url: Option<String>,
) {
    let values = values.iter().map(|(key, value)| ((*key).to_owned(), value.clone())).collect();
    let auth = AuthSecret::Credentials { base_url, account: None, values };
    let secret = ConnectionSecret { app: AppId::from_static(app), auth };
    save(store, name, &secret, "").await.unwrap_or_else(|err| panic!("{name}: {err}"));
}

/// The connection of an app connected by the OAuth authorization code flow, made as
/// `connect` makes it against a sandbox, through the sandbox's real endpoints: its
/// authorization page (which approves at once and redirects with a code and the state), the
/// code exchanged at its token endpoint, and the API address the token answer gives where
/// the app gives one. `None` for an app connected otherwise.
async fn authorized(apps: &Apps, app: &str, sandbox: &AppSandbox) -> Option<AuthSecret> {
    let info = apps.get(app).expect("a built-in app").connect_info();
    if info.flow != ConnectFlow::AuthorizationCode {
        return None;
    }
    let base: url::Url = sandbox.info.base_url.parse().expect("the sandbox's address");
    let credential = |name: &str| sandbox.info.credentials.get(name).expect(name).clone();
    let registration = ghl_client::OAuthApp {
        client_id: credential("client_id"),
        client_secret: credential("client_secret").into(),
        authorize_url: base.join(&info.authorize_path).expect("the authorization page"),
        token_url: base.join(&info.token_path).expect("the token endpoint"),
        redirect_uri: "http://127.0.0.1:9/callback".parse().expect("a URL"),
        extra_form: info.token_form.clone(),
        options: info.oauth.clone(),
    };
    let scopes: Vec<&str> = info.base_scopes.iter().map(String::as_str).collect();
    let request = registration.authorization_request(&scopes);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let approved = browser.get(request.url.clone()).send().await.expect("the page answers");
    let back = approved.headers().get("location").expect("redirected back");
    let back: url::Url = back.to_str().expect("text").parse().expect("the callback address");
    let query = |name: &str| {
        let value = back.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value);
        value.expect(name).into_owned()
    };
    let tokens = registration
        .exchange_code(&browser, &request, &query("state"), &query("code"))
        .await
        .unwrap_or_else(|err| panic!("{app}: the code exchange: {err}"));
    let api = tokens.base_url.clone().unwrap_or_else(|| sandbox.info.base_url.clone());
    Some(AuthSecret::oauth(&api, &registration, tokens))
}

async fn runs_of(world: &World, flow: &str) -> Vec<RunSummary> {
    let filter = RunFilter { flow: Some(flow.to_owned()), limit: 1000, ..Default::default() };
    world.store.runs(&filter).await.expect("runs")
}

/// The output of the one step of a run that is done.
async fn output(world: &World, run: &RunSummary) -> Value {
    let steps = world.store.steps(&run.id).await.expect("steps");
    let done = steps.iter().rev().find(|step| step.step_index == 0);
    done.and_then(|step| step.response.clone()).unwrap_or(Value::Null)
}

/// Runs each row's flow on demand with `facts` as `.trigger`, and notes in `failures` each
/// row its sandbox does not show; keeps the facts rows name for later ones.
async fn drive(
    world: &World,
    admin: &Admin,
    rows: &[&ActionRow],
    facts: &mut Value,
    failures: &mut Vec<String>,
) {
    for row in rows {
        let served = row.served();
        let before = match served {
            Some((app, _)) => admin.stats(app).await,
            None => Value::Null,
        };
        let flow = action_flow_name(row);
        let outcome = world.engine.run_now(&flow, facts.clone(), None).await.expect("run now");
        assert!(matches!(outcome, IngestOutcome::Stored { .. }), "{outcome:?}");
        world.drain().await;
        let runs = runs_of(world, &flow).await;
        let Some(run) = runs.first() else {
            failures.push(format!("{}: no run", row.action));
            continue;
        };
        if run.status != RunStatus::Done {
            failures
                .push(format!("{}: the run is {:?}: {:?}", row.action, run.status, run.last_error));
            continue;
        }
        let answer = output(world, run).await;
        if let Some((app, operation)) = served {
            let after = admin.stats(app).await;
            if answered(&after, operation) <= answered(&before, operation) {
                failures.push(format!(
                    "{}: the {app} sandbox answered no `{operation}` with a 2xx: {}",
                    row.action, after["requests"]
                ));
            }
            if let Some(effect) = row.effect {
                if effects(&after, effect) <= effects(&before, effect) {
                    failures.push(format!(
                        "{}: the {app} sandbox counted no `{effect}`: {}",
                        row.action, after["effects"]
                    ));
                }
            }
        }
        if let Some(pointer) = row.output {
            if answer.pointer(pointer).is_none_or(Value::is_null) {
                failures.push(format!("{}: no `{pointer}` in its output {answer}", row.action));
            }
        }
        if let Some((name, pointer)) = row.keep {
            match answer.pointer(pointer) {
                Some(value) if !value.is_null() => facts[name] = value.clone(),
                _ => panic!("{}: no `{pointer}` to keep as `{name}` in {answer}", row.action),
            }
        }
    }
}

async fn every_entry(world: World) {
    // The manifest apps' sandboxes, with no rate limits (Slack's 1/s is kept by the engine),
    // sending a refused webhook again soon.
    let stop = CancellationToken::new();
    let config = |_: &str| {
        let mut config =
            AppSandboxConfig { rate_limits: Some(Vec::new()), ..AppSandboxConfig::default() };
        config.webhooks.retry_delay = REDELIVERY;
        config
    };
    let by_app = ghl_app_sandbox::start_builtin("127.0.0.1", config, stop.clone())
        .await
        .expect("the app sandboxes start");
    let sandboxes = AppSandboxes { by_app, stop };
    let mut admin_urls: BTreeMap<String, String> =
        sandboxes.by_app.iter().map(|(app, s)| (app.clone(), s.info.admin_url.clone())).collect();
    admin_urls.insert("highlevel".into(), format!("{}/_sandbox", world.sandbox.base_url));
    let admin = Admin { http: world.http.clone(), urls: admin_urls };

    // The engine: the built-in apps, HighLevel trusting its sandbox's webhook keys.
    let keys = &world.sandbox.webhook_public_keys;
    let keys = TrustedKeys::new(Some(&keys.ed25519), Some(&keys.rsa_pem)).expect("the keys");
    let apps = Apps::builtin().with(Arc::new(HighLevel::default().with_webhook_keys(keys)));
    let engine =
        Engine::with_config(world.store.clone(), EngineConfig { apps, ..support::quick_engine() });
    let world = World { engine, ..world };

    // Connections: HighLevel's is the world's; one per other app, and an `http` one.
    let store = &world.store;
    let your_app = sandboxes.get("your-app");
    let your_app_values = [
        ("api_key", sandboxes.credential("your-app", "api_key")),
        ("webhook_secret", sandboxes.credential("your-app", "webhook_secret")),
    ];
    credentials(
        store,
        "your-app",
        "your-app",
        &your_app_values,
        Some(your_app.info.base_url.clone()),
    )
    .await;
    credentials(store, "slack", "slack", &[("url", sandboxes.credential("slack", "url"))], None)
        .await;
    credentials(store, "teams", "teams", &[("url", sandboxes.credential("teams", "url"))], None)
        .await;
    let legacy = sandboxes.credential("teams", "legacy_url");
    credentials(store, "teams-legacy", "teams", &[("url", legacy)], None).await;
    let webhook = [
        ("url", sandboxes.credential("webhook", "url")),
        ("secret", sandboxes.credential("webhook", "secret")),
    ];
    credentials(store, "webhook", "webhook", &webhook, None).await;
    let token = &world.sandbox.private_integration_token;
    let http = HttpSecret {
        base_url: Some(world.sandbox.base_url.clone()),
        headers: [("Authorization".to_owned(), format!("Bearer {token}"))].into(),
    };
    save_http(store, HTTP_CONNECTION, &http).await.expect("the http connection");
    for rows in PARTNERS {
        let sandbox = sandboxes.get(rows.app);
        if let Some(auth) = authorized(world.engine.apps(), rows.app, sandbox).await {
            let secret = ConnectionSecret { app: AppId::from_static(rows.app), auth };
            save(store, rows.app, &secret, "").await.expect("the OAuth connection");
            continue;
        }
        let values = sandbox.info.credentials.clone();
        let base_url = Some(sandbox.info.base_url.clone());
        // The account the sandbox's operations take (Qonto's bank account), if any.
        let account = sandbox.info.account.clone();
        let auth = AuthSecret::Credentials { base_url, account, values };
        let secret = ConnectionSecret { app: AppId::from_static(rows.app), auth };
        save(store, rows.app, &secret, "")
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", rows.app));
    }
    world.engine.renew_verifiers().await;

    // The ingest route, and the sandboxes sending their webhooks to it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let ingest_url = format!("http://{}", listener.local_addr().expect("an address"));
    let server = axum::serve(listener, ingest_routes(world.engine.clone()));
    let server_stop = sandboxes.stop.clone();
    tokio::spawn(async move {
        let _ = server.with_graceful_shutdown(server_stop.cancelled_owned()).await;
    });
    let partners_with_webhooks = PARTNERS.iter().filter(|rows| {
        let manifest = &sandboxes.get(rows.app).shared.manifest;
        !manifest.triggers.webhooks.as_ref().is_none_or(|hooks| hooks.events.is_empty())
    });
    let webhook_apps: Vec<&str> = ["highlevel", "your-app"]
        .into_iter()
        .chain(partners_with_webhooks.map(|rows| rows.app))
        .collect();
    for app in webhook_apps.iter().copied() {
        admin.add_target(app, &format!("{ingest_url}/webhooks/{app}")).await;
    }

    // Every flow, then the schedule and the polls armed.
    for row in all_triggers() {
        let flow = trigger_flow(row);
        world.engine.apply_flow(&flow).await.unwrap_or_else(|err| panic!("{flow}\n{err}"));
    }
    for row in all_actions().into_iter().chain(all_deletes()) {
        let flow = action_flow(row);
        world.engine.apply_flow(&flow).await.unwrap_or_else(|err| panic!("{flow}\n{err}"));
    }
    let start = ghl_store::Timestamp::now();
    world.engine.fire_triggers(start).await.expect("armed");

    // The facts the rows start from.
    let location = &world.sandbox.location_id;
    let place = admin.http.get(format!("{}/locations/{location}", admin.urls["highlevel"]));
    let place: Value = place.send().await.expect("location").json().await.expect("JSON");
    let first = |field: &str| place[field][0].clone();
    let millis = |date: &str| {
        let time = chrono::DateTime::parse_from_rfc3339(date).expect("a date");
        time.timestamp_millis().to_string()
    };
    let mut facts = json!({
        "locationId": location,
        "calendarId": world.sandbox.calendar_id,
        "userId": first("users"),
        "campaignId": first("campaigns"),
        "workflowId": first("workflows"),
        "from": millis("2026-12-02T00:00:00Z"),
        "to": millis("2026-12-03T00:00:00Z"),
    });

    // Each action, run by the engine; its sandbox must show it. Then the schedule and the
    // polls fire, and the deletes run.
    // What the partner apps do on their side, not through their API (Qonto's card payments),
    // once the flows are there to run.
    for rows in PARTNERS {
        admin.activity(rows.app).await;
    }
    let mut failures = Vec::new();
    drive(&world, &admin, &all_actions(), &mut facts, &mut failures).await;
    world.engine.fire_triggers(start + Duration::from_secs(61)).await.expect("fired");
    drive(&world, &admin, &all_deletes(), &mut facts, &mut failures).await;
    assert!(failures.is_empty(), "actions not shown by their sandboxes:\n{}", failures.join("\n"));

    // The triggers: webhooks delivered, a manual run asked for.
    for app in webhook_apps {
        assert!(admin.settled(app).await > 0, "{app} delivered no webhook");
    }
    let manual = all_triggers().into_iter().find(|row| row.trigger == "manual").expect("manual");
    let asked = json!({ "asked": "by the test" });
    world.engine.run_now(&trigger_flow_name(manual), asked, None).await.expect("manual run");
    world.drain().await;
    for row in all_triggers() {
        let runs = runs_of(&world, &trigger_flow_name(row)).await;
        if runs.is_empty() {
            failures.push(format!("{}: no run (fired by {})", row.trigger, row.fired_by));
            continue;
        }
        for run in &runs {
            if run.status != RunStatus::Done {
                failures.push(format!(
                    "{}: a run is {:?}: {:?}",
                    row.trigger, run.status, run.last_error
                ));
                continue;
            }
            let logged = output(&world, run).await;
            let text = logged["message"].as_str().unwrap_or_default();
            let trigger: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if trigger.pointer(row.field).is_none_or(Value::is_null) {
                failures.push(format!(
                    "{}: no `{}` in its `.trigger` {trigger}",
                    row.trigger, row.field
                ));
            }
        }
    }
    assert!(failures.is_empty(), "triggers that did not run:\n{}", failures.join("\n"));
}
