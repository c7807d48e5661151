//! `connect APP` for a manifest app whose auth is OAuth, from the command line against the
//! app sandbox of the same manifest (`sandbox --app-manifest`): the authorization code flow
//! (the browser's step is a plain GET of the printed address, which the sandbox approves
//! and redirects to the local callback) with PKCE, a Basic client header and the API address
//! from the token answer, each as the manifest says; client credentials; a refused secret
//! named by the app and never shown; a forged `state` refused; and tokens refreshed with
//! single-use rotating refresh tokens until the app revokes them, when the connection needs
//! reconnecting.

mod support;

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;
use support::{
    new_store, ok, ready_line, refused, spawn_until_address, store_command, Running, BINARY,
};

/// A small task API; `{auth}` is replaced by the auth of each case.
const MANIFEST: &str = r#"
app: tasks
title: Tasks
base_url: https://tasks.example/v1
account: workspace
auth:
{auth}
check:
  operation: list-tasks
  input: {limit: 1}
errors:
  message: /error/message
  code: /error/code
operations:
  - name: list-tasks
    title: List tasks
    method: GET
    path: /tasks
    query:
      page: {type: integer}
      limit: {type: integer}
    response:
      record: /data
      id: id
    paging:
      style: page
      page: query:page
      limit: query:limit
      max_limit: 100
      has_more: /meta/has_more
"#;

const CODE: &str = "  kind: oauth2_authorization_code
  authorize_url: /oauth/authorize
  token_url: /oauth/token
  scopes: [tasks.read]";

const CLIENT_CREDENTIALS: &str = "  kind: oauth2_client_credentials
  token_url: /oauth/token
  scopes: [tasks.read]
  client_auth: basic_header";

/// A store with the manifest of `auth` added, and the sandbox of that manifest.
struct Setup {
    store: tempfile::TempDir,
    _sandbox: Running,
    /// The app's entry of the sandbox's ready line (`base_url`, `admin_url`, `credentials`).
    app: Value,
}

impl Setup {
    fn new(auth: &str) -> Self {
        let store = new_store();
        let manifest = store.path().join("tasks.yaml");
        std::fs::write(&manifest, MANIFEST.replace("{auth}", auth)).expect("manifest written");
        let manifest = manifest.to_str().expect("a path").to_owned();
        ok(store_command(store.path(), &["apps", "add", &manifest]).output().expect("runs"));
        let mut child = Command::new(BINARY)
            .args(["sandbox", "--port", "0", "--contacts", "0", "--app-manifest", &manifest])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the sandbox starts");
        let info = ready_line(&mut child);
        let app = info["apps"]["tasks"].clone();
        assert!(app["base_url"].is_string(), "the sandbox of the added manifest: {info}");
        Self { store, _sandbox: Running::new(child), app }
    }

    fn dir(&self) -> &Path {
        self.store.path()
    }

    fn text(&self, field: &str) -> String {
        self.app[field].as_str().unwrap_or_else(|| panic!("{field}")).to_owned()
    }

    fn credential(&self, name: &str) -> String {
        self.app["credentials"][name].as_str().unwrap_or_else(|| panic!("{name}")).to_owned()
    }

    /// `connect tasks` with the sandbox's client id and `secret` in the environment.
    fn connect(&self, secret: &str) -> Command {
        let base_url = self.text("base_url");
        let client_id = self.credential("client_id");
        let args = ["connect", "tasks", "--timeout-secs", "60", "--base-url", &base_url];
        let mut command = store_command(self.dir(), &args);
        command.args(["--client-id", &client_id]).env("GHL_CONNECTOR_CLIENT_SECRET", secret);
        command
    }

    /// Starts `connect tasks` by the authorization code flow; answers it with the address it
    /// printed.
    fn start(&self, secret: &str) -> Connecting {
        let (child, stdout, authorize) = spawn_until_address(self.connect(secret));
        Connecting { child, stdout, authorize }
    }

    /// POSTs to the sandbox's admin API; answers its JSON.
    fn admin(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.text("admin_url"));
        block_on(async {
            let answer = reqwest::Client::new().post(url).send().await.expect("admin answers");
            answer.json().await.expect("JSON")
        })
    }

    /// The OAuth server's counts.
    fn counts(&self) -> Value {
        let url = format!("{}/oauth", self.text("admin_url"));
        block_on(async { reqwest::get(url).await.expect("admin").json().await.expect("JSON") })
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        store_command(self.dir(), args).output().expect("runs")
    }

    fn listed(&self) -> Value {
        let listed = ok(self.run(&["connections", "list", "--json"]));
        serde_json::from_str(&listed).expect("JSON")
    }
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("a runtime").block_on(work)
}

/// `connect` waiting for the browser.
struct Connecting {
    child: Child,
    stdout: BufReader<ChildStdout>,
    authorize: url::Url,
}

impl Connecting {
    fn query(&self, name: &str) -> Option<String> {
        self.authorize.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into())
    }

    /// The browser opens `url` and follows the redirects (the sandbox's approval, then the
    /// local callback, which answers once `connect` is done); answers the page, then the
    /// command's exit and what it said.
    fn browse(mut self, url: &str) -> ((u16, String), (bool, String)) {
        let page = block_on(async {
            let answer = reqwest::get(url).await.expect("the page answers");
            (answer.status().as_u16(), answer.text().await.expect("a page"))
        });
        let status = self.child.wait().expect("connect ends");
        let mut said = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut said).expect("read");
        if let Some(mut stderr) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut said).expect("read");
        }
        (page, (status.success(), said))
    }

    /// The user approves: the authorization address as printed.
    fn approve(self) -> ((u16, String), (bool, String)) {
        let url = self.authorize.to_string();
        self.browse(&url)
    }
}

/// The code flow for each of the manifest's options: the sandbox refuses a request without
/// the PKCE challenge or verifier, a client secret outside the Basic header, and serves the
/// API only at the address the token answer gives, so each connection working proves its
/// option was followed.
#[test]
fn code_flow_connects_with_pkce_basic_client_auth_and_the_api_address_of_the_token_answer() {
    let cases: [(&str, &[&str]); 4] = [
        ("", &[]),
        ("  pkce: true", &["code_challenge"]),
        ("  client_auth: basic_header", &[]),
        (
            "  base_url_from: endpoint\n  pkce: true\n  client_auth: basic_header",
            &["code_challenge"],
        ),
    ];
    for (options, in_address) in cases {
        let setup = Setup::new(&format!("{CODE}\n{options}"));
        let connecting = setup.start(&setup.credential("client_secret"));
        assert!(
            connecting.authorize.as_str().starts_with(&format!(
                "{}/oauth/authorize?",
                setup.text("admin_url").trim_end_matches("/_sandbox")
            )),
            "{options:?}: the sandbox's authorization page: {}",
            connecting.authorize
        );
        for wanted in in_address {
            assert!(connecting.query(wanted).is_some(), "{options:?}: {wanted} in the address");
        }
        assert_eq!(connecting.query("code_challenge").is_some(), options.contains("pkce"));
        assert!(connecting.query("state").is_some_and(|state| state.len() >= 32));
        let ((status, page), (success, said)) = connecting.approve();
        assert!(success, "{options:?}: {said}");
        assert_eq!(status, 200, "{options:?}: {page}");
        assert!(page.contains("connection `tasks` to Tasks is stored and works"), "{page}");
        assert!(said.contains("connected `tasks` to Tasks"), "{options:?}: {said}");

        let listed = setup.listed();
        assert_eq!(listed[0]["auth_kind"], "oauth", "{listed}");
        assert_eq!(listed[0]["status"], "connected", "{listed}");
        assert_eq!(listed[0]["scopes"], "tasks.read", "{listed}");
        ok(setup.run(&["connections", "test", "tasks"]));
        let tasks = ok(setup.run(&["api", "tasks.list-tasks", "--connection", "tasks"]));
        assert_eq!(serde_json::from_str::<Value>(&tasks).expect("JSON"), Value::Array(vec![]));
        let counts = setup.counts();
        assert_eq!(
            (counts["codesExchanged"].as_u64(), counts["refused"].as_u64()),
            (Some(1), Some(0))
        );
    }
}

/// Expired access tokens are refreshed with the refresh token the last refresh gave (each is
/// single-use); once the app revokes them, the connection needs reconnecting, and says so.
#[test]
fn tokens_refresh_with_rotated_refresh_tokens_until_revoked_then_reconnect_is_needed() {
    let setup = Setup::new(CODE);
    let (_, (success, said)) = setup.start(&setup.credential("client_secret")).approve();
    assert!(success, "{said}");
    for refreshes in 1..=2 {
        assert_eq!(setup.admin("/oauth/expire-tokens")["expired"], refreshes);
        ok(setup.run(&["connections", "test", "tasks"]));
        let counts = setup.counts();
        assert_eq!(counts["refreshes"], refreshes, "one refresh per expiry: {counts}");
        assert_eq!(counts["refused"], 0, "the rotated refresh token was used: {counts}");
    }
    ok(setup.run(&["api", "tasks.list-tasks", "--connection", "tasks"]));

    setup.admin("/oauth/revoke-tokens");
    let message = refused(setup.run(&["connections", "test", "tasks"]));
    assert!(message.contains("needs reconnecting"), "{message}");
    assert!(message.contains("refresh token is not valid"), "in the app's words: {message}");
    let listed = setup.listed();
    assert_eq!(listed[0]["status"], "reconnect_needed", "{listed}");
    let message = refused(setup.run(&["api", "tasks.list-tasks", "--connection", "tasks"]));
    assert!(message.contains("needs reconnecting"), "{message}");

    // Connected again, it works again.
    let (_, (success, said)) = setup.start(&setup.credential("client_secret")).approve();
    assert!(success, "{said}");
    assert_eq!(setup.listed()[0]["status"], "connected");
}

/// A wrong client secret is refused at the code exchange in the app's words, naming the app
/// and what to do, never showing the secret; a forged `state` is refused before any code is
/// exchanged. Nothing is stored either way.
#[test]
fn a_refused_secret_and_a_forged_state_store_nothing() {
    let setup = Setup::new(&format!("{CODE}\n  client_auth: basic_header"));
    let wrong = "cs_not_the_secret_4242";
    let ((status, page), (success, said)) = setup.start(wrong).approve();
    assert!(!success, "{said}");
    assert_eq!(status, 400, "{page}");
    for shown in [&said, &page] {
        assert!(shown.contains("tasks refused the credentials"), "names the app: {shown}");
        assert!(shown.contains("client id or secret is wrong"), "the app's words: {shown}");
        assert!(shown.contains("check them and connect again"), "what to do: {shown}");
        assert!(!shown.contains(wrong), "never the secret: {shown}");
    }
    assert!(said.contains("nothing was stored"), "{said}");
    assert_eq!(setup.listed(), Value::Array(vec![]));

    let connecting = setup.start(&setup.credential("client_secret"));
    // The sandbox approves and redirects; the redirect is sent back with another state.
    let redirect = block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let answer = client.get(connecting.authorize.as_str()).send().await.expect("approved");
        let location = answer.headers()["location"].to_str().expect("text").to_owned();
        location
    });
    let mut forged: url::Url = redirect.parse().expect("the callback address");
    let code = forged.query_pairs().find(|(key, _)| key == "code").expect("a code").1.into_owned();
    forged.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", "forged");
    let ((status, page), (success, said)) = connecting.browse(forged.as_str());
    assert!(!success, "{said}");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("state mismatch") && said.contains("state mismatch"), "{said}");
    assert_eq!(setup.counts()["codesExchanged"], 0, "no code exchanged");
    assert_eq!(setup.listed(), Value::Array(vec![]));
}

/// Client credentials: no browser; the token is fetched (the client in a Basic header, as
/// the manifest says) and the check run before the connection is kept; a wrong secret is
/// refused naming the app, never shown, and stores nothing.
#[test]
fn client_credentials_connect_without_a_browser_and_a_wrong_secret_stores_nothing() {
    let setup = Setup::new(CLIENT_CREDENTIALS);
    let wrong = "cs_wrong_client_secret_77";
    let message = refused(setup.connect(wrong).output().expect("runs"));
    assert!(message.contains("tasks refused the credentials"), "{message}");
    assert!(message.contains("client id or secret is wrong"), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert!(!message.contains(wrong), "never the secret: {message}");
    assert_eq!(setup.listed(), Value::Array(vec![]));

    // A secret on the command line is refused before anything is sent.
    let secret = setup.credential("client_secret");
    let on_line = setup
        .connect(&secret)
        .env_remove("GHL_CONNECTOR_CLIENT_SECRET")
        .args(["--client-secret", &secret])
        .output();
    let message = refused(on_line.expect("runs"));
    assert!(message.contains("GHL_CONNECTOR_CLIENT_SECRET"), "{message}");
    assert!(!message.contains(&secret), "never the secret: {message}");
    assert_eq!(setup.counts()["clientCredentials"], 0, "nothing sent");

    let said = ok(setup.connect(&secret).output().expect("runs"));
    assert!(said.contains("connected `tasks` to Tasks"), "{said}");
    let listed = setup.listed();
    assert_eq!(listed[0]["auth_kind"], "client_credentials", "{listed}");
    ok(setup.run(&["connections", "test", "tasks"]));
    ok(setup.run(&["api", "tasks.list-tasks", "--connection", "tasks"]));
    assert!(setup.counts()["clientCredentials"].as_u64() >= Some(1));

    // The secret may come from the environment under its credential name too.
    let said = ok(store_command(
        setup.dir(),
        &["connect", "tasks", "--name", "again", "--base-url", &setup.text("base_url")],
    )
    .env("GHL_CONNECTOR_CREDENTIAL_CLIENT_ID", setup.credential("client_id"))
    .env("GHL_CONNECTOR_CREDENTIAL_CLIENT_SECRET", setup.credential("client_secret"))
    .env_remove("GHL_CONNECTOR_CLIENT_SECRET")
    .output()
    .expect("runs"));
    assert!(said.contains("connected `again` to Tasks"), "{said}");
}

/// The shipped BQE CORE manifest, connected as docs/connectors/bqe-core.md says, against
/// `ghl-connector sandbox`: its identity provider's pages taken under the sandbox's address,
/// the company's API address read from the token answer's `endpoint`, then used.
#[test]
fn bqe_core_connects_through_the_sandbox_identity_provider_and_calls_the_company_api() {
    let (_sandbox, info) = support::sandbox(&["--port", "0", "--contacts", "0"]);
    let app = &info["apps"]["bqe-core"];
    let text = |value: &Value| value.as_str().expect("text").to_owned();
    let base_url = text(&app["base_url"]);
    let store = new_store();
    let mut connect = store_command(
        store.path(),
        &["connect", "bqe-core", "--timeout-secs", "60", "--base-url", &base_url],
    );
    connect
        .args(["--client-id", &text(&app["credentials"]["client_id"])])
        .env("GHL_CONNECTOR_CLIENT_SECRET", text(&app["credentials"]["client_secret"]));
    let (child, stdout, authorize) = spawn_until_address(connect);
    assert_eq!(authorize.path(), "/idp/connect/authorize", "{authorize}");
    let scope = authorize.query_pairs().find(|(key, _)| key == "scope").map(|(_, v)| v);
    assert_eq!(scope.as_deref(), Some("offline_access readwrite:core"), "{authorize}");
    let connecting = Connecting { child, stdout, authorize };
    let ((status, page), (success, said)) = connecting.approve();
    assert!(success, "{said}");
    assert_eq!(status, 200, "{page}");
    assert!(said.contains("connected `bqe-core` to BQE CORE"), "{said}");

    ok(store_command(store.path(), &["connections", "test", "bqe-core"]).output().expect("runs"));
    let employees = ok(store_command(
        store.path(),
        &["api", "bqe-core.list-employees", "--connection", "bqe-core"],
    )
    .output()
    .expect("runs"));
    let employees: Value = serde_json::from_str(&employees).expect("JSON");
    assert_eq!(employees.as_array().map(Vec::len), Some(1), "the company's user: {employees}");
}
