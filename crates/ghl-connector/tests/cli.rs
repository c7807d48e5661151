//! `ghl-connector sandbox` as a script uses it: one JSON line once listening, then HTTP.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use ghl_testkit::TestDb;
use serde_json::Value;
use support::{
    connect_sandbox, connected_store, engine_command, new_store, ok, refused, sandbox,
    spawn_until_address, store_command, wait_for, Running, BINARY, WELCOME_FLOW,
};

#[test]
fn sandbox_prints_one_json_line_with_everything_a_client_needs() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "7", "--locations", "2"]);
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
    for app in ["your-app", "slack", "teams", "webhook"] {
        let base_url = info["apps"][app]["base_url"].as_str().unwrap_or_default();
        assert!(base_url.starts_with("http://127.0.0.1:"), "apps.{app}.base_url in {info}");
    }
    let your_app = &info["apps"]["your-app"];
    let your_app_url = your_app["base_url"].as_str().expect("your-app base_url").to_owned();
    let api_key = your_app["credentials"]["api_key"].as_str().expect("api_key").to_owned();
    assert!(info["apps"]["slack"]["credentials"]["url"].is_string());
    assert!(info["apps"]["webhook"]["credentials"]["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));

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
    let status = runtime.block_on(async {
        let answer = reqwest::Client::new()
            .get(format!("{your_app_url}/contacts"))
            .header("X-Api-Key", &api_key)
            .send()
            .await
            .expect("answer");
        answer.status()
    });
    assert_eq!(status, reqwest::StatusCode::OK, "Your App's credentials from the ready line work");
}

#[test]
fn bad_options_fail_with_a_message_and_non_zero_exit() {
    for args in [
        vec!["--fault-500", "1.5"],
        vec!["--rate-burst", "0"],
        vec!["--faults-json", "{\"default\":{\"x\":1}}"],
        vec!["--port", "notaport"],
    ] {
        let output = Command::new(BINARY).arg("sandbox").args(&args).output().expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?} says why");
        assert!(output.stdout.is_empty(), "{args:?} prints no JSON line");
    }
}

fn api(info: &Value, args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
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
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "45"]);
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
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "1"]);
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
    let output = Command::new(BINARY).args(["api", "--list", "--json"]).output().expect("runs");
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    // Every operation of every shipped app: the catalog's actions but the engine's own.
    let apps = ghl_engine::Apps::builtin();
    let actions = ghl_engine::catalog::actions(&apps);
    let operations = actions.iter().filter(|a| !a.action.starts_with("util.")).count() - 1;
    assert_eq!(lines.len(), operations, "all but util.* and http.request");
    assert!(lines
        .iter()
        .any(|op| op["operation"] == "search-contacts-advanced" && op["method"] == "POST"));
}

/// `connect` and `api` dispatch through the app registry: an app it does not know is refused
/// with the known ones named, before anything is opened or sent.
#[test]
fn an_unknown_app_is_refused_naming_the_known_apps() {
    for args in [
        &["connect", "no-such-app", "--private-token", "t", "--location-id", "l"][..],
        &["api", "get-contact", "--app", "no-such-app", "--token", "t"][..],
        &["api", "no-such-app.get-contact", "--token", "t"][..],
    ] {
        let output = Command::new(BINARY).args(args).output().expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = stderr.contains("unknown app `no-such-app`") && stderr.contains("highlevel");
        assert!(named, "{args:?}: {stderr}");
    }
    let output = Command::new(BINARY).args(["api", "--list", "--json"]).output().expect("runs");
    let first: Value = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .and_then(|line| serde_json::from_str(line).ok())
        .expect("a JSON line");
    assert_eq!(first["app"], "highlevel", "{first}");
}

#[test]
fn demo_runs_the_template_flow_for_every_new_contact() {
    let output = Command::new(BINARY)
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

#[test]
fn init_connect_apply_and_list_from_the_command_line() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "2"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let no_key = engine_command(dir, &["flows", "list"]);
    assert!(!no_key.status.success());
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("ghl-connector init"));
    ok(engine_command(dir, &["init"]));
    assert!(!engine_command(dir, &["init"]).status.success(), "a key is never overwritten");

    let token = info["private_integration_token"].as_str().expect("token");
    ok(connect_sandbox(dir, &info));
    let listed = ok(engine_command(dir, &["connections", "list"]));
    assert!(
        listed.contains("highlevel") && listed.contains("connected") && !listed.contains(token),
        "{listed}"
    );
    let database = std::fs::read(dir.join("cli.db")).expect("db");
    assert!(
        !database.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is not stored in the clear"
    );

    let flow = WELCOME_FLOW;
    ok(engine_command(dir, &["flows", "apply", flow]));
    assert!(ok(engine_command(dir, &["flows", "list"])).contains("welcome-new-contacts"));
    let exported = dir.join("exported");
    ok(engine_command(dir, &["flows", "export", exported.to_str().expect("path")]));
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
    let refused = engine_command(dir, &["flows", "apply", bad.to_str().expect("path")]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("line 18") && message.contains("unknown action"), "{message}");

    let catalog: Value =
        serde_json::from_str(&ok(engine_command(dir, &["catalog", "--json"]))).expect("json");
    // HighLevel's and every shipped manifest's, as the engine's catalog lists them.
    let apps = ghl_engine::Apps::builtin();
    let actions = ghl_engine::catalog::actions(&apps).len();
    let triggers = ghl_engine::catalog::triggers(&apps).len();
    assert_eq!(catalog["actions"].as_array().map(Vec::len), Some(actions));
    assert_eq!(catalog["triggers"].as_array().map(Vec::len), Some(triggers));

    // The test feature: a dry run shows the writes without sending them; a real one sends them.
    let contacts = stdout_json(&api(&info, &["get-contacts", "--param", "limit=1"]));
    let contact = contacts["contacts"][0]["id"].as_str().expect("a seeded contact");
    let dry = ok(engine_command(dir, &["test", flow, "--contact", contact, "--dry-run"]));
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
        dir,
        &["test", "welcome-new-contacts", "--sample", sample.to_str().expect("path"), "--json"],
    ));
    let steps: Value = serde_json::from_str(&real).expect("json report");
    assert_eq!(steps.as_array().map(Vec::len), Some(2));
    assert!(steps[0]["response"]["task"]["id"].is_string(), "{steps}");
    assert_eq!(tasks(&info), before + 1, "the real test run created its task");

    // A manual run is queued once per key, and listed.
    let path = sample.to_str().expect("path");
    let run = ["flows", "run", "welcome-new-contacts", "--sample", path, "--key", "k1"];
    assert!(ok(engine_command(dir, &run)).contains("queued run"));
    assert!(ok(engine_command(dir, &run)).contains("already run"));
    let runs = ok(engine_command(dir, &["runs", "list"]));
    assert_eq!(runs.lines().filter(|line| line.contains("queued")).count(), 1, "{runs}");
}

/// `connect highlevel` by OAuth in progress: the command, and the authorization address it
/// printed.
struct OAuthConnect {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
    authorize: url::Url,
}

/// Starts `connect highlevel` by OAuth with what the sandbox's ready line gives (client id and
/// secret, base URL) and `extra` arguments (a `--client-secret` there wins over the variable).
fn start_oauth(info: &Value, dir: &Path, extra: &[&str]) -> OAuthConnect {
    let oauth = &info["oauth"];
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    let (client_id, base) = (text(&oauth["client_id"]), text(&info["base_url"]));
    let connect = ["connect", "highlevel", "--timeout-secs", "30", "--client-id", &client_id];
    let mut command = store_command(dir, &[&connect[..], &["--base-url", &base], extra].concat());
    command.env("GHL_CONNECTOR_CLIENT_SECRET", text(&oauth["client_secret"]));
    let (child, stdout, authorize) = spawn_until_address(command);
    OAuthConnect { child, stdout, authorize }
}

impl OAuthConnect {
    /// The query of the authorization address.
    fn query(&self) -> std::collections::HashMap<String, String> {
        self.authorize.query_pairs().into_owned().collect()
    }

    /// The user approves in the sandbox's page with `form` (changed from what was asked by
    /// `change`); the browser follows the redirect to the local callback. Answers the page
    /// the browser shows, then the command's exit and its output.
    fn approve(
        mut self,
        location: &str,
        change: impl FnOnce(&mut Vec<(String, String)>),
    ) -> ((u16, String), (std::process::ExitStatus, String)) {
        let query = self.query();
        let mut form: Vec<(String, String)> = ["client_id", "redirect_uri", "scope", "state"]
            .iter()
            .map(|k| (k.to_string(), query[*k].clone()))
            .collect();
        form.push(("location_id".into(), location.to_owned()));
        change(&mut form);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let page = runtime.block_on(async {
            let landed = reqwest::Client::new()
                .post(self.authorize.as_str().split('?').next().expect("base"))
                .form(&form)
                .send()
                .await
                .expect("approve");
            (landed.status().as_u16(), landed.text().await.expect("page"))
        });
        let status = self.child.wait().expect("connect ends");
        let mut output = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut output).expect("read");
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr).expect("read");
        }
        (page, (status, output + &stderr))
    }
}

#[test]
fn the_oauth_page_says_failed_when_the_user_declines() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "1"]);
    let dir = new_store();
    let mut connect = start_oauth(&info, dir.path(), &[]);
    let query = connect.query();
    // HighLevel sends the browser back with an error instead of a code.
    let mut declined: url::Url = query["redirect_uri"].parse().expect("redirect_uri");
    declined
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user declined")
        .append_pair("state", &query["state"]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (status, page) = runtime.block_on(async {
        let answer = reqwest::get(declined.as_str()).await.expect("the callback answers");
        (answer.status().as_u16(), answer.text().await.expect("page"))
    });
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("failed") && page.contains("access_denied"), "{page}");
    assert!(page.contains("The user declined"), "{page}");
    let exit = connect.child.wait().expect("connect ends");
    assert!(!exit.success(), "connect fails when the user declines");
}

/// `connect highlevel` by OAuth with `extra` arguments, approved in the sandbox's
/// authorization page; answers the scopes it asked for.
fn connect_by_oauth(info: &Value, dir: &Path, extra: &[&str]) -> String {
    let location = info["location_id"].as_str().expect("location");
    let connect = start_oauth(info, dir, extra);
    let scope = connect.query()["scope"].clone();
    assert!(
        connect.authorize.as_str().starts_with(&format!(
            "{}/oauth/chooselocation?",
            info["base_url"].as_str().expect("base")
        )),
        "the authorization page comes from the base URL: {}",
        connect.authorize
    );
    let ((status, page), (exit, output)) = connect.approve(location, |_| {});
    assert!(exit.success(), "{output}");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ghl-connector is connected"), "{page}");
    assert!(output.contains(&format!("to HighLevel location {location}")), "{output}");
    scope
}

#[test]
fn the_oauth_page_says_failed_with_the_reason_when_connect_fails() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "1"]);
    let location = info["location_id"].as_str().expect("location");
    let dir = new_store();
    // What the user passes, what comes back from the authorization page, what goes wrong.
    type Case = (&'static [&'static str], Option<(&'static str, &'static str)>, &'static str);
    let cases: [Case; 3] = [
        (&[], Some(("state", "forged")), "state mismatch"),
        (&["--write"], Some(("scope", "contacts.readonly")), "did not grant contacts.write"),
        (&["--client-secret", "not-the-secret"], None, "token endpoint answered"),
    ];
    for (extra, change, reason) in cases {
        let ((status, page), (exit, output)) =
            start_oauth(&info, dir.path(), extra).approve(location, |form| {
                for (key, old) in form.iter_mut() {
                    if let Some((_, value)) = change.filter(|(name, _)| key == name) {
                        *old = value.to_owned();
                    }
                }
            });
        assert!(!exit.success(), "{extra:?}: {output}");
        assert_eq!(status, 400, "{extra:?}: {page}");
        assert!(page.contains("Connecting ghl-connector failed"), "{extra:?}: {page}");
        assert!(page.to_lowercase().contains(reason), "{extra:?}: the page says why: {page}");
        assert!(
            output.to_lowercase().contains(reason),
            "{extra:?}: the terminal says why: {output}"
        );
        assert!(!output.contains("panicked"), "{output}");
        let listed = ok(engine_command(dir.path(), &["connections", "list"]));
        assert!(!listed.contains("connected"), "{extra:?}: nothing usable is stored: {listed}");
    }
}

#[test]
fn connect_by_oauth_read_only_widen_when_a_flow_writes_and_reconnect_when_revoked() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "2"]);
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    let dir = new_store();
    let dir = dir.path();
    assert_eq!(connect_by_oauth(&info, dir, &[]), "contacts.readonly", "read-only by default");
    let listed =
        String::from_utf8_lossy(&engine_command(dir, &["connections", "list", "--json"]).stdout)
            .into_owned();
    let connections: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(connections[0]["auth_kind"], "oauth");
    assert_eq!(connections[0]["scopes"], "contacts.readonly");

    let flow = WELCOME_FLOW;
    let refused = engine_command(dir, &["flows", "apply", flow]);
    assert!(!refused.status.success(), "a writing flow needs a connection that may write");
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(message.contains("--name highlevel --scope contacts.write"), "{message}");

    let widened = connect_by_oauth(&info, dir, &["--scope", "contacts.write"]);
    assert_eq!(widened, "contacts.readonly contacts.write");
    assert!(engine_command(dir, &["flows", "apply", flow]).status.success());
    assert!(engine_command(dir, &["connections", "test", "highlevel"]).status.success());

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
        dir,
        &["test", "welcome-new-contacts", "--sample", sample.to_str().expect("path")],
    );
    assert!(!failed.status.success());
    let shown = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert!(shown.contains("needs reconnecting"), "{shown}");
    let listed = ok(engine_command(dir, &["connections", "list"]));
    assert!(listed.contains("reconnect_needed"), "{listed}");

    // Connected again, it asks for what its flows need without being told.
    assert_eq!(connect_by_oauth(&info, dir, &[]), "contacts.readonly contacts.write");
    let listed = ok(engine_command(dir, &["connections", "list"]));
    assert!(listed.contains(" connected"), "{listed}");
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
        Command::new(BINARY)
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
    let mut child = Command::new(BINARY)
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

/// The requests the sandbox answered for `operation`, by status.
fn requests(info: &Value, operation: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stats: Value = runtime.block_on(async {
        let url = format!("{}/_sandbox/stats", info["base_url"].as_str().expect("base"));
        reqwest::get(url).await.expect("stats").json().await.expect("json")
    });
    stats["requests"][operation]
        .as_object()
        .map_or(0, |by_status| by_status.values().filter_map(Value::as_u64).sum())
}

#[test]
fn api_all_pages_asks_for_the_largest_pages_unless_told() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "250"]);
    let all = stdout_json(&api(&info, &["get-contacts", "--all-pages"]));
    assert_eq!(all.as_array().map(Vec::len), Some(250));
    assert_eq!(requests(&info, "get-contacts"), 3, "pages of 100, HighLevel's largest");

    let searched = stdout_json(&api(&info, &["search-contacts-advanced", "--all-pages"]));
    assert_eq!(searched.as_array().map(Vec::len), Some(250));
    assert_eq!(requests(&info, "search-contacts-advanced"), 1, "one page of up to 500");

    let told = stdout_json(&api(&info, &["get-contacts", "--all-pages", "--param", "limit=50"]));
    assert_eq!(told.as_array().map(Vec::len), Some(250));
    assert_eq!(
        requests(&info, "get-contacts"),
        3 + 6,
        "the page size given is kept: five full pages, then an empty one"
    );
}

#[test]
fn api_calls_through_a_stored_connection() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "12"]);
    let dir = connected_store(&info);
    let answer = ok(engine_command(
        dir.path(),
        &["api", "get-contacts", "--connection", "highlevel", "--param", "limit=5"],
    ));
    let page: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(page["contacts"].as_array().map(Vec::len), Some(5), "the connection's location");
    let all = ok(engine_command(
        dir.path(),
        &["api", "get-contacts", "--connection", "highlevel", "--all-pages"],
    ));
    let all: Value = serde_json::from_str(&all).expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(12));

    let missing = engine_command(dir.path(), &["api", "get-contacts", "--connection", "nope"]);
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(message.contains("no connection named `nope`"), "{message}");
}

/// A `serve` started for a test, stopped when dropped.
fn serve_store(dir: &Path) -> Running {
    let child =
        store_command(dir, &["serve", "--port", "0", "--admin-token", "runs-list-admin-token"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
    Running::new(child)
}

#[test]
fn runs_list_shows_the_flow_the_trigger_when_and_the_first_error() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "1"]);
    let dir = connected_store(&info);
    let dir = dir.path();
    let flow = WELCOME_FLOW;
    ok(engine_command(dir, &["flows", "apply", flow]));
    // A contact HighLevel does not know: the flow's first write is refused, the run dead.
    let sample = dir.join("sample.json");
    std::fs::write(&sample, serde_json::to_vec(&json_contact("nobody")).expect("json"))
        .expect("write");
    let path = sample.to_str().expect("path");
    ok(engine_command(dir, &["flows", "run", "welcome-new-contacts", "--sample", path]));
    let _serve = serve_store(dir);
    wait_for("the run to be dead-lettered", || {
        ok(engine_command(dir, &["runs", "list", "--status", "dead"]))
            .contains("welcome-new-contacts")
    });

    let table = ok(engine_command(dir, &["runs", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and the run: {table}");
    let run = lines[1];
    for shown in ["welcome-new-contacts", "manual", "dead", " ago"] {
        assert!(run.contains(shown), "`{shown}` in {run}");
    }
    let json: Value =
        serde_json::from_str(&ok(engine_command(dir, &["runs", "list", "--json"]))).expect("json");
    let error = json[0]["last_error"].as_str().expect("the run's error");
    let first_line = error.lines().next().expect("a line");
    let shown: String = first_line.chars().take(40).collect();
    assert!(run.contains(&shown), "the error's first line `{shown}` in {run}");
    assert_eq!(json[0]["flow_name"], "welcome-new-contacts");
    assert_eq!(json[0]["trigger"], "manual");

    let by_flow = ok(engine_command(dir, &["runs", "list", "--flow", "welcome-new-contacts"]));
    assert_eq!(by_flow.lines().count(), 2, "{by_flow}");
    assert_eq!(ok(engine_command(dir, &["runs", "list", "--flow", "other"])).trim(), "no runs");
    assert_eq!(ok(engine_command(dir, &["runs", "list", "--status", "done"])).trim(), "no runs");

    let refused = engine_command(dir, &["runs", "list", "--status", "finished"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    for status in ["queued", "running", "waiting", "done", "skipped", "dead"] {
        assert!(message.contains(status), "`{status}` named in: {message}");
    }
}

/// A `demo` serving until stopped, with its standard output read line by line.
struct ServingDemo {
    running: Running,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ServingDemo {
    fn start(contacts: usize) -> Self {
        let mut child = Command::new(BINARY)
            .args(["demo", "--seed-contacts", "5", "--contacts", &contacts.to_string()])
            .env_remove("GHL_CONNECTOR_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { running: Running::new(child), lines, seen: Vec::new() }
    }

    /// Reads lines until one satisfies `wanted` (within a minute); answers it.
    fn line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no such line; the demo printed:\n{}", self.seen.join("\n"))
            });
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Sends `signal` and waits for the demo to end; answers how it ended.
    fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.running.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().expect("kill runs");
        assert!(sent.success());
        self.running.child.wait().expect("the demo ends")
    }
}

/// The temporary store the demo printed (its `sqlite:` path), and its folder.
fn demo_store(line: &str) -> std::path::PathBuf {
    let path =
        line.split_whitespace().find_map(|word| word.strip_prefix("sqlite:")).expect("a path");
    std::path::PathBuf::from(path)
}

#[test]
fn demo_says_what_to_do_next_and_its_commands_work_as_printed() {
    let mut demo = ServingDemo::start(2);
    let connector = demo.line(|line| line.starts_with("ghl-connector:"));
    let connector_url = connector.split_whitespace().nth(1).expect("the address").to_owned();
    let ui = demo.line(|line| line.starts_with("web UI:"));
    assert!(ui.contains(&format!("{connector_url}/ui")) && ui.contains("sign in as demo"), "{ui}");
    // The one-time sign-in link signs in (a session cookie, then the dashboard) once.
    let link = ui.split_whitespace().nth(2).expect("the link").to_owned();
    assert!(link.starts_with(&format!("{connector_url}/ui/sign-in/link?token=")), "{ui}");
    let open = |link: &str| {
        let curl = ["-s", "-o", "/dev/null", "-w", "%{http_code} %header{set-cookie}", link];
        let answer = Command::new("curl").args(curl).output().expect("curl runs");
        String::from_utf8_lossy(&answer.stdout).into_owned()
    };
    let first = open(&link);
    assert!(first.starts_with("303 ghl_session="), "the link signs in: {first}");
    assert!(open(&link).starts_with("401"), "a link signs in once");
    let store = demo_store(&demo.line(|line| line.starts_with("store:")));
    let folder = store.parent().expect("the demo's folder").to_owned();
    assert!(folder.exists());
    demo.line(|line| line.contains("runs dead-lettered"));

    // The next steps: a change in the sandbox, as a person makes it, and its run appears.
    let curl = demo.line(|line| line.trim_start().starts_with("curl -s -X POST"));
    let curl = curl.trim().trim_end_matches('\\').to_owned() + &demo.line(|_| true);
    let added = Command::new("sh").arg("-c").arg(&curl).output().expect("curl runs");
    let added: Value = serde_json::from_slice(&added.stdout).expect("the sandbox answers JSON");
    let id = added["contact"]["id"].as_str().expect("a new contact").to_owned();
    let list = demo.line(|line| line.contains("runs list --flow"));
    demo.line(|line| line.starts_with("run ") && line.contains("ContactCreate: done"));

    // As printed, with `ghl-connector` on the PATH (as `cargo install` puts it).
    let binary = Path::new(BINARY);
    let path = format!(
        "{}:{}",
        binary.parent().expect("its folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let listed = Command::new("sh")
        .arg("-c")
        .arg(list.trim())
        .env("PATH", path)
        .env_remove("GHL_CONNECTOR_MASTER_KEY")
        .output()
        .expect("runs list runs");
    let listed = ok(listed);
    assert_eq!(
        listed.lines().filter(|line| line.contains("welcome-new-contacts")).count(),
        3,
        "the demo's two runs and the new contact's: {listed}"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let index: Value = runtime.block_on(async {
        reqwest::get(format!("{connector_url}/")).await.expect("GET /").json().await.expect("JSON")
    });
    assert_eq!(index["name"], "ghl-connector");
    assert_eq!(index["links"]["api"], "/api");
    assert!(!id.is_empty());

    assert!(demo.stop("-INT").success(), "Ctrl-C ends the demo cleanly");
    assert!(!folder.exists(), "the demo's files are removed: {}", folder.display());
}

#[test]
fn demo_removes_its_files_on_sigterm() {
    let mut demo = ServingDemo::start(1);
    let store = demo_store(&demo.line(|line| line.starts_with("store:")));
    let folder = store.parent().expect("the demo's folder").to_owned();
    demo.line(|line| line.starts_with("Ctrl-C stops the demo"));
    assert!(folder.exists());
    assert!(demo.stop("-TERM").success());
    assert!(!folder.exists(), "the demo's files are removed: {}", folder.display());
}

#[test]
fn demo_uses_the_database_given_and_postgres_keeps_its_runs() {
    let schema = format!("demo_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDb::postgres_schema(&schema, true));
    let url = db.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("demo.key");
    let with_store = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .args(["--database-url", &url])
            .arg("--key-file")
            .arg(&key)
            .env_remove("GHL_CONNECTOR_MASTER_KEY")
            .output()
            .expect("runs")
    };
    ok(with_store(&["init"]));
    let demo = ["demo", "--exit-when-done", "--contacts", "3", "--seed-contacts", "5"];
    let first = ok(with_store(&demo));
    assert!(first.contains("3 tasks and 3 notes created by the flow"), "{first}");
    assert!(first.contains("(the one given)"), "{first}");
    let again = ok(with_store(&demo));
    assert!(again.contains("0 runs dead-lettered"), "a second demo on the same store: {again}");

    let listed =
        ok(with_store(&["runs", "list", "--flow", "welcome-new-contacts", "--status", "done"]));
    assert_eq!(listed.lines().filter(|line| line.contains("ContactCreate")).count(), 6, "{listed}");

    // A store holding something of the user's is never written by the demo.
    let flow = dir.path().join("mine.yaml");
    let text = std::fs::read_to_string(WELCOME_FLOW)
        .expect("flow")
        .replace("name: welcome-new-contacts", "name: mine");
    std::fs::write(&flow, text).expect("write");
    ok(with_store(&["flows", "apply", flow.to_str().expect("path")]));
    let refused = with_store(&demo);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("already holds the flow `mine`"), "{message}");
    runtime.block_on(TestDb::on_admin(&format!("DROP SCHEMA {schema} CASCADE")));
}

/// `flows apply` takes files and folders and applies every file it can; the shapes that used
/// to overflow the stack (1,000 nested parentheses, 2,000 `+` or `|`) and deep YAML are refused
/// with the file, the line, the field and the limit, and the command fails.
#[test]
fn flows_apply_takes_folders_and_refuses_pathological_flows_by_name() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let dir = connected_store(&info);
    let dir = dir.path();

    let flows = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows");
    let examples = format!("{flows}/examples");
    let welcome = format!("{flows}/welcome.yaml");
    let applied = ok(engine_command(dir, &["flows", "apply", &welcome, &examples]));
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
    let refused = engine_command(dir, &["flows", "apply", bad.to_str().expect("path")]);
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
    let listed = ok(engine_command(dir, &["flows", "list"]));
    assert!(listed.contains("good") && !listed.contains("pathological"), "{listed}");

    let exported = dir.join("exported");
    let written = ok(engine_command(dir, &["flows", "export", exported.to_str().expect("path")]));
    assert_eq!(written.lines().count(), 4, "{written}");
    ok(engine_command(dir, &["flows", "apply", exported.to_str().expect("path")]));
}

/// A sample bigger than a sample may be is refused by its size, before it is read, by both
/// commands that take one; nothing is queued.
#[test]
fn oversized_samples_are_refused_in_words_by_test_and_flows_run() {
    let dir = new_store();
    let dir = dir.path();
    let big = dir.join("big.json");
    let record = format!("{{\"type\":\"ContactCreate\",\"note\":\"{}\"}}", "x".repeat(2 << 20));
    std::fs::write(&big, record).expect("write");
    let big = big.to_str().expect("path");
    for args in [
        vec!["test", WELCOME_FLOW, "--sample", big, "--dry-run"],
        vec!["flows", "run", "welcome-new-contacts", "--sample", big],
    ] {
        let message = refused(engine_command(dir, &args));
        assert!(message.contains("big.json") && message.contains("at most"), "{message}");
        assert!(!message.contains("panicked") && !message.contains("Os {"), "{message}");
    }
    assert_eq!(ok(engine_command(dir, &["runs", "list"])).trim(), "no runs");
}

#[test]
fn apps_add_checks_a_manifest_keeps_it_and_refuses_mistakes_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    ok(engine_command(dir, &["init"]));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps/your-app/manifest.yaml");
    let example = std::fs::read_to_string(example).expect("the example manifest");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("path").to_owned()
    };

    let shipped = write("shipped.yaml", &example);
    let taken = refused(engine_command(dir, &["apps", "add", &shipped]));
    assert!(taken.contains("`your-app` is the id of an app this program ships"), "{taken}");

    let mine = write("mine.yaml", &example.replace("app: your-app", "app: my-crm"));
    let checked = ok(engine_command(dir, &["apps", "check", &mine]));
    assert!(checked.contains("`my-crm` loads (5 operations)"), "{checked}");
    assert!(!ok(engine_command(dir, &["apps", "list"])).contains("my-crm"), "check adds nothing");
    assert!(ok(engine_command(dir, &["apps", "add", &mine])).contains("added `my-crm`"));
    assert!(ok(engine_command(dir, &["apps", "add", &mine])).contains("replaced `my-crm`"));

    let misspelt = example
        .replace("app: your-app", "app: my-crm")
        .replace("    title: Get a contact", "    titel: Get a contact");
    let line = 1 + misspelt.lines().position(|line| line.contains("titel:")).expect("the typo");
    let bad = write("bad.yaml", &misspelt);
    let said = refused(engine_command(dir, &["apps", "add", &bad]));
    assert!(said.contains("bad.yaml is not added"), "{said}");
    assert!(
        said.contains(&format!("line {line}")) && said.contains("unknown field `titel`"),
        "{said}"
    );

    let listed = ok(engine_command(dir, &["apps", "list"]));
    for app in ["highlevel", "your-app", "slack", "teams", "webhook"] {
        assert!(listed.contains(&format!("{app:<24} shipped")), "{app} listed: {listed}");
    }
    let mine: Vec<&str> = listed.lines().filter(|line| line.starts_with("my-crm ")).collect();
    assert!(mine.len() == 1 && mine[0].contains(" added "), "listed once, as added: {listed}");
    // The catalog lists an added app's actions and triggers; `--app` shows one app's.
    let catalog: Value =
        serde_json::from_str(&ok(engine_command(dir, &["catalog", "--app", "my-crm", "--json"])))
            .expect("json");
    let actions: Vec<&str> = catalog["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|action| action["action"].as_str())
        .collect();
    assert_eq!(actions.len(), 5, "{actions:?}");
    assert!(actions.iter().all(|action| action.starts_with("my-crm.")), "{actions:?}");
    let triggers = catalog["triggers"].as_array().expect("triggers");
    assert!(triggers.iter().any(|t| t["trigger"] == "my-crm.contact.created"), "{triggers:?}");
    let unknown = refused(engine_command(dir, &["catalog", "--app", "nope"]));
    assert!(unknown.contains("unknown app `nope`") && unknown.contains("my-crm"), "{unknown}");
    assert!(ok(engine_command(dir, &["apps", "remove", "my-crm"])).contains("removed `my-crm`"));
    let gone = refused(engine_command(dir, &["apps", "remove", "my-crm"]));
    assert!(gone.contains("no added app `my-crm`"), "{gone}");
}

#[test]
fn templates_are_listed_shown_and_installed_with_the_connections_of_their_apps() {
    let listed = ok(store_command(Path::new("."), &["templates", "list"]).output().expect("runs"));
    for name in ["contact-to-your-app", "note-follow-up-task", "onboarding"] {
        assert!(listed.contains(name), "{listed}");
    }
    let shown = ok(store_command(Path::new("."), &["templates", "show", "onboarding"])
        .output()
        .expect("runs"));
    assert!(shown.contains("highlevel.create-appointment"), "{shown}");
    let unknown = refused(
        store_command(Path::new("."), &["templates", "show", "onbording"]).output().expect("runs"),
    );
    assert!(unknown.contains("no template named `onbording`"), "{unknown}");
    assert!(unknown.contains("templates list"), "the remedy: {unknown}");

    // No HighLevel connection yet: refused, saying how to make one; nothing is applied.
    let dir = new_store();
    let missing =
        refused(engine_command(dir.path(), &["templates", "install", "note-follow-up-task"]));
    assert!(missing.contains("needs a highlevel connection"), "{missing}");
    assert!(missing.contains("ghl-connector connect highlevel"), "{missing}");
    let malformed = refused(engine_command(
        dir.path(),
        &["templates", "install", "note-follow-up-task", "--connection", "highlevel"],
    ));
    assert!(malformed.contains("SLOT=CONNECTION"), "{malformed}");

    let (_sandbox, info) = sandbox(&[]);
    ok(connect_sandbox(dir.path(), &info));
    let installed = ok(engine_command(
        dir.path(),
        &["templates", "install", "note-follow-up-task", "--as", "follow-ups"],
    ));
    assert!(installed.contains("as flow `follow-ups` (highlevel=highlevel)"), "{installed}");
    let flows = ok(engine_command(dir.path(), &["flows", "list"]));
    assert!(flows.contains("follow-ups"), "{flows}");
}

/// `users add NAME --password-stdin` with `password` on standard input.
fn add_user(dir: &Path, name: &str, password: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = store_command(dir, &["users", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("users add starts");
    let mut stdin = child.stdin.take().expect("its stdin");
    writeln!(stdin, "{password}").expect("the password is written");
    drop(stdin);
    child.wait_with_output().expect("users add ends")
}

#[test]
fn users_are_added_listed_and_removed_and_bad_ones_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    ok(store_command(dir, &["init"]).output().expect("init"));
    let password = "a long enough password";
    let added = ok(add_user(dir, "ada", password));
    assert!(added.contains("added user `ada`"), "{added}");
    let taken = refused(add_user(dir, "ada", "another password"));
    assert!(taken.contains("there is a user named `ada` already"), "{taken}");
    let short = refused(add_user(dir, "bob", "short"));
    assert!(short.contains("at least 8 characters"), "{short}");
    let listed = ok(store_command(dir, &["users", "list"]).output().expect("list"));
    assert!(listed.starts_with("ada\t") && !listed.contains("bob"), "{listed}");
    assert!(!listed.contains(password) && !listed.contains("argon2"), "{listed}");
    ok(store_command(dir, &["users", "remove", "ada"]).output().expect("remove"));
    let gone = refused(store_command(dir, &["users", "remove", "ada"]).output().expect("remove"));
    assert!(gone.contains("no user named `ada`"), "{gone}");
}
