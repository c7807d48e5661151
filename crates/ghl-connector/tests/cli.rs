//! `ghl-connector sandbox` as a script uses it: one JSON line once listening, then HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a line");
    (Running(child), serde_json::from_str(&line).expect("the line is JSON"))
}

#[test]
fn sandbox_prints_one_json_line_with_everything_a_client_needs() {
    let (_running, info) = start(&["--port", "0", "--contacts", "7", "--locations", "2"]);
    for field in
        ["base_url", "location_id", "company_id", "private_integration_token", "calendar_id"]
    {
        assert!(info[field].as_str().is_some_and(|value| !value.is_empty()), "{field} in {info}");
    }
    for field in ["client_id", "client_secret", "authorize_url", "token_url"] {
        assert!(info["oauth"][field].is_string(), "oauth.{field}");
    }
    assert!(info["webhook_public_keys"]["rsa_pem"]
        .as_str()
        .is_some_and(|pem| pem.starts_with("-----BEGIN PUBLIC KEY-----")));
    assert!(info["webhook_public_keys"]["ed25519"]
        .as_str()
        .is_some_and(|key| key.starts_with("MCowBQYDK2VwAyEA")));
    assert_eq!(info["locations"].as_array().map(Vec::len), Some(2));

    let base = info["base_url"].as_str().expect("base_url");
    let location = info["location_id"].as_str().expect("location");
    let token = info["private_integration_token"].as_str().expect("token");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let body: Value = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/contacts/?locationId={location}&limit=100"))
            .bearer_auth(token)
            .header("Version", "2021-07-28")
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("json")
    });
    assert_eq!(body["contacts"].as_array().map(Vec::len), Some(7));
}

#[test]
fn bad_options_fail_with_a_message_and_non_zero_exit() {
    for args in [
        vec!["--fault-500", "1.5"],
        vec!["--rate-burst", "0"],
        vec!["--faults-json", "{\"default\":{\"x\":1}}"],
        vec!["--port", "notaport"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
            .arg("sandbox")
            .args(&args)
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?} says why");
        assert!(output.stdout.is_empty(), "{args:?} prints no JSON line");
    }
}

fn api(info: &Value, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .arg("api")
        .args(args)
        .args(["--base-url", info["base_url"].as_str().expect("base_url")])
        .args(["--token", info["private_integration_token"].as_str().expect("token")])
        .args(["--location-id", info["location_id"].as_str().expect("location")])
        .output()
        .expect("runs")
}

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn api_calls_any_operation_and_pages_through_lists() {
    let (_running, info) = start(&["--port", "0", "--contacts", "45"]);
    let page = stdout_json(&api(&info, &["get-contacts", "--param", "limit=10"]));
    assert_eq!(page["contacts"].as_array().map(Vec::len), Some(10));

    let all = stdout_json(&api(&info, &["get-contacts", "--param", "limit=10", "--all-pages"]));
    assert_eq!(all.as_array().map(Vec::len), Some(45));

    let created = stdout_json(&api(
        &info,
        &["create-contact", "--body", r#"{"firstName":"Cli","email":"cli@example.com"}"#],
    ));
    let id = created["contact"]["id"].as_str().expect("id");
    let body_file = std::env::temp_dir().join(format!("ghl-task-{}.json", std::process::id()));
    std::fs::write(
        &body_file,
        r#"{"title":"From a file","dueDate":"2026-12-01T10:00:00Z","completed":false}"#,
    )
    .expect("write");
    let task = stdout_json(&api(
        &info,
        &[
            "create-task",
            "--param",
            &format!("contactId={id}"),
            "--body",
            &format!("@{}", body_file.display()),
        ],
    ));
    assert_eq!(task["task"]["title"], "From a file");
    let _ = std::fs::remove_file(body_file);

    let searched = stdout_json(&api(
        &info,
        &["search-contacts-advanced", "--body", r#"{"pageLimit":20}"#, "--all-pages"],
    ));
    assert_eq!(searched.as_array().map(Vec::len), Some(46));
}

#[test]
fn api_failures_exit_non_zero_with_the_reason() {
    let (_running, info) = start(&["--port", "0", "--contacts", "1"]);
    let cases: [(&[&str], &str); 5] = [
        (&["get-everything"], "unknown operation"),
        (&["get-contact", "--param", "contactId=nope"], "not found"),
        (&["create-contact", "--body", "{not json"], "not valid JSON"),
        (&["update-contact", "--param", "contactId=x", "--param", "oops"], "NAME=VALUE"),
        (&["get-contact", "--all-pages", "--param", "contactId=x"], "--all-pages"),
    ];
    for (args, reason) in cases {
        let output = api(&info, args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn api_lists_every_operation() {
    let output = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .args(["api", "--list", "--json"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 37);
    assert!(lines
        .iter()
        .any(|op| op["operation"] == "search-contacts-advanced" && op["method"] == "POST"));
}

#[test]
fn demo_runs_the_template_flow_for_every_new_contact() {
    let output = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .args(["demo", "--exit-when-done", "--contacts", "6", "--seed-contacts", "10"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("6 tasks and 6 notes created by the flow"), "{stdout}");
    assert!(stdout.contains("0 runs dead-lettered"), "{stdout}");
}

fn json_contact(id: &str) -> Value {
    serde_json::json!({ "type": "ContactCreate", "id": id, "firstName": "Sample", "name": "Sample Person" })
}

fn engine_command(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .args(args)
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.join("cli.db").display()))
        .arg("--key-file")
        .arg(dir.join("cli.key"))
        .env_remove("GHL_CONNECTOR_MASTER_KEY")
        .output()
        .expect("runs")
}

/// The standard output of a command that must succeed.
fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn init_connect_apply_and_list_from_the_command_line() {
    let (_running, info) = start(&["--port", "0", "--contacts", "2"]);
    let dir = std::env::temp_dir().join(format!("ghl-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let no_key = engine_command(&dir, &["flows", "list"]);
    assert!(!no_key.status.success());
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("ghl-connector init"));
    ok(engine_command(&dir, &["init"]));
    assert!(!engine_command(&dir, &["init"]).status.success(), "a key is never overwritten");

    let token = info["private_integration_token"].as_str().expect("token");
    let location = info["location_id"].as_str().expect("location");
    let base = info["base_url"].as_str().expect("base");
    ok(engine_command(
        &dir,
        &[
            "connect",
            "highlevel",
            "--private-token",
            token,
            "--location-id",
            location,
            "--base-url",
            base,
        ],
    ));
    let listed = ok(engine_command(&dir, &["connections", "list"]));
    assert!(
        listed.contains("highlevel") && listed.contains("connected") && !listed.contains(token),
        "{listed}"
    );
    let database = std::fs::read(dir.join("cli.db")).expect("db");
    assert!(
        !database.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is not stored in the clear"
    );

    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/welcome.yaml");
    ok(engine_command(&dir, &["flows", "apply", flow]));
    assert!(ok(engine_command(&dir, &["flows", "list"])).contains("welcome-new-contacts"));
    let exported = dir.join("exported");
    ok(engine_command(&dir, &["flows", "export", exported.to_str().expect("path")]));
    let written =
        std::fs::read_to_string(exported.join("welcome-new-contacts.yaml")).expect("exported file");
    assert_eq!(
        written,
        std::fs::read_to_string(flow).expect("flow"),
        "export gives back the file as applied"
    );

    let bad = dir.join("bad.yaml");
    let text = std::fs::read_to_string(flow)
        .expect("flow")
        .replace("highlevel.create-note", "highlevel.create-nope");
    std::fs::write(&bad, text).expect("write");
    let refused = engine_command(&dir, &["flows", "apply", bad.to_str().expect("path")]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("line 18") && message.contains("unknown action"), "{message}");

    let catalog: Value =
        serde_json::from_str(&ok(engine_command(&dir, &["catalog", "--json"]))).expect("json");
    assert_eq!(catalog["actions"].as_array().map(Vec::len), Some(41));
    assert_eq!(catalog["triggers"].as_array().map(Vec::len), Some(17));

    // The test feature: a dry run shows the writes without sending them; a real one sends them.
    let contacts = stdout_json(&api(&info, &["get-contacts", "--param", "limit=1"]));
    let contact = contacts["contacts"][0]["id"].as_str().expect("a seeded contact");
    let dry = ok(engine_command(&dir, &["test", flow, "--contact", contact, "--dry-run"]));
    assert!(dry.contains("dry run: not sent") && dry.contains("create-task"), "{dry}");
    let tasks = |info: &Value| -> usize {
        let answer =
            stdout_json(&api(info, &["get-all-tasks", "--param", &format!("contactId={contact}")]));
        answer["tasks"].as_array().map_or(0, Vec::len)
    };
    let before = tasks(&info);
    let sample = dir.join("sample.json");
    std::fs::write(&sample, serde_json::to_vec(&json_contact(contact)).expect("json"))
        .expect("write");
    let real = ok(engine_command(
        &dir,
        &["test", "welcome-new-contacts", "--sample", sample.to_str().expect("path"), "--json"],
    ));
    let steps: Value = serde_json::from_str(&real).expect("json report");
    assert_eq!(steps.as_array().map(Vec::len), Some(2));
    assert!(steps[0]["response"]["task"]["id"].is_string(), "{steps}");
    assert_eq!(tasks(&info), before + 1, "the real test run created its task");

    // A manual run is queued once per key, and listed.
    let path = sample.to_str().expect("path");
    let run = ["flows", "run", "welcome-new-contacts", "--sample", path, "--key", "k1"];
    assert!(ok(engine_command(&dir, &run)).contains("queued run"));
    assert!(ok(engine_command(&dir, &run)).contains("already run"));
    let runs = ok(engine_command(&dir, &["runs", "list"]));
    assert_eq!(runs.lines().filter(|line| line.contains("queued")).count(), 1, "{runs}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `connect highlevel` by OAuth with `extra` arguments, approved in the sandbox's
/// authorization page; answers the scopes it asked for.
fn connect_by_oauth(info: &Value, dir: &Path, extra: &[&str]) -> String {
    let oauth = &info["oauth"];
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .args(["connect", "highlevel", "--timeout-secs", "30"])
        .args(extra)
        .args([
            "--client-id",
            &text(&oauth["client_id"]),
            "--client-secret",
            &text(&oauth["client_secret"]),
        ])
        .args([
            "--authorize-url",
            &text(&oauth["authorize_url"]),
            "--token-url",
            &text(&oauth["token_url"]),
        ])
        .args(["--base-url", &text(&info["base_url"])])
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.join("cli.db").display()))
        .arg("--key-file")
        .arg(dir.join("cli.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("connect starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.starts_with("http") {
        line.clear();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "no authorization address printed");
    }
    let authorize: url::Url = line.trim().parse().expect("an address");
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    let mut form: Vec<(String, String)> = ["client_id", "redirect_uri", "scope", "state"]
        .iter()
        .map(|k| (k.to_string(), query[*k].clone()))
        .collect();
    form.push(("location_id".into(), text(&info["location_id"])));
    // The user approves; the browser follows the redirect to the local callback.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let landed = runtime.block_on(async {
        reqwest::Client::new()
            .post(authorize.as_str().split('?').next().expect("base"))
            .form(&form)
            .send()
            .await
            .expect("approve")
    });
    assert_eq!(landed.status(), 200);
    let status = child.wait().expect("connect ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains(&format!("to HighLevel location {}", text(&info["location_id"]))),
        "{rest}"
    );
    query["scope"].clone()
}

#[test]
fn connect_by_oauth_read_only_widen_when_a_flow_writes_and_reconnect_when_revoked() {
    let (_running, info) = start(&["--port", "0", "--contacts", "2"]);
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    let dir = std::env::temp_dir().join(format!("ghl-oauth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    assert!(engine_command(&dir, &["init"]).status.success());
    assert_eq!(connect_by_oauth(&info, &dir, &[]), "contacts.readonly", "read-only by default");
    let listed =
        String::from_utf8_lossy(&engine_command(&dir, &["connections", "list", "--json"]).stdout)
            .into_owned();
    let connections: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(connections[0]["auth_kind"], "oauth");
    assert_eq!(connections[0]["scopes"], "contacts.readonly");

    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/welcome.yaml");
    let refused = engine_command(&dir, &["flows", "apply", flow]);
    assert!(!refused.status.success(), "a writing flow needs a connection that may write");
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(message.contains("--name highlevel --scope contacts.write"), "{message}");

    let widened = connect_by_oauth(&info, &dir, &["--scope", "contacts.write"]);
    assert_eq!(widened, "contacts.readonly contacts.write");
    assert!(engine_command(&dir, &["flows", "apply", flow]).status.success());
    assert!(engine_command(&dir, &["connections", "test", "highlevel"]).status.success());

    // The location revokes the app: the connection shows it needs reconnecting.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let revoke = format!(
        "{}/_sandbox/locations/{}/revoke-tokens",
        text(&info["base_url"]),
        text(&info["location_id"])
    );
    runtime.block_on(async { reqwest::Client::new().post(revoke).send().await.expect("revoke") });
    let sample = dir.join("sample.json");
    std::fs::write(&sample, r#"{"type":"ContactCreate","id":"nobody","firstName":"Ada"}"#)
        .expect("sample");
    let failed = engine_command(
        &dir,
        &["test", "welcome-new-contacts", "--sample", sample.to_str().expect("path")],
    );
    assert!(!failed.status.success());
    let shown = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert!(shown.contains("needs reconnecting"), "{shown}");
    let listed = ok(engine_command(&dir, &["connections", "list"]));
    assert!(listed.contains("reconnect_needed"), "{listed}");

    // Connected again, it asks for what its flows need without being told.
    assert_eq!(connect_by_oauth(&info, &dir, &[]), "contacts.readonly contacts.write");
    let listed = ok(engine_command(&dir, &["connections", "list"]));
    assert!(listed.contains(" connected"), "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_come_from_a_config_file_after_flags_and_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ghl-connector.toml");
    let database = dir.path().join("from-file.db");
    let key = dir.path().join("from-file.key");
    let text = format!(
        "database_url = \"sqlite:{}\"\nkey_file = \"{}\"\n",
        database.display(),
        key.display()
    );
    std::fs::write(&config, text).expect("config");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("GHL_CONNECTOR_DATABASE_URL")
            .env_remove("GHL_CONNECTOR_KEY_FILE")
            .output()
            .expect("runs")
    };
    ok(run(&["init"]));
    assert!(key.exists(), "the key file is where the config file says");
    ok(run(&["flows", "list"]));
    assert!(database.exists(), "the store is where the config file says");

    std::fs::write(&config, "database_ur = \"sqlite:x.db\"\n").expect("config");
    let refused = run(&["flows", "list"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(message.contains("unknown setting `database_ur`"), "{message}");
}

#[test]
fn output_to_a_reader_that_has_gone_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ghl-connector"))
        .arg("catalog")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("catalog starts");
    drop(child.stdout.take()); // `| head` that has read enough: the pipe is closed.
    let output = child.wait_with_output().expect("catalog ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `flows apply` takes files and folders and applies every file it can; the shapes that used
/// to overflow the stack (1,000 nested parentheses, 2,000 `+` or `|`) and deep YAML are refused
/// with the file, the line, the field and the limit, and the command fails.
#[test]
fn flows_apply_takes_folders_and_refuses_pathological_flows_by_name() {
    let (_running, info) = start(&["--port", "0", "--contacts", "0"]);
    let dir = tempfile_dir("ghl-cli-apply");
    ok(engine_command(&dir, &["init"]));
    let (token, location, base) = (
        info["private_integration_token"].as_str().expect("token"),
        info["location_id"].as_str().expect("location"),
        info["base_url"].as_str().expect("base"),
    );
    let connect = ["connect", "highlevel", "--private-token", token, "--location-id", location];
    ok(engine_command(&dir, &[&connect[..], &["--base-url", base]].concat()));

    let flows = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows");
    let examples = format!("{flows}/examples");
    let welcome = format!("{flows}/welcome.yaml");
    let applied = ok(engine_command(&dir, &["flows", "apply", &welcome, &examples]));
    assert_eq!(applied.lines().filter(|line| line.starts_with("applied")).count(), 3, "{applied}");

    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).expect("dir");
    let text = std::fs::read_to_string(&welcome).expect("flow");
    let due = |jq: String| {
        text.replace("name: welcome-new-contacts", "name: pathological")
            .replace("dueDate: (now + 86400 | todate)", &format!("dueDate: '{jq}'"))
    };
    let files = [
        ("1-parens.yaml", due(format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000)))),
        ("2-plus.yaml", due(format!("1{}", "+1".repeat(2_000)))),
        ("3-pipes.yaml", due(format!(".{}", "|.".repeat(2_000)))),
        (
            "4-deep.yaml",
            format!("name: deep\nsteps: {}1{}\n", "[".repeat(4_000), "]".repeat(4_000)),
        ),
        ("5-good.yaml", text.replace("name: welcome-new-contacts", "name: good")),
        ("notes.txt", "not a flow".into()),
    ];
    for (name, text) in &files {
        std::fs::write(bad.join(name), text).expect("write");
    }
    let refused = engine_command(&dir, &["flows", "apply", bad.to_str().expect("path")]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for (file, said) in [
        ("1-parens.yaml", "line 15: step `welcome task`, dueDate: brackets nest more than 32"),
        ("2-plus.yaml", "line 15: step `welcome task`, dueDate: more than 100 operators"),
        ("3-pipes.yaml", "line 15: step `welcome task`, dueDate: more than 100 operators"),
        ("4-deep.yaml", "line 2: the YAML nests more than 24 levels deep"),
    ] {
        assert!(
            stderr.lines().any(|line| line.contains(file) && line.contains(said)),
            "{file}: {said}\n{stderr}"
        );
    }
    assert!(stderr.contains("4 of 5 flow files refused"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("overflow"), "{stderr}");
    let listed = ok(engine_command(&dir, &["flows", "list"]));
    assert!(listed.contains("good") && !listed.contains("pathological"), "{listed}");

    let exported = dir.join("exported");
    let written = ok(engine_command(&dir, &["flows", "export", exported.to_str().expect("path")]));
    assert_eq!(written.lines().count(), 4, "{written}");
    ok(engine_command(&dir, &["flows", "apply", exported.to_str().expect("path")]));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}
