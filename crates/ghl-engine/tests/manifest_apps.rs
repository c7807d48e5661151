//! Manifest apps in the engine, over real HTTP against their sandboxes (started in process
//! from the shipped manifests) on SQLite and PostgreSQL: the catalog lists every shipped app
//! with its operations; a connection stored with the sandbox's credentials works; a flow
//! step `your-app.create-contact` run by the engine makes exactly one record though every
//! answer of the create is lost after it took effect; a poll of `your-app.contacts` finds
//! the records; a wrong key is refused naming the app.

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_engine::apps::manifest::ManifestApp;
use ghl_engine::apps::{AppId, Apps};
use ghl_engine::connections::{save, AuthSecret, ConnectionSecret};
use ghl_engine::{Engine, EngineConfig};
use ghl_sandbox_kit::{FaultConfig, FaultRule};
use ghl_store::{RunFilter, RunStatus, StepStatus, Store};
use serde_json::{json, Value};
use support::World;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

on_both!(a_create_step_makes_one_record_though_its_answers_are_lost, create_exactly_once);
on_both!(a_poll_of_your_app_finds_its_new_records, poll_finds_records);
on_both!(a_wrong_key_is_refused_naming_the_app, wrong_key);
on_both!(a_message_whose_outcome_is_unknown_is_held_then_sent_on_replay, unknown_outcome_held);
on_both!(
    a_message_stopped_while_it_waited_for_its_rate_budget_is_sent_once_not_held,
    stopped_waiting_for_budget
);

const YOUR_APP: AppId = AppId::from_static("your-app");

/// The catalog lists every shipped manifest's app with its actions and triggers.
#[test]
fn the_catalog_lists_the_shipped_apps_with_their_operations() {
    let apps = Apps::builtin();
    let shipped = ghl_apps::builtin::MANIFESTS.iter().map(|(app, _)| *app);
    let expected: Vec<&str> = std::iter::once("highlevel").chain(shipped).collect();
    assert_eq!(apps.names(), expected);
    let actions: Vec<String> =
        ghl_engine::catalog::actions(&apps).into_iter().map(|action| action.action).collect();
    for expected in [
        "your-app.create-contact",
        "your-app.get-contact",
        "your-app.update-contact",
        "your-app.delete-contact",
        "your-app.list-contacts",
        "slack.post-message",
        "teams.post-adaptive-card",
        "teams.post-message-card",
        "webhook.send",
    ] {
        assert!(actions.iter().any(|action| action == expected), "{expected}: {actions:?}");
    }
    // HighLevel's location is the connection's: required by the API, not of a step.
    let entries = ghl_engine::catalog::actions(&apps);
    let create = entries.iter().find(|entry| entry.action == "highlevel.create-contact");
    let create = create.expect("HighLevel's create-contact");
    assert_eq!(create.filled_by_connection.as_deref(), Some("locationId"));
    let your_app = entries.iter().find(|entry| entry.action == "your-app.create-contact");
    assert_eq!(your_app.and_then(|entry| entry.filled_by_connection.clone()), None);
    let triggers: Vec<String> =
        ghl_engine::catalog::triggers(&apps).into_iter().map(|trigger| trigger.trigger).collect();
    assert!(triggers.iter().any(|trigger| trigger == "poll: your-app.contacts"), "{triggers:?}");
    assert!(triggers.iter().any(|trigger| trigger == "your-app.contact.created"), "{triggers:?}");
}

/// Your App's sandbox, stopped with the guard.
struct Sandbox {
    sandbox: AppSandbox,
    stop: CancellationToken,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn your_app_sandbox(config: AppSandboxConfig) -> Sandbox {
    app_sandbox("your-app", config).await
}

async fn app_sandbox(app: &str, config: AppSandboxConfig) -> Sandbox {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    let manifest = manifests.into_iter().find(|m| m.app == app).expect("shipped");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let stop = CancellationToken::new();
    let sandbox =
        AppSandbox::start(manifest, config, listener, stop.clone()).await.expect("it starts");
    Sandbox { sandbox, stop }
}

/// The engine of `world` with Your App retrying quickly, and a connection `your-app` to the
/// sandbox with `api_key`.
async fn engine_with_your_app(world: World, sandbox: &AppSandbox, api_key: &str) -> World {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests load");
    let manifest = manifests.into_iter().find(|m| m.app == "your-app").expect("shipped");
    let retry = ghl_client::RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_total: Duration::from_secs(30),
        request_timeout: Duration::from_secs(10),
    };
    let app = ManifestApp::new(Arc::new(manifest)).expect("its id").with_retry(retry);
    let apps = Apps::builtin().with(Arc::new(app));
    save_connection(&world.store, &sandbox.info.base_url, api_key).await;
    let engine =
        Engine::with_config(world.store.clone(), EngineConfig { apps, ..support::quick_engine() });
    World { engine, ..world }
}

async fn save_connection(store: &Store, base_url: &str, api_key: &str) {
    let auth = AuthSecret::Credentials {
        base_url: Some(base_url.to_owned()),
        account: None,
        values: [("api_key".to_owned(), api_key.to_owned())].into(),
    };
    let secret = ConnectionSecret { app: YOUR_APP, auth };
    save(store, "your-app", &secret, "").await.expect("connection");
}

fn api_key(sandbox: &AppSandbox) -> String {
    sandbox.info.credentials.get("api_key").expect("the sandbox gives an API key").clone()
}

fn records(sandbox: &AppSandbox) -> Vec<Value> {
    let rest = sandbox.shared.rest.as_ref().expect("a REST sandbox");
    rest.records("/contacts").into_iter().map(Value::Object).collect()
}

const CREATE_FLOW: &str = r#"name: your-app contact on demand
trigger:
  manual: true
steps:
  - name: contact
    action: your-app.create-contact
    connection: your-app
    input:
      name: .trigger.name
      email: .trigger.email
"#;

async fn create_exactly_once(world: World) {
    // Every create takes effect and its answer is lost: only the lookup by email tells.
    let lost = FaultRule { reset_after: 1.0, ..FaultRule::default() };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("create-contact".to_owned(), lost)].into(),
        },
        rate_limits: Some(Vec::new()),
        ..AppSandboxConfig::default()
    };
    let sandbox = your_app_sandbox(config).await;
    let world = engine_with_your_app(world, &sandbox.sandbox, &api_key(&sandbox.sandbox)).await;
    world.engine.connections().check("your-app").await.expect("the connection works");

    world.engine.apply_flow(CREATE_FLOW).await.expect("the flow applies");
    let input = json!({ "name": "Ada Lovelace", "email": "ada@example.com" });
    world.engine.run_now("your-app contact on demand", input, None).await.expect("run");
    world.drain().await;

    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Done, "{:?}", runs[0]);
    let stored = records(&sandbox.sandbox);
    assert_eq!(stored.len(), 1, "exactly one record: {stored:?}");
    let steps = world.store.steps(&runs[0].id).await.expect("steps");
    let answered = steps[0].response.as_ref().expect("an answer");
    assert_eq!(answered["id"], stored[0]["id"], "the step's answer is the record it made");
    assert_eq!(answered["email"], "ada@example.com");
}

const POLL_FLOW: &str = r#"name: your-app contacts
trigger:
  poll:
    source: your-app.contacts
    connection: your-app
    every: 1m
steps:
  - name: log
    action: util.log
    input:
      message: .trigger.name
"#;

async fn poll_finds_records(world: World) {
    let sandbox = your_app_sandbox(AppSandboxConfig {
        rate_limits: Some(Vec::new()),
        ..AppSandboxConfig::default()
    })
    .await;
    let world = engine_with_your_app(world, &sandbox.sandbox, &api_key(&sandbox.sandbox)).await;
    world.engine.apply_flow(POLL_FLOW).await.expect("the flow applies");
    let start = ghl_store::Timestamp::now();
    assert_eq!(world.engine.fire_triggers(start).await.expect("poll"), 0, "first sight arms");
    let client = world.engine.connections().client("your-app").await.expect("client");
    let create = world.engine.apps().operation("your-app.create-contact").expect("op");
    for name in ["Grace", "Alan"] {
        let input =
            json!({ "name": name, "email": format!("{}@example.com", name.to_lowercase()) });
        let (params, body) = client.request(&create.operation, input);
        client
            .call(&create.operation, &params, body.as_ref(), Default::default())
            .await
            .expect("created");
    }
    let later = start + Duration::from_secs(61);
    assert_eq!(world.engine.fire_triggers(later).await.expect("poll"), 2, "two new records");
    let again = start + Duration::from_secs(122);
    assert_eq!(world.engine.fire_triggers(again).await.expect("poll"), 0, "seen already");
    world.drain().await;
    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|run| run.status == RunStatus::Done), "{runs:?}");
}

async fn wrong_key(world: World) {
    let sandbox = your_app_sandbox(AppSandboxConfig::default()).await;
    let world = engine_with_your_app(world, &sandbox.sandbox, "not-the-key").await;
    let err = world.engine.connections().check("your-app").await.expect_err("a wrong key");
    let shown = err.to_string();
    assert!(shown.contains("your-app"), "names the app: {shown}");
    assert!(!shown.contains("not-the-key"), "never the key: {shown}");
}

/// A connection `slack` to the Slack sandbox's hook.
async fn connect_slack(store: &Store, slack: &AppSandbox) {
    let url = slack.info.credentials.get("url").expect("the hook's URL").clone();
    let auth = AuthSecret::Credentials {
        base_url: None,
        account: None,
        values: [("url".to_owned(), url)].into(),
    };
    let secret = ConnectionSecret { app: AppId::from_static("slack"), auth };
    save(store, "slack", &secret, "").await.expect("connection");
}

const SLACK_FLOW: &str = r#"name: tell slack
trigger:
  manual: true
steps:
  - name: tell
    action: slack.post-message
    connection: slack
    input:
      text: '"Hello " + .trigger.name'
"#;

/// A Slack post whose answer is lost after it took effect may have been posted: it is not
/// sent again on a guess (a twin message is worse than a gap). The step is `unknown`, the run
/// dead-lettered saying what to check; a replay, a person's decision, sends it again.
async fn unknown_outcome_held(world: World) {
    let lost = FaultRule { reset_after: 1.0, ..FaultRule::default() };
    let config = AppSandboxConfig {
        faults: FaultConfig {
            default: FaultRule::default(),
            operations: [("post-message".to_owned(), lost)].into(),
        },
        rate_limits: Some(Vec::new()),
        ..AppSandboxConfig::default()
    };
    let slack = app_sandbox("slack", config).await;
    connect_slack(&world.store, &slack.sandbox).await;
    world.engine.apply_flow(SLACK_FLOW).await.expect("the flow applies");
    world.engine.run_now("tell slack", json!({ "name": "Ada" }), None).await.expect("run");
    world.drain().await;

    let hooks = slack.sandbox.shared.messaging.as_ref().expect("a messaging sandbox");
    assert_eq!(hooks.posts().len(), 1, "posted once, its answer lost");
    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Dead, "held, not retried: {:?}", runs[0]);
    let error = runs[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("slack.post-message: outcome unknown"), "{error}");
    assert!(error.contains("check slack"), "says what to do: {error}");
    let steps = world.store.steps(&runs[0].id).await.expect("steps");
    assert_eq!(steps.last().map(|step| step.status), Some(StepStatus::Unknown), "{steps:?}");

    // A person checked Slack and replays the run: it is sent again.
    slack.sandbox.shared.faults.set(FaultConfig::default());
    assert!(world.store.replay(&runs[0].id).await.expect("replay"), "a dead run replays");
    world.drain().await;
    assert_eq!(hooks.posts().len(), 2, "the replay sent it again");
    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert_eq!(runs[0].status, RunStatus::Done, "{:?}", runs[0]);
}

/// Slack takes one message a second. A worker stopped (a kill, here its future dropped) while
/// the second message waits for that second has recorded nothing of it: the write's intent
/// is recorded only once the budget lets it go. So when the run is picked up again it is
/// sent, once; it is not held as a message whose outcome is unknown.
async fn stopped_waiting_for_budget(world: World) {
    let config = AppSandboxConfig { rate_limits: Some(Vec::new()), ..AppSandboxConfig::default() };
    let slack = app_sandbox("slack", config).await;
    connect_slack(&world.store, &slack.sandbox).await;
    let lease = Duration::from_secs(1);
    let engine =
        Engine::with_config(world.store.clone(), EngineConfig { lease, ..support::quick_engine() });
    let world = World { engine, ..world };
    world.engine.apply_flow(SLACK_FLOW).await.expect("the flow applies");
    world.engine.run_now("tell slack", json!({ "name": "Ada" }), None).await.expect("run");
    while world.engine.run_next().await.expect("run") {}
    world.engine.run_now("tell slack", json!({ "name": "Grace" }), None).await.expect("run");
    let stopped = tokio::time::timeout(Duration::from_millis(200), world.engine.run_next()).await;
    assert!(stopped.is_err(), "the second message waited for Slack's second: {stopped:?}");
    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    let waiting = runs.iter().find(|run| run.status == RunStatus::Running).expect("claimed");
    let steps = world.store.steps(&waiting.id).await.expect("steps");
    assert!(
        steps.iter().all(|step| step.status != StepStatus::Sending),
        "an intent was recorded before the budget let it go: {steps:?}"
    );

    // The lease runs out; the run is picked up and sends its message.
    world.drain().await;
    let hooks = slack.sandbox.shared.messaging.as_ref().expect("a messaging sandbox");
    assert_eq!(hooks.posts().len(), 2, "each message posted once");
    let runs =
        world.store.runs(&RunFilter { limit: 10, ..Default::default() }).await.expect("runs");
    assert!(runs.iter().all(|run| run.status == RunStatus::Done), "{runs:?}");
}
