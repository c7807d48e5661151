//! `kill -9` the server in the middle of a burst of webhooks; after a restart, every event the
//! server acknowledged has produced its effect exactly once (counted in the sandbox), on
//! SQLite and on PostgreSQL. The same with SIGTERM, where the server must also exit cleanly.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ghl_sandbox::{SandboxConfig, SandboxInfo};
use ghl_testkit::{TestDb, TestSandbox};
use serde_json::{json, Value};
use support::{
    connect_args, free_port, ok, wait_healthy, wait_runs_ended, Running, BINARY, WELCOME_FLOW,
};

const CONTACTS: usize = 2_000;
const KILL_AFTER: u64 = 400;
const ADMIN: &str = "crash-test-admin-token";

fn cli(database_url: &str, key: &str, args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .args(["--database-url", database_url, "--master-key", key])
        .output()
        .expect("runs")
}

fn serve(database_url: &str, key: &str, port: u16, ed25519: &str) -> Running {
    let child = Command::new(BINARY)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--admin-token",
            ADMIN,
            "--workers",
            "4",
            "--run-lease-secs",
            "5",
        ])
        .args([
            "--webhook-ed25519-key",
            ed25519,
            "--database-url",
            database_url,
            "--master-key",
            key,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    Running::new(child)
}

async fn json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.expect("request").json().await.expect("json")
}

/// How the server is stopped mid-burst.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// SIGKILL: no shutdown, no flush.
    Kill,
    /// SIGTERM: a graceful shutdown, which must exit with success.
    Terminate,
}

fn stop(mut server: Running, how: Stop) {
    if how == Stop::Kill {
        return drop(server);
    }
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            assert!(status.success(), "a graceful shutdown exits with success: {status}");
            return;
        }
        assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn crash_and_recover(database_url: String, how: Stop) {
    let key = ghl_store::MasterKey::generate().to_base64();
    let port = free_port();
    let server_url = format!("http://127.0.0.1:{port}");
    let mut config = SandboxConfig { contacts: 0, ..SandboxConfig::default() };
    config.webhooks.urls = vec![format!("{server_url}/webhooks/highlevel").parse().expect("url")];
    config.webhooks.timeout = Duration::from_secs(2);
    config.rate_limits.burst = 1_000_000;
    config.rate_limits.daily = u32::MAX;
    let running_sandbox = TestSandbox::start(config).await;
    let sandbox: SandboxInfo = running_sandbox.info.clone();

    let info = serde_json::to_value(&sandbox).expect("the ready line");
    let token = &sandbox.private_integration_token;
    ok(cli(&database_url, &key, &connect_args(&info, token)));
    ok(cli(&database_url, &key, &["flows", "apply", WELCOME_FLOW]));

    let http = reqwest::Client::new();
    let ed25519 = sandbox.webhook_public_keys.ed25519.clone();
    let server = serve(&database_url, &key, port, &ed25519);
    wait_healthy(&http, &server_url).await;

    // The burst: people add contacts; each emits a signed ContactCreate to the server.
    let burst = {
        let (http, base, location) =
            (http.clone(), sandbox.base_url.clone(), sandbox.location_id.clone());
        tokio::spawn(async move {
            for n in 0..CONTACTS {
                let body = json!({ "locationId": location, "firstName": format!("Crash{n}") });
                let url = format!("{base}/_sandbox/as-user/{location}/contacts/");
                http.post(url).json(&body).send().await.expect("create");
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = json(&http, format!("{}/_sandbox/stats", sandbox.base_url)).await;
        if stats["webhooks"]["delivered"].as_u64().unwrap_or(0) >= KILL_AFTER {
            break;
        }
        assert!(Instant::now() < deadline, "deliveries did not start: {stats}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop(server, how);
    burst.await.expect("burst");

    let _restarted = serve(&database_url, &key, port, &ed25519);
    wait_healthy(&http, &server_url).await;
    let runs = wait_runs_ended(&http, &server_url, Duration::from_secs(120)).await;

    let events = json(
        &http,
        format!("{}/_sandbox/webhooks?type=ContactCreate&limit=10000", sandbox.base_url),
    )
    .await;
    let events = events["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), CONTACTS);
    let acknowledged: Vec<&Value> =
        events.iter().filter(|event| event["delivered"] == true).collect();
    assert!(
        acknowledged.len() as u64 >= KILL_AFTER / 2,
        "some events were acknowledged before the kill"
    );
    assert!(acknowledged.len() < CONTACTS, "the kill did cut the burst");
    let mut with_task = 0;
    for event in &events {
        let id = event["payload"]["id"].as_str().expect("contact id");
        let stored = json(
            &http,
            format!(
                "{}/_sandbox/locations/{}/contacts/{id}",
                sandbox.base_url, sandbox.location_id
            ),
        )
        .await;
        let tasks = stored["tasks"].as_array().map_or(0, Vec::len);
        let notes = stored["notes"].as_array().map_or(0, Vec::len);
        assert!(tasks <= 1 && notes <= 1, "an effect applied twice for contact {id}: {stored}");
        if event["delivered"] == true {
            assert_eq!(
                (tasks, notes),
                (1, 1),
                "an acknowledged event lost its effect: contact {id}; runs by status: {runs:?}"
            );
        }
        with_task += tasks;
    }
    assert!(with_task >= acknowledged.len());
    drop(running_sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_and_repeats_nothing_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    crash_and_recover(format!("sqlite:{}", dir.path().join("crash.db").display()), Stop::Kill)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_exits_cleanly_and_loses_and_repeats_nothing_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("term.db").display());
    crash_and_recover(url, Stop::Terminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_and_repeats_nothing_on_postgres() {
    let db = TestDb::postgres().await;
    crash_and_recover(db.url.clone(), Stop::Kill).await;
}
