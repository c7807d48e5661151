//! The templates end to end, as a user takes them: listed and installed through the REST API
//! (`/api/templates`), each slot filled by the connection of its app, then run by what
//! happens in the sandboxes: a contact added, changed and noted in HighLevel (its signed
//! webhooks to the server), an onboarding run asked for, a nightly pass fired; and what must
//! then be in the other sandboxes (Your App's records, Slack's and Teams' posts, HighLevel's
//! tasks and appointments), each exactly once. Then Your App failing a fifth of its
//! requests: every run completes or sits dead-lettered saying why, and a replay completes
//! them with no record made twice.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_sandbox::SandboxConfig;
use ghl_service::connect::SandboxAccess;
use ghl_store::{RunFilter, RunStatus, RunSummary, Store, Timestamp};
use ghl_testkit::{sqlite_store, TestDb};
use reqwest::Method;
use serde_json::{json, Value};
use support::{Options, Running};
use tokio_util::sync::CancellationToken;

/// The partner apps' sandboxes (stopped when dropped) beside the server and HighLevel's.
struct World {
    running: Running,
    apps: BTreeMap<String, AppSandbox>,
    stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The server on `store` with HighLevel's sandbox (no contacts), the app sandboxes (no rate
/// limits) and a connection to each, named as its app.
async fn world(store: Store) -> World {
    let sandbox = SandboxConfig { contacts: 0, ..SandboxConfig::default() };
    let running = support::start(store.clone(), Options { sandbox, ..Options::default() }).await;
    running.until_serving().await;
    let stop = CancellationToken::new();
    let config = |_: &str| AppSandboxConfig { rate_limits: Some(Vec::new()), ..Default::default() };
    let apps = ghl_app_sandbox::start_builtin("127.0.0.1", config, stop.clone())
        .await
        .expect("the app sandboxes start");
    for (app, sandbox) in &apps {
        let access = SandboxAccess {
            app: app.clone(),
            base_url: sandbox.info.base_url.parse().expect("the sandbox's address"),
            account: sandbox.info.account.clone(),
            credentials: sandbox.info.credentials.clone(),
        };
        let connections = running.service.connections();
        connections.connect_sandbox(app, &access).await.expect("a connection");
    }
    World { running, apps, stop }
}

impl World {
    async fn app_admin(&self, app: &str, path: &str) -> Value {
        let url = format!("{}{path}", self.apps[app].info.admin_url);
        let answer = self.running.http.get(url).send().await.expect("admin");
        answer.json().await.expect("JSON")
    }

    async fn your_app_contacts(&self) -> Vec<Value> {
        let records = self.app_admin("your-app", "/records/contacts").await;
        records["records"].as_array().cloned().unwrap_or_default()
    }

    async fn posts(&self, app: &str) -> Vec<String> {
        let posts = self.app_admin(app, "/posts").await;
        let posts = posts["posts"].as_array().cloned().unwrap_or_default();
        posts.iter().map(Value::to_string).collect()
    }

    /// A HighLevel contact as its sandbox keeps it: the contact, tasks, notes, appointments.
    async fn highlevel_contact(&self, id: &str) -> Value {
        let sandbox = &self.running.sandbox;
        let url = format!(
            "{}/_sandbox/locations/{}/contacts/{id}",
            sandbox.base_url, sandbox.location_id
        );
        let answer = self.running.http.get(url).send().await.expect("contact");
        answer.json().await.expect("JSON")
    }

    async fn install(&self, template: &str, body: Value) -> (u16, Value) {
        let path = format!("/templates/{template}/install");
        self.running.api(Method::POST, &path, Some(body)).await
    }

    async fn runs_of(&self, flow: &str) -> Vec<RunSummary> {
        let filter = RunFilter { flow: Some(flow.to_owned()), limit: 1000, ..Default::default() };
        self.running.runs(&filter).await
    }

    /// Waits (bounded) until no run is queued, running or waiting, and at least `runs` exist.
    async fn until_runs_ended(&self, runs: usize) -> Vec<RunSummary> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let all = self.running.all_runs().await;
            let busy = all.iter().any(|run| {
                matches!(run.status, RunStatus::Queued | RunStatus::Running | RunStatus::Waiting)
            });
            if !busy && all.len() >= runs {
                return all;
            }
            assert!(Instant::now() < deadline, "runs did not end: {all:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn full_name(record: &Value) -> String {
    record["name"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_template_installs_through_the_api_and_runs_from_one_sandbox_to_the_other() {
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    let running = &world.running;

    let (status, listed) = running.api(Method::GET, "/templates", None).await;
    assert_eq!(status, 200);
    // The templates between HighLevel, Your App, Slack and Teams (the partner apps' have
    // tests of their own below).
    let first_apps = ["highlevel", "your-app", "slack", "teams"];
    let templates = listed["templates"].as_array().expect("templates");
    let among_first = |template: &&Value| {
        let slots = template["connections"].as_object().expect("slots");
        slots.values().all(|slot| slot["app"].as_str().is_some_and(|app| first_apps.contains(&app)))
    };
    let names: Vec<&str> = templates
        .iter()
        .filter(among_first)
        .filter_map(|template| template["template"].as_str())
        .collect();
    for name in &names {
        let (status, installed) = world.install(name, json!({})).await;
        assert_eq!(status, 201, "{name}: {installed}");
        assert!(installed["flow"].is_string(), "{installed}");
    }
    assert!(names.len() >= 6, "{names:?}");
    // The nightly pass starts from now: its first poll sets where it starts.
    running.service.engine().fire_triggers(Timestamp::now()).await.expect("armed");

    // A person adds a contact in HighLevel, changes it, and notes it twice.
    let location = running.sandbox.location_id.clone();
    let ada = running
        .as_user(
            Method::POST,
            "contacts/",
            json!({ "locationId": location, "firstName": "Ada", "lastName": "Lovelace",
                    "email": "ada@example.com", "tags": ["lead"] }),
        )
        .await;
    let ada = ada["contact"]["id"].as_str().expect("Ada's id").to_owned();
    world.until_runs_ended(1).await;
    running.as_user(Method::PUT, &format!("contacts/{ada}"), json!({ "lastName": "Byron" })).await;
    for body in ["Called her: please follow up on Friday", "Sent the brochure"] {
        let note = json!({ "body": body });
        running.as_user(Method::POST, &format!("contacts/{ada}/notes"), note).await;
    }
    // Someone onboards a client by hand.
    let onboard = json!({ "trigger": {
        "locationId": location, "calendarId": running.sandbox.calendar_id,
        "firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com",
        "phone": "+1 202 555 0100", "introAt": "2026-12-08T10:00:00Z",
    }});
    let (status, queued) = running.api(Method::POST, "/flows/onboarding/run", Some(onboard)).await;
    assert_eq!(status, 202, "{queued}");
    world.until_runs_ended(5).await;
    // The night comes: every contact changed since the last pass goes to Your App.
    let night = Timestamp::now() + Duration::from_secs(25 * 3600);
    running.service.engine().fire_triggers(night).await.expect("fired");
    let runs = world.until_runs_ended(7).await;
    // Done, or skipped by a flow's filter (the note that asks for no follow-up).
    let ended_badly =
        |run: &&RunSummary| !matches!(run.status, RunStatus::Done | RunStatus::Skipped);
    let dead: Vec<&RunSummary> = runs.iter().filter(ended_badly).collect();
    assert!(dead.is_empty(), "runs that did not complete: {dead:?}");
    let skipped = world.runs_of("note-follow-up-task").await;
    let count = |status: RunStatus| skipped.iter().filter(|run| run.status == status).count();
    assert_eq!(
        (count(RunStatus::Done), count(RunStatus::Skipped)),
        (1, 1),
        "the note without a follow-up ran no step: {skipped:?}"
    );

    // contact-to-your-app and the nightly pass: one Your App record per HighLevel contact,
    // the nightly one bringing Ada's new name.
    let records = world.your_app_contacts().await;
    let by_external: BTreeMap<String, &Value> = records
        .iter()
        .filter_map(|record| Some((record["external_id"].as_str()?.to_owned(), record)))
        .collect();
    assert_eq!(records.len(), 2, "one record per contact: {records:?}");
    assert_eq!(full_name(by_external[&ada]), "Ada Byron", "{records:?}");
    let nightly = world.runs_of("nightly-contacts-to-your-app").await;
    assert_eq!(nightly.len(), 2, "one nightly run per changed contact: {nightly:?}");

    // contact-changes-to-slack and -teams: Ada's change told in both.
    assert!(world.posts("slack").await.iter().any(|post| post.contains("Ada Byron")));
    assert!(world.posts("teams").await.iter().any(|post| post.contains("Ada Byron")));

    // note-follow-up-task: one task, for the note that asks for it.
    let stored = world.highlevel_contact(&ada).await;
    let tasks = stored["tasks"].as_array().cloned().unwrap_or_default();
    let follow_ups: Vec<&Value> =
        tasks.iter().filter(|task| task["title"] == "Follow up").collect();
    assert_eq!(follow_ups.len(), 1, "{tasks:?}");
    assert!(follow_ups[0]["body"].as_str().is_some_and(|body| body.contains("Friday")));

    // onboarding: Grace's contact, her two tasks and her intro appointment.
    let grace = by_external
        .iter()
        .find(|(id, _)| **id != ada)
        .map(|(id, _)| id.clone())
        .expect("Grace in Your App");
    let stored = world.highlevel_contact(&grace).await;
    assert_eq!(stored["contact"]["firstName"], "Grace", "{stored}");
    assert_eq!(stored["tasks"].as_array().map(Vec::len), Some(2), "{stored}");
    assert_eq!(stored["appointmentIds"].as_array().map(Vec::len), Some(1), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_refuses_a_slot_it_lacks_a_connection_of_another_app_and_an_unknown_name() {
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    let (status, answer) = world.install("no-such-template", json!({})).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("note-follow-up-task")));
    let (status, answer) = world
        .install("contact-changes-to-slack", json!({ "connections": { "crm": "slack" } }))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("no connection `crm`")));
    let wrong = json!({ "connections": { "slack": "teams" } });
    let (status, answer) = world.install("contact-changes-to-slack", wrong).await;
    assert_eq!(status, 422, "{answer}");
    let (_, flows) = world.running.api(Method::GET, "/flows", None).await;
    assert_eq!(flows["flows"].as_array().map(Vec::len), Some(0), "nothing installed: {flows}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fifth_of_your_apps_requests_failing_every_contact_arrives_once_after_replay() {
    const CONTACTS: usize = 20;
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    let running = &world.running;
    let (status, answer) = world.install("contact-to-your-app", json!({})).await;
    assert_eq!(status, 201, "{answer}");
    world.fail_a_fifth("your-app").await;

    let location = running.sandbox.location_id.clone();
    for n in 0..CONTACTS {
        let contact = json!({ "locationId": location, "firstName": format!("Fault{n}") });
        running.as_user(Method::POST, "contacts/", contact).await;
    }
    let runs = world.until_runs_ended(CONTACTS).await;
    world.heal_and_replay(&["your-app"], &runs).await;
    let runs = world.until_runs_ended(CONTACTS).await;
    assert!(runs.iter().all(|run| run.status == RunStatus::Done), "{runs:?}");

    let records = world.your_app_contacts().await;
    let mut per_contact: BTreeMap<String, usize> = BTreeMap::new();
    for record in &records {
        *per_contact.entry(record["external_id"].to_string()).or_default() += 1;
    }
    assert_eq!(per_contact.len(), CONTACTS, "{records:?}");
    assert!(per_contact.values().all(|count| *count == 1), "a contact made twice: {per_contact:?}");
}

/// A fifth of requests failing, every kind of failure: 5xx before the work (retried), 429
/// (waited out), a connection reset before the work, and one after it (the answer lost:
/// a create must be looked up, not made twice).
const A_FIFTH: &str =
    r#"{"default": {"500": 0.05, "503": 0.03, "429": 0.02, "reset": 0.04, "reset_after": 0.06}}"#;

impl World {
    async fn set_faults(&self, app: &str, faults: Value) {
        let url = format!("{}/faults", self.apps[app].info.admin_url);
        let set = self.running.http.put(url).json(&faults).send().await.expect("faults");
        assert!(set.status().is_success(), "{app}: {}", set.status());
    }

    async fn fail_a_fifth(&self, app: &str) {
        self.set_faults(app, serde_json::from_str(A_FIFTH).expect("JSON")).await;
    }

    /// Ends the faults of `apps` (each of which must have injected some), then replays every
    /// dead run, whose error must name one of them, and waits for all runs to end done (or
    /// skipped by a filter).
    async fn heal_and_replay(&self, apps: &[&str], runs: &[RunSummary]) {
        for app in apps {
            let stats = self.app_admin(app, "/stats").await;
            let injected: u64 = stats["faults"]
                .as_object()
                .map_or(0, |faults| faults.values().filter_map(Value::as_u64).sum());
            assert!(injected > 0, "{app}: no fault was injected: {stats}");
            self.set_faults(app, json!({})).await;
        }
        for run in runs.iter().filter(|run| run.status == RunStatus::Dead) {
            let error = run.last_error.as_deref().unwrap_or_default();
            assert!(
                apps.iter().any(|app| error.contains(app)),
                "a dead run's error names the app: {run:?}"
            );
            let path = format!("/runs/{}/replay", run.id);
            let (status, answer) = self.running.api(Method::POST, &path, None).await;
            assert!(status < 300, "{answer}");
        }
        let runs = self.until_runs_ended(runs.len()).await;
        let bad = |run: &&RunSummary| !matches!(run.status, RunStatus::Done | RunStatus::Skipped);
        let bad: Vec<&RunSummary> = runs.iter().filter(bad).collect();
        assert!(bad.is_empty(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn highlevel_contacts_are_qonto_clients_created_then_updated_matched_by_email() {
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    let running = &world.running;
    let (status, answer) = world.install("contact-to-qonto-client", json!({})).await;
    assert_eq!(status, 201, "{answer}");
    let engine = running.service.engine();
    engine.fire_triggers(Timestamp::now()).await.expect("the poll starts from now");

    let location = running.sandbox.location_id.clone();
    let ada = json!({ "locationId": location, "firstName": "Ada", "lastName": "Lovelace",
                      "email": "ada@example.com" });
    let ada = running.as_user(Method::POST, "contacts/", ada).await;
    let ada = ada["contact"]["id"].as_str().expect("Ada's id").to_owned();
    let nameless = json!({ "locationId": location, "firstName": "No email" });
    running.as_user(Method::POST, "contacts/", nameless).await;
    let first_pass = Timestamp::now() + Duration::from_secs(6 * 60);
    engine.fire_triggers(first_pass).await.expect("polled");
    world.until_runs_ended(2).await;

    running.as_user(Method::PUT, &format!("contacts/{ada}"), json!({ "lastName": "Byron" })).await;
    engine.fire_triggers(first_pass + Duration::from_secs(6 * 60)).await.expect("polled again");
    let runs = world.until_runs_ended(3).await;
    let bad: Vec<&RunSummary> = runs
        .iter()
        .filter(|run| !matches!(run.status, RunStatus::Done | RunStatus::Skipped))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");

    let clients = world.app_admin("qonto", "/records/v2/clients").await;
    let clients: Vec<&Value> = clients["records"]
        .as_array()
        .expect("clients")
        .iter()
        .filter(|client| client["email"] == "ada@example.com")
        .collect();
    assert_eq!(clients.len(), 1, "one client for Ada, created then updated: {clients:?}");
    assert_eq!(clients[0]["last_name"], "Byron", "{clients:?}");
    assert_eq!(clients[0]["kind"], "individual");
}

impl World {
    async fn app_records(&self, app: &str, resource: &str) -> Vec<Value> {
        let records = self.app_admin(app, &format!("/records/{resource}")).await;
        records["records"].as_array().cloned().unwrap_or_default()
    }

    /// Runs that ended other than done or skipped by a filter.
    async fn ended_badly(&self, runs: usize) -> Vec<RunSummary> {
        let runs = self.until_runs_ended(runs).await;
        let bad = |run: &RunSummary| !matches!(run.status, RunStatus::Done | RunStatus::Skipped);
        runs.into_iter().filter(bad).collect()
    }
}

/// contact-to-qobrix and contact-status-to-qobrix-task: a HighLevel contact becomes one
/// Qobrix contact (its HighLevel id as the legacy id), and a change of its tags a Qobrix task
/// on that contact.
async fn qobrix_templates(store: Store) {
    let world = world(store).await;
    let running = &world.running;
    for template in ["contact-to-qobrix", "contact-status-to-qobrix-task"] {
        let (status, answer) = world.install(template, json!({})).await;
        assert_eq!(status, 201, "{template}: {answer}");
    }
    let location = running.sandbox.location_id.clone();
    let ada = json!({ "locationId": location, "firstName": "Ada", "lastName": "Lovelace",
                      "email": "ada@example.com" });
    let ada = running.as_user(Method::POST, "contacts/", ada).await;
    let ada = ada["contact"]["id"].as_str().expect("Ada's id").to_owned();
    let bad = world.ended_badly(1).await;
    assert!(bad.is_empty(), "{bad:?}");
    let tags = json!({ "tags": ["hot lead"] });
    running.as_user(Method::POST, &format!("contacts/{ada}/tags"), tags).await;
    let bad = world.ended_badly(2).await;
    assert!(bad.is_empty(), "{bad:?}");

    let contacts = world.app_records("qobrix", "contacts").await;
    let copied: Vec<&Value> =
        contacts.iter().filter(|contact| contact["legacy_id"] == ada.as_str()).collect();
    assert_eq!(copied.len(), 1, "one Qobrix contact for Ada: {contacts:?}");
    assert_eq!(copied[0]["email"], "ada@example.com");
    let tasks = world.app_records("qobrix", "tasks").await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["contact"], copied[0]["id"], "the task is on Ada's Qobrix contact");
    assert!(tasks[0]["subject"].as_str().is_some_and(|s| s.contains("hot lead")), "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_highlevel_contact_and_its_status_change_reach_qobrix_on_sqlite() {
    let (store, _db) = sqlite_store().await;
    qobrix_templates(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_highlevel_contact_and_its_status_change_reach_qobrix_on_postgres() {
    let db = TestDb::postgres().await;
    qobrix_templates(db.store().await).await;
}

/// The Nozbe templates: a client task in Nozbe becomes a HighLevel contact with a welcome
/// task, linked both ways; completing it in Nozbe completes the HighLevel task; a change of
/// the contact is told on the Nozbe task; a booked appointment becomes a Nozbe task due at
/// its start.
async fn nozbe_templates(store: Store) {
    let world = world(store).await;
    let running = &world.running;
    for template in [
        "nozbe-client-task-to-highlevel",
        "nozbe-task-done-to-highlevel",
        "contact-updates-to-nozbe-comment",
        "appointment-to-nozbe-task",
    ] {
        let (status, answer) = world.install(template, json!({})).await;
        assert_eq!(status, 201, "{template}: {answer}");
    }
    let engine = running.service.engine();
    let start = Timestamp::now();
    engine.fire_triggers(start).await.expect("the polls start from now");

    // Someone adds a client task in Nozbe.
    let nozbe = &world.apps["nozbe"].info;
    let token = nozbe.credentials["api_token"].clone();
    let call = |method: Method, path: &str, body: Value| {
        running
            .http
            .request(method, format!("{}{path}", nozbe.base_url))
            .header("Authorization", &token)
            .header("Api-Version", "current")
            .json(&body)
            .send()
    };
    let due = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let task = json!({ "name": "Client: Grace Hopper <grace@example.com>", "project_id": "task_me", "due_at": due });
    let task = call(Method::POST, "/tasks", task).await.expect("a Nozbe task");
    assert_eq!(task.status(), 201);
    let task: Value = task.json().await.expect("JSON");
    let task_id = task["id"].as_str().expect("its id").to_owned();
    engine.fire_triggers(start + Duration::from_secs(120)).await.expect("polled");
    let bad = world.ended_badly(2).await;
    assert!(bad.is_empty(), "{bad:?}");

    // The link: a comment on the Nozbe task names the HighLevel contact and task.
    let comments = world.app_records("nozbe", "comments").await;
    let link = comments
        .iter()
        .filter_map(|comment| comment["body"].as_str())
        .find(|body| body.starts_with("HighLevel contact "))
        .unwrap_or_else(|| panic!("no link comment: {comments:?}"))
        .to_owned();
    let grace = link["HighLevel contact ".len()..].split(',').next().expect("an id").to_owned();
    let stored = world.highlevel_contact(&grace).await;
    assert_eq!(stored["contact"]["email"], "grace@example.com", "{stored}");
    assert_eq!(stored["tasks"].as_array().map(Vec::len), Some(1), "one welcome task: {stored}");

    // Grace's task is done in Nozbe; her contact changes in HighLevel.
    let done = json!({ "ended_at": chrono::Utc::now().timestamp_millis() });
    let ended = call(Method::PUT, &format!("/tasks/{task_id}"), done).await.expect("done");
    assert!(ended.status().is_success(), "{}", ended.status());
    running
        .as_user(Method::PUT, &format!("contacts/{grace}"), json!({ "lastName": "Murray" }))
        .await;
    engine.fire_triggers(start + Duration::from_secs(240)).await.expect("polled again");
    let bad = world.ended_badly(5).await;
    assert!(bad.is_empty(), "{bad:?}");
    let stored = world.highlevel_contact(&grace).await;
    let tasks = stored["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 1, "still one welcome task: {stored}");
    assert_eq!(tasks[0]["completed"], true, "completed from Nozbe: {stored}");
    let comments = world.app_records("nozbe", "comments").await;
    let told = comments.iter().filter_map(|comment| comment["body"].as_str());
    assert_eq!(told.filter(|body| body.contains("Murray")).count(), 1, "{comments:?}");

    // An appointment booked in HighLevel.
    let appointment = json!({
        "calendarId": running.sandbox.calendar_id, "locationId": running.sandbox.location_id,
        "contactId": grace, "startTime": "2026-12-08T10:00:00.000Z",
        "endTime": "2026-12-08T10:30:00.000Z", "title": "Intro",
    });
    running.as_user(Method::POST, "calendars/events/appointments", appointment).await;
    let bad = world.ended_badly(6).await;
    assert!(bad.is_empty(), "{bad:?}");
    let tasks = world.app_records("nozbe", "tasks").await;
    let booked: Vec<&Value> =
        tasks.iter().filter(|task| task["name"] == "Appointment: Intro").collect();
    assert_eq!(booked.len(), 1, "{tasks:?}");
    let start_ms = chrono::DateTime::parse_from_rfc3339("2026-12-08T10:00:00Z")
        .expect("a time")
        .timestamp_millis();
    assert_eq!(booked[0]["due_at"], start_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nozbe_client_tasks_and_highlevel_contacts_follow_each_other_on_sqlite() {
    let (store, _db) = sqlite_store().await;
    nozbe_templates(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nozbe_client_tasks_and_highlevel_contacts_follow_each_other_on_postgres() {
    let db = TestDb::postgres().await;
    nozbe_templates(db.store().await).await;
}

impl World {
    /// A HighLevel contact added by a person, with `email`: its id.
    async fn add_contact(&self, first: &str, last: &str, email: &str) -> String {
        let location = &self.running.sandbox.location_id;
        let contact = json!({ "locationId": location, "firstName": first, "lastName": last,
                              "email": email });
        let added = self.running.as_user(Method::POST, "contacts/", contact).await;
        added["contact"]["id"].as_str().expect("the contact's id").to_owned()
    }

    async fn add_task(&self, contact: &str, title: &str) -> String {
        let task = json!({ "title": title, "body": "Call them back", "completed": false,
                           "dueDate": "2026-12-09T09:00:00.000Z" });
        let path = format!("contacts/{contact}/tasks");
        let added = self.running.as_user(Method::POST, &path, task).await;
        added["task"]["id"].as_str().expect("the task's id").to_owned()
    }

    async fn add_note(&self, contact: &str, body: &str) -> String {
        let path = format!("contacts/{contact}/notes");
        let added = self.running.as_user(Method::POST, &path, json!({ "body": body })).await;
        added["note"]["id"].as_str().expect("the note's id").to_owned()
    }

    async fn book(&self, contact: &str, title: &str) {
        let sandbox = &self.running.sandbox;
        let appointment = json!({
            "calendarId": sandbox.calendar_id, "locationId": sandbox.location_id,
            "contactId": contact, "startTime": "2026-12-08T10:00:00.000Z",
            "endTime": "2026-12-08T10:30:00.000Z", "title": title,
        });
        self.running.as_user(Method::POST, "calendars/events/appointments", appointment).await;
    }

    /// The records of `app`'s `resource` whose `field` is `value`.
    async fn records_where(
        &self,
        app: &str,
        resource: &str,
        field: &str,
        value: &str,
    ) -> Vec<Value> {
        let records = self.app_records(app, resource).await;
        records.into_iter().filter(|record| record[field] == value).collect()
    }
}

const BQE_TEMPLATES: [&str; 3] =
    ["contact-to-bqe-core", "task-to-bqe-activity", "note-to-bqe-client-memo"];

/// BQE CORE, connected by OAuth as a person connects it: a HighLevel contact becomes a client
/// named as the contact is, its task an activity coded by the task's id, and its notes lines
/// of the client's memo, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_highlevel_contact_its_tasks_and_notes_are_a_bqe_core_client_activities_and_memo() {
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    for template in BQE_TEMPLATES {
        let (status, answer) = world.install(template, json!({})).await;
        assert_eq!(status, 201, "{template}: {answer}");
    }
    let ada = world.add_contact("Ada", "Lovelace", "ada@example.com").await;
    let bad = world.ended_badly(1).await;
    assert!(bad.is_empty(), "{bad:?}");
    let task = world.add_task(&ada, "Send the engine notes").await;
    let first = world.add_note(&ada, "Met at the Analytical Society").await;
    let bad = world.ended_badly(3).await;
    assert!(bad.is_empty(), "{bad:?}");
    // The second note's write to the memo takes effect, but its answer is lost, every time
    // until the faults end: resent, BQE refuses the stale version (409 OutDatedModel).
    let lost = json!({ "operations": { "update-client": { "reset_after": 1.0 } } });
    world.set_faults("bqe-core", lost).await;
    let second = world.add_note(&ada, "Wants a quote by Friday").await;
    let runs = world.until_runs_ended(4).await;
    world.heal_and_replay(&["bqe-core"], &runs).await;

    let clients = world.records_where("bqe-core", "client", "name", "Ada Lovelace").await;
    assert_eq!(clients.len(), 1, "one client for Ada: {clients:?}");
    assert_eq!(clients[0]["email"], "ada@example.com");
    let memo = clients[0]["memo"].as_str().unwrap_or_default();
    assert!(memo.starts_with(&format!("HighLevel contact {ada}")), "{memo}");
    for (note, text) in
        [(&first, "Met at the Analytical Society"), (&second, "Wants a quote by Friday")]
    {
        let line = format!("HighLevel note {note}: {text}");
        assert_eq!(memo.matches(&line).count(), 1, "each note once in the memo: {memo}");
    }
    let code = format!("HL-{task}");
    let activities = world.records_where("bqe-core", "activity", "code", &code).await;
    assert_eq!(activities.len(), 1, "{activities:?}");
    assert_eq!(activities[0]["description"], "Send the engine notes");
    assert_eq!(activities[0]["billable"], true);
}

/// Every partner template that HighLevel's changes drive, with a fifth of each partner app's
/// requests failing: each run completes or is dead-lettered naming the app, and replaying the
/// dead ones leaves every record in each app exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fifth_of_each_partner_apps_requests_failing_every_record_arrives_once_after_replay()
{
    const CONTACTS: usize = 8;
    const PARTNERS: [&str; 4] = ["qobrix", "qonto", "nozbe", "bqe-core"];
    let (store, _db) = sqlite_store().await;
    let world = world(store).await;
    let templates = ["contact-to-qobrix", "contact-to-qonto-client", "appointment-to-nozbe-task"];
    for template in templates.into_iter().chain(BQE_TEMPLATES) {
        let (status, answer) = world.install(template, json!({})).await;
        assert_eq!(status, 201, "{template}: {answer}");
    }
    let engine = world.running.service.engine();
    let start = Timestamp::now();
    engine.fire_triggers(start).await.expect("Qonto's poll starts from now");
    for app in PARTNERS {
        world.fail_a_fifth(app).await;
    }

    let mut contacts = Vec::new();
    for n in 0..CONTACTS {
        let email = format!("fault{n}@example.com");
        let id = world.add_contact(&format!("Fault{n}"), "Tester", &email).await;
        contacts.push((id, email));
    }
    // Qonto's template polls: one pass after the contacts were added.
    engine.fire_triggers(start + Duration::from_secs(6 * 60)).await.expect("polled");
    // Each contact's BQE client exists before its notes are told (two runs creating one
    // client at the same moment could both find none).
    world.until_runs_ended(CONTACTS * 3).await;
    let mut children = Vec::new();
    for (n, (contact, _)) in contacts.iter().enumerate() {
        let task = world.add_task(contact, &format!("Task {n}")).await;
        let note = world.add_note(contact, &format!("Note {n}")).await;
        world.book(contact, &format!("Meeting {n}")).await;
        children.push((task, note));
    }
    let runs = world.until_runs_ended(CONTACTS * 6).await;
    world.heal_and_replay(&PARTNERS, &runs).await;

    for (n, ((contact, email), (task, note))) in contacts.iter().zip(&children).enumerate() {
        let copies = world.records_where("qobrix", "contacts", "legacy_id", contact).await;
        assert_eq!(copies.len(), 1, "Qobrix contacts for {contact}: {copies:?}");
        let clients = world.records_where("qonto", "v2/clients", "email", email).await;
        assert_eq!(clients.len(), 1, "Qonto clients for {email}: {clients:?}");
        let name = format!("Fault{n} Tester");
        let clients = world.records_where("bqe-core", "client", "name", &name).await;
        assert_eq!(clients.len(), 1, "BQE clients named {name}: {clients:?}");
        let memo = clients[0]["memo"].as_str().unwrap_or_default();
        let line = format!("HighLevel note {note}: Note {n}");
        assert_eq!(memo.matches(&line).count(), 1, "the note once in {name}'s memo: {memo}");
        let code = format!("HL-{task}");
        let activities = world.records_where("bqe-core", "activity", "code", &code).await;
        assert_eq!(activities.len(), 1, "BQE activities for task {task}: {activities:?}");
        let title = format!("Appointment: Meeting {n}");
        let tasks = world.records_where("nozbe", "tasks", "name", &title).await;
        assert_eq!(tasks.len(), 1, "Nozbe tasks for {title}: {tasks:?}");
    }
}
