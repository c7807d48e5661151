//! The store as the command line meets it: a wrong master key and an unreachable database are
//! refused at once with one message that says what to do; a connection HighLevel refuses is
//! not stored; `flows run` says when no server is running to execute what it queued.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ADMIN: &str = "store-test-admin-token";
/// A master key that is not the store's (32 bytes of 1, base64).
const OTHER_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ghl-connector sandbox` with `contacts` seeded; answers its ready line.
fn sandbox(contacts: usize) -> (Running, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .args(["sandbox", "--port", "0", "--contacts", &contacts.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a line");
    (Running(child), serde_json::from_str(&line).expect("the ready line is JSON"))
}

/// A folder of its own for a test's store and key file.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ghl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Self(dir)
    }

    fn database_url(&self) -> String {
        format!("sqlite:{}", self.0.join("store.db").display())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ghl-connector"));
        command
            .args(args)
            .args(["--database-url", &self.database_url()])
            .arg("--key-file")
            .arg(self.0.join("store.key"))
            .env_remove("GHL_CONNECTOR_MASTER_KEY")
            .env_remove("GHL_CONNECTOR_DATABASE_URL");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        finished(self.command(args))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The message of a command that must fail.
fn refused(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "it succeeded: {stderr}");
    stderr
}

fn connect(home: &Home, info: &Value, token: &str) -> Output {
    home.run(&[
        "connect",
        "highlevel",
        "--private-token",
        token,
        "--location-id",
        info["location_id"].as_str().expect("location"),
        "--base-url",
        info["base_url"].as_str().expect("base_url"),
    ])
}

fn connections(home: &Home) -> Value {
    serde_json::from_str(&ok(home.run(&["connections", "list", "--json"]))).expect("json")
}

#[test]
fn a_store_opened_with_another_master_key_is_refused_and_left_as_it_was() {
    let (_sandbox, info) = sandbox(0);
    let home = Home::new("wrong-key");
    ok(home.run(&["init"]));
    let token = info["private_integration_token"].as_str().expect("token");
    ok(connect(&home, &info, token));
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/welcome.yaml");
    ok(home.run(&["flows", "apply", flow]));

    for args in [
        vec!["connections", "list"],
        vec!["flows", "list"],
        vec!["serve", "--port", "0", "--admin-token", ADMIN],
    ] {
        let mut command = home.command(&args);
        command.env("GHL_CONNECTOR_MASTER_KEY", OTHER_KEY);
        let message = refused(finished(command));
        assert!(message.contains("the master key does not open the store"), "{args:?}: {message}");
        assert!(message.contains("Use the key the store was created with"), "{message}");
        assert!(!message.contains(OTHER_KEY), "{message}");
    }

    // With its own key everything is as it was.
    let listed = connections(&home);
    assert_eq!(listed[0]["status"], "connected", "{listed}");
    ok(home.run(&["connections", "test", "highlevel"]));
    assert!(ok(home.run(&["flows", "list"])).contains("welcome-new-contacts"));
}

#[test]
fn an_unreachable_database_fails_with_one_message_naming_its_address() {
    let home = Home::new("unreachable");
    ok(home.run(&["init"]));
    let missing = format!("sqlite:{}", home.path("no/such/folder/store.db").display());
    let nobody = "postgres://app:s3cret@127.0.0.1:9/test";
    for (url, names) in [
        (missing.as_str(), missing.clone()),
        (nobody, "postgres://app:[redacted]@127.0.0.1:9/test".to_owned()),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ghl-connector"));
        command
            .args(["connections", "list", "--database-url", url])
            .arg("--key-file")
            .arg(home.path("store.key"))
            .env_remove("GHL_CONNECTOR_MASTER_KEY");
        let message = refused(finished(command));
        assert_eq!(message.trim().lines().count(), 1, "one message: {message}");
        assert!(message.contains(&format!("cannot reach the database at {names}")), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

#[test]
fn a_connection_highlevel_refuses_is_not_stored() {
    let (_sandbox, info) = sandbox(0);
    let home = Home::new("refused");
    ok(home.run(&["init"]));
    let message = refused(connect(&home, &info, "not-a-token"));
    assert!(message.contains("access token is invalid"), "HighLevel's reason: {message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert_eq!(connections(&home), serde_json::json!([]), "no connection is listed");

    // A working connection stays as it was when new credentials for it are refused.
    let token = info["private_integration_token"].as_str().expect("token");
    let connected = ok(connect(&home, &info, token));
    assert!(connected.contains("learned the webhook keys of the sandbox"), "{connected}");
    refused(connect(&home, &info, "not-a-token"));
    let listed = connections(&home);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["status"], "connected", "{listed}");
    ok(home.run(&["connections", "test", "highlevel"]));
}

#[test]
fn flows_run_says_when_no_server_is_running_to_execute_it() {
    let (_sandbox, info) = sandbox(1);
    let home = Home::new("no-server");
    ok(home.run(&["init"]));
    let token = info["private_integration_token"].as_str().expect("token");
    ok(connect(&home, &info, token));
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/welcome.yaml");
    ok(home.run(&["flows", "apply", flow]));
    let contacts: Value = serde_json::from_str(&ok(home.run(&[
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
    ])))
    .expect("json");
    let contact = contacts["contacts"][0]["id"].as_str().expect("a seeded contact");
    let sample = home.path("sample.json");
    let record =
        serde_json::json!({ "type": "ContactCreate", "id": contact, "firstName": "Sample" });
    std::fs::write(&sample, record.to_string()).expect("write");
    let sample = sample.to_str().expect("path");
    let run = |key: &str| {
        ok(home.run(&["flows", "run", "welcome-new-contacts", "--sample", sample, "--key", key]))
    };
    let warning = "queued; no server is running against this store: start `ghl-connector serve` to execute it";
    let alone = run("first");
    assert!(alone.contains("queued run") && alone.contains(warning), "{alone}");

    let mut serve = home.command(&["serve", "--port", "0", "--admin-token", ADMIN]);
    let mut server = serve.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("serve");
    let stderr = server.stderr.take().expect("stderr");
    let _server = Running(server);
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
            serde_json::from_str(&ok(home.run(&["runs", "list", "--json"]))).expect("json");
        if runs[0]["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the queued run was not executed: {runs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let served = run("second");
    assert!(served.contains("queued run") && !served.contains("no server"), "{served}");
}
