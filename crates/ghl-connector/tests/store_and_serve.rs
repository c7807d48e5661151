//! The store as the command line meets it: a wrong master key and an unreachable database are
//! refused at once with one message that says what to do; a connection HighLevel refuses is
//! not stored; `flows run` says when no server is running to execute what it queued.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    connect_args, connected_store, new_store, ok, refused, sandbox, store_command, Running,
    WELCOME_FLOW,
};

const ADMIN: &str = "store-test-admin-token";
/// A master key that is not the store's (32 bytes of 1, base64).
const OTHER_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// Runs the binary with `args` against the store in `dir`, to its end.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    finished(store_command(dir, args))
}

/// Runs a command to its end; one that would not end (a server that started when it should
/// have refused) is killed after a minute and fails the test.
fn finished(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the command did not end");
        }
    }
}

fn connections(home: &Path) -> Value {
    serde_json::from_str(&ok(run_in(home, &["connections", "list", "--json"]))).expect("json")
}

#[test]
fn a_store_opened_with_another_master_key_is_refused_and_left_as_it_was() {
    let (_sandbox, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let home = connected_store(&info);
    let home = home.path();
    let flow = WELCOME_FLOW;
    ok(run_in(home, &["flows", "apply", flow]));

    for args in [
        vec!["connections", "list"],
        vec!["flows", "list"],
        vec!["serve", "--port", "0", "--admin-token", ADMIN],
    ] {
        let mut command = store_command(home, &args);
        command.env("GHL_CONNECTOR_MASTER_KEY", OTHER_KEY);
        let message = refused(finished(command));
        assert!(message.contains("the master key does not open the store"), "{args:?}: {message}");
        assert!(message.contains("Use the key the store was created with"), "{message}");
        assert!(!message.contains(OTHER_KEY), "{message}");
    }

    // With its own key everything is as it was.
    let listed = connections(home);
    assert_eq!(listed[0]["status"], "connected", "{listed}");
    ok(run_in(home, &["connections", "test", "highlevel"]));
    assert!(ok(run_in(home, &["flows", "list"])).contains("welcome-new-contacts"));
}

#[test]
fn an_unreachable_database_fails_with_one_message_naming_its_address() {
    let home = new_store();
    let home = home.path();
    let missing = format!("sqlite:{}", home.join("no/such/folder/store.db").display());
    let nobody = "postgres://app:s3cret@127.0.0.1:9/test";
    for (url, names) in [
        (missing.as_str(), missing.clone()),
        (nobody, "postgres://app:[redacted]@127.0.0.1:9/test".to_owned()),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ghl-connector"));
        command
            .args(["connections", "list", "--database-url", url])
            .arg("--key-file")
            .arg(home.join("cli.key"))
            .env_remove("GHL_CONNECTOR_MASTER_KEY");
        let message = refused(finished(command));
        assert_eq!(message.trim().lines().count(), 1, "one message: {message}");
        assert!(message.contains(&format!("cannot reach the database at {names}")), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

#[test]
fn a_connection_highlevel_refuses_is_not_stored() {
    let (_sandbox, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let home = new_store();
    let home = home.path();
    let message = refused(run_in(home, &connect_args(&info, "not-a-token")));
    assert!(message.contains("access token is invalid"), "HighLevel's reason: {message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert_eq!(connections(home), serde_json::json!([]), "no connection is listed");

    // A working connection stays as it was when new credentials for it are refused.
    let token = info["private_integration_token"].as_str().expect("token");
    let connected = ok(run_in(home, &connect_args(&info, token)));
    assert!(connected.contains("learned the webhook keys of the sandbox"), "{connected}");
    refused(run_in(home, &connect_args(&info, "not-a-token")));
    let listed = connections(home);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["status"], "connected", "{listed}");
    ok(run_in(home, &["connections", "test", "highlevel"]));
}

#[test]
fn flows_run_says_when_no_server_is_running_to_execute_it() {
    let (_sandbox, info) = sandbox(&["--port", "0", "--contacts", "1"]);
    let home = connected_store(&info);
    let home = home.path();
    let token = info["private_integration_token"].as_str().expect("token");
    let flow = WELCOME_FLOW;
    ok(run_in(home, &["flows", "apply", flow]));
    let contacts: Value = serde_json::from_str(&ok(run_in(
        home,
        &[
            "api",
            "get-contacts",
            "--param",
            "limit=1",
            "--base-url",
            info["base_url"].as_str().expect("base_url"),
            "--token",
            token,
            "--location-id",
            info["location_id"].as_str().expect("location"),
        ],
    )))
    .expect("json");
    let contact = contacts["contacts"][0]["id"].as_str().expect("a seeded contact");
    let sample = home.join("sample.json");
    let record =
        serde_json::json!({ "type": "ContactCreate", "id": contact, "firstName": "Sample" });
    std::fs::write(&sample, record.to_string()).expect("write");
    let sample = sample.to_str().expect("path");
    let run = |key: &str| {
        ok(run_in(
            home,
            &["flows", "run", "welcome-new-contacts", "--sample", sample, "--key", key],
        ))
    };
    let warning = "queued; no server is running against this store: start `ghl-connector serve` to execute it";
    let alone = run("first");
    assert!(alone.contains("queued run") && alone.contains(warning), "{alone}");

    let mut serve = store_command(home, &["serve", "--port", "0", "--admin-token", ADMIN]);
    let mut server = serve.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("serve");
    let stderr = server.stderr.take().expect("stderr");
    let _server = Running::new(server);
    // Read its log to the end (so it never writes to a closed pipe); say when it serves.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving on") {
                let _ = sender.send(());
            }
        }
    });
    receiver.recv_timeout(Duration::from_secs(30)).expect("serve started");
    // The server executes the run queued before it started.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs: Value =
            serde_json::from_str(&ok(run_in(home, &["runs", "list", "--json"]))).expect("json");
        if runs[0]["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the queued run was not executed: {runs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let served = run("second");
    assert!(served.contains("queued run") && !served.contains("no server"), "{served}");
}
