//! What the integration tests of the binary share: starting the sandbox and reading its ready
//! line, running the binary against a store in a folder, checking a command's output, child
//! processes ended when dropped, waiting for a condition, connecting to the sandbox.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary built here.
pub const BINARY: &str = env!("CARGO_BIN_EXE_ghl-connector");

/// The flow the README and the demo use.
pub const WELCOME_FLOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/welcome.yaml");

/// A child process ended when dropped: killed, or (started with [`Running::in_group`]) sent
/// SIGTERM with the process group of its own it leads (a shell and what it runs).
pub struct Running {
    pub child: Child,
    group: bool,
}

impl Running {
    pub fn new(child: Child) -> Self {
        Self { child, group: false }
    }

    /// Starts `command` in a process group of its own, ended with its group when dropped.
    pub fn in_group(mut command: Command) -> Self {
        use std::os::unix::process::CommandExt;
        let child = command.process_group(0).spawn().expect("the command starts");
        Self { child, group: true }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.group {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The JSON line a sandbox prints once listening, read from the child's standard output.
pub fn ready_line(child: &mut Child) -> Value {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the ready line");
    serde_json::from_str(&line).expect("the ready line is JSON")
}

/// `ghl-connector sandbox` with `args`, stopped when dropped; answers its ready line.
pub fn sandbox(args: &[&str]) -> (Running, Value) {
    let mut child = Command::new(BINARY)
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let info = ready_line(&mut child);
    (Running::new(child), info)
}

/// The binary with `args` against the store in `dir` (`cli.db`, key file `cli.key`), with
/// nothing of the store or of a token taken from the environment.
pub fn store_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.join("cli.db").display()))
        .arg("--key-file")
        .arg(dir.join("cli.key"))
        .env_remove("GHL_CONNECTOR_MASTER_KEY")
        .env_remove("GHL_CONNECTOR_DATABASE_URL")
        .env_remove("GHL_CONNECTOR_TOKEN")
        .env_remove("GHL_CONNECTOR_BEARER_TOKEN");
    command
}

/// Runs the binary with `args` against the store in `dir` to its end.
pub fn engine_command(dir: &Path, args: &[&str]) -> Output {
    store_command(dir, args).output().expect("runs")
}

/// The standard output of a command that must succeed.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The message (standard error) of a command that must fail.
pub fn refused(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "it succeeded: stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Waits (up to a minute) until `check` holds.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A text field of the sandbox's ready line.
pub fn field<'a>(info: &'a Value, name: &str) -> &'a str {
    info[name].as_str().unwrap_or_else(|| panic!("{name} in the ready line"))
}

/// The arguments of `connect highlevel` with a private `token` to the sandbox of `info`.
pub fn connect_args<'a>(info: &'a Value, token: &'a str) -> [&'a str; 8] {
    [
        "connect",
        "highlevel",
        "--private-token",
        token,
        "--location-id",
        field(info, "location_id"),
        "--base-url",
        field(info, "base_url"),
    ]
}

/// `connect highlevel` with the sandbox's private integration token, for the store in `dir`.
pub fn connect_sandbox(dir: &Path, info: &Value) -> Output {
    engine_command(dir, &connect_args(info, field(info, "private_integration_token")))
}

/// A store of its own in a temporary folder, initialized (`ghl-connector init`).
pub fn new_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(engine_command(dir.path(), &["init"]));
    dir
}

/// A new store connected to the sandbox of `info` with its private integration token.
pub fn connected_store(info: &Value) -> tempfile::TempDir {
    let dir = new_store();
    ok(connect_sandbox(dir.path(), info));
    dir
}

/// Waits (up to 30 s) until the server at `url` answers `/healthz`.
pub async fn wait_healthy(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to `within`) until the server at `url` has no run queued, running or waiting
/// (a run waiting out a rate limit or a delay has not ended either); answers its
/// `ghl_runs{status=...}` metric lines.
pub async fn wait_runs_ended(http: &reqwest::Client, url: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let response = http.get(format!("{url}/metrics")).send().await.expect("metrics");
        let metrics = response.text().await.expect("text");
        let runs: Vec<String> =
            metrics.lines().filter(|line| line.starts_with("ghl_runs{")).map(Into::into).collect();
        let pending = runs.iter().any(|line| {
            ["queued", "running", "waiting"]
                .iter()
                .any(|status| line.starts_with(&format!("ghl_runs{{status=\"{status}\"}}")))
                && !line.ends_with(" 0")
        });
        if !pending {
            return runs;
        }
        assert!(Instant::now() < deadline, "runs did not finish: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `command` (a `connect` by the authorization code flow) and reads its output up to
/// the authorization address it prints; answers the child, the rest of its output, and the
/// address.
pub fn spawn_until_address(
    mut command: Command,
) -> (Child, BufReader<std::process::ChildStdout>, url::Url) {
    let mut child =
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("connect starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.starts_with("http") {
        line.clear();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "no authorization address printed");
    }
    (child, stdout, line.trim().parse().expect("an address"))
}
