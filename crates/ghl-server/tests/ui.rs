//! The web UI in a real browser (headless chromium through chromedriver), against the server
//! and HighLevel's sandbox on SQLite: signing in and out, a wrong password, the CSRF checks
//! (with reqwest, which can leave the token out), connecting HighLevel by OAuth through the
//! browser and a key-based app through its form (its secret never in a page afterwards),
//! testing and removing a connection. With GHL_UI_SCREENSHOTS=1 they save docs/ui/*.png.

mod support;

use std::collections::BTreeMap;

use fantoccini::Locator;
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_testkit::TestDb;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use support::browser::{sign_in, ui_server, Browser, PASSWORD, USER};
use support::Running;
use tokio_util::sync::CancellationToken;

/// The server (SQLite) with HighLevel's sandbox and the user `ada`.
async fn server() -> (Running, TestDb) {
    ui_server().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_opens_the_dashboard_and_signing_out_ends_the_session() {
    let (server, _db) = server().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui/connections", server.server_url)).await;
    browser.until_text("h1", "Sign in").await;
    browser.screenshot("sign-in").await;

    sign_in(&browser, &server).await;
    browser.until_text("*[@id='signed-in-user']", USER).await;
    browser.until_text("*[@id='count-connections']", "1").await;
    let cookie = browser.client.get_named_cookie("ghl_session").await.expect("a session cookie");
    let token = cookie.value().to_owned();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(server.store.ui_session_count().await.expect("count"), 1);

    browser.click("form.sign-out button[type=submit]").await;
    browser.until_text("h1", "Sign in").await;
    assert_eq!(server.store.ui_session_count().await.expect("count"), 0, "the session ended");
    // The old cookie opens nothing any more.
    let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
    let answer = http
        .get(format!("{}/ui", server.server_url))
        .header(COOKIE, format!("ghl_session={token}"))
        .send()
        .await
        .expect("GET /ui");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/ui/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_makes_no_session_and_many_are_held() {
    let (server, _db) = server().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/ui/sign-in", server.server_url)).await;
    browser.fill("#name", USER).await;
    browser.fill("#password", "not the password").await;
    browser.click("form[action='/ui/sign-in'] button[type=submit]").await;
    browser.until_text("*[@id='sign-in-error']", "Wrong name or password").await;
    assert!(!browser.html().await.contains("not the password"), "the password is not echoed");
    assert!(browser.client.get_named_cookie("ghl_session").await.is_err(), "no session cookie");
    assert_eq!(server.store.ui_session_count().await.expect("count"), 0);

    // An unknown name is refused the same way; the answer is a 401 page.
    let http = Http::new(&server.server_url);
    let (csrf, cookie) = http.sign_in_form().await;
    let form = [("csrf", csrf.as_str()), ("name", "nobody"), ("password", PASSWORD)];
    let answer = http.post_form("/ui/sign-in", &cookie, &form).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.text().await.expect("a page").contains("Wrong name or password"));
    assert_eq!(server.store.ui_session_count().await.expect("count"), 0);

    // Guessing is held: after five wrong passwords for a name (the browser's was one), even
    // the right one is refused for a while, with no session made.
    for _ in 0..4 {
        let (csrf, cookie) = http.sign_in_form().await;
        let form = [("csrf", csrf.as_str()), ("name", USER), ("password", "a guess")];
        let answer = http.post_form("/ui/sign-in", &cookie, &form).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let (csrf, cookie) = http.sign_in_form().await;
    let form = [("csrf", csrf.as_str()), ("name", USER), ("password", PASSWORD)];
    let answer = http.post_form("/ui/sign-in", &cookie, &form).await;
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.text().await.expect("a page").contains("too many wrong passwords"));
    assert_eq!(server.store.ui_session_count().await.expect("count"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_sign_in_link_signs_in_once_and_is_never_a_session() {
    let (server, _db) = server().await;
    let http = Http::new(&server.server_url);
    let token = server.service.sessions().sign_in_link(USER).await.expect("a link");
    let link = format!("{}/ui/sign-in/link?token={}", server.server_url, token.expose());

    // The link's token is not a session's.
    let dashboard = format!("{}/ui", server.server_url);
    let cookie = format!("ghl_session={}", token.expose());
    let answer = http.client.get(&dashboard).header(COOKIE, cookie).send().await.expect("GET");
    assert_eq!(answer.headers()[LOCATION], "/ui/sign-in", "a link's token signs nothing in");

    // Used, it makes a session that opens the dashboard.
    let answer = http.client.get(&link).send().await.expect("GET the link");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/ui");
    let session = set_cookie(&answer, "ghl_session");
    let answer = http.client.get(&dashboard).header(COOKIE, &session).send().await.expect("GET");
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.expect("a page").contains(USER), "signed in as its user");

    // Used again, it is refused with the form, and no session is made.
    let sessions = server.store.ui_session_count().await.expect("count");
    let again = http.client.get(&link).send().await.expect("GET the link again");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.text().await.expect("a page").contains("used already or has expired"));
    assert_eq!(server.store.ui_session_count().await.expect("count"), sessions);
    let unknown = server.service.sessions().sign_in_link("nobody").await;
    assert!(unknown.is_err(), "no link for a user who is not there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_filtered_by_time_and_a_time_not_understood_is_said() {
    let (server, _db) = server().await;
    let http = Http::new(&server.server_url);
    let session = http.signed_in().await;
    let runs_page = |query: &'static str| {
        let (http, session) = (&http, session.clone());
        async move {
            let url = format!("{}/ui/runs?{query}", http.base);
            let answer = http.client.get(url).header(COOKIE, session).send().await.expect("GET");
            assert_eq!(answer.status(), StatusCode::OK);
            answer.text().await.expect("a page")
        }
    };
    server.service.flows().apply(MANUAL_FLOW).await.expect("a flow");
    server.service.flows().run_now("by-hand", serde_json::json!({}), None).await.expect("queued");

    let all = runs_page("").await;
    assert!(all.contains("by-hand") && all.contains("data-stream"), "listed, live");
    let old = runs_page("to=2000-01-01T00%3A00").await;
    assert!(old.contains("No runs match") && !old.contains("data-stream"), "none then, not live");
    let since = runs_page("from=2000-01-01T00%3A00").await;
    assert!(since.contains("by-hand"), "from a time on");
    let wrong = runs_page("to=yesterday").await;
    assert!(wrong.contains("“Before” is not a time"), "said in words");
}

/// A flow run by hand, for runs to list.
const MANUAL_FLOW: &str = "name: by-hand
trigger:
  manual: true
steps:
  - name: say
    action: util.log
    input:
      message: '\"hello\"'
";

/// A browser without a browser: cookies and forms by hand, redirects not followed.
struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
        Self { base: base.to_owned(), client }
    }

    /// The sign-in form's token and its cookie (`name=value`).
    async fn sign_in_form(&self) -> (String, String) {
        let answer =
            self.client.get(format!("{}/ui/sign-in", self.base)).send().await.expect("GET");
        let cookie = set_cookie(&answer, "ghl_sign_in");
        let page = answer.text().await.expect("a page");
        (hidden_csrf(&page), cookie)
    }

    async fn post_form(
        &self,
        path: &str,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Signs in; answers the session cookie (`ghl_session=...`).
    async fn signed_in(&self) -> String {
        let (csrf, cookie) = self.sign_in_form().await;
        let form = [("csrf", csrf.as_str()), ("name", USER), ("password", PASSWORD)];
        let answer = self.post_form("/ui/sign-in", &cookie, &form).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        set_cookie(&answer, "ghl_session")
    }
}

/// The `name=value` of cookie `name` an answer sets.
fn set_cookie(answer: &reqwest::Response, name: &str) -> String {
    answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
        .unwrap_or_else(|| panic!("no cookie {name}"))
        .to_owned()
}

/// The value of a page's first hidden `csrf` field.
fn hidden_csrf(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a csrf field") + marker.len();
    page[start..].split('"').next().expect("its value").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let (server, _db) = server().await;
    let http = Http::new(&server.server_url);

    // Sign-in: the double-submit token must be in the cookie and the form, the same.
    let (csrf, cookie) = http.sign_in_form().await;
    let without = [("name", USER), ("password", PASSWORD)];
    let answer = http.post_form("/ui/sign-in", &cookie, &without).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let other = [("csrf", "another"), ("name", USER), ("password", PASSWORD)];
    assert_eq!(http.post_form("/ui/sign-in", &cookie, &other).await.status(), 403);
    let no_cookie = [("csrf", csrf.as_str()), ("name", USER), ("password", PASSWORD)];
    assert_eq!(http.post_form("/ui/sign-in", "", &no_cookie).await.status(), 403);
    assert_eq!(server.store.ui_session_count().await.expect("count"), 0);

    // Signed in: a form without the session's token is refused, and nothing is removed.
    let session = http.signed_in().await;
    let page = http
        .client
        .get(format!("{}/ui/connections", server.server_url))
        .header(COOKIE, &session)
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    let token = hidden_csrf(&page.text().await.expect("a page"));
    let remove = "/ui/connections/highlevel/remove";
    let answer = http.post_form(remove, &session, &[]).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(answer.text().await.expect("a page").contains("Nothing was changed"));
    assert_eq!(http.post_form(remove, &session, &[("csrf", "forged")]).await.status(), 403);
    assert!(server.store.connection("highlevel").await.expect("read").is_some());
    assert_eq!(http.post_form("/ui/sign-out", &session, &[]).await.status(), 403);
    assert_eq!(server.store.ui_session_count().await.expect("count"), 1, "still signed in");

    // The API: the session cookie alone reads; a change needs the token in x-csrf-token too.
    let api = format!("{}/api/connections", server.server_url);
    let read = http.client.get(&api).header(COOKIE, &session).send().await.expect("GET");
    assert_eq!(read.status(), StatusCode::OK);
    let test = format!("{api}/highlevel/test");
    let bare = http.client.post(&test).header(COOKIE, &session).send().await.expect("POST");
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let with = http
        .client
        .post(&test)
        .header(COOKIE, &session)
        .header("x-csrf-token", &token)
        .send()
        .await
        .expect("POST");
    assert_eq!(with.status(), StatusCode::OK);
    let forged = http.client.post(&test).header(COOKIE, &session).header("x-csrf-token", "forged");
    assert_eq!(forged.send().await.expect("POST").status(), StatusCode::UNAUTHORIZED);
    let (status, _) = server.api(reqwest::Method::GET, "/connections", None).await;
    assert_eq!(status, 200, "the admin token works as before");

    // With the token, the form does what it says.
    assert_eq!(http.post_form(remove, &session, &[("csrf", &token)]).await.status(), 303);
    assert!(server.store.connection("highlevel").await.expect("read").is_none());

    // An address under /ui that is no page answers a page saying so.
    let nowhere = http.client.get(format!("{}/ui/nowhere/at-all", server.server_url));
    let nowhere = nowhere.header(COOKIE, &session).send().await.expect("GET");
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    assert!(nowhere.text().await.expect("a page").contains("There is no page at this address"));

    // A browser asking for `/` is sent to the UI; an API client still gets JSON.
    let index = format!("{}/", server.server_url);
    let browser = http.client.get(&index).header("accept", "text/html,*/*").send().await;
    assert_eq!(browser.expect("GET /").headers()[LOCATION], "/ui");
    let json: serde_json::Value =
        http.client.get(&index).send().await.expect("GET /").json().await.expect("JSON");
    assert_eq!(json["links"]["ui"], "/ui");
}

/// Picks `app` under "Connect an app" on the Connections page.
async fn open_connect_form(browser: &Browser, server: &Running, app: &str) {
    browser.goto(&format!("{}/ui/connections", server.server_url)).await;
    let select = browser.find("select#app").await;
    select.select_by_value(app).await.expect("the app is listed");
    browser.click("form[action='/ui/connections/new'] button[type=submit]").await;
    browser.until_text("h1", "Connect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn highlevel_connects_by_oauth_through_the_browser_and_is_listed_ok() {
    let (server, _db) = server().await;
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;
    open_connect_form(&browser, &server, "highlevel").await;
    let oauth = &server.sandbox.oauth;
    browser.fill("#connect-oauth #name", "hl-oauth").await;
    browser.fill("#connect-oauth #base_url", &server.sandbox.base_url).await;
    browser.fill("#client_id", &oauth.client_id).await;
    browser.fill("#client_secret", &oauth.client_secret).await;
    browser.click("#connect-oauth button[type=submit]").await;

    // The sandbox's own authorization page: choose the location.
    browser.until_text("h1", "Choose the location").await;
    let location = &server.sandbox.location_id;
    let approve = format!("//form[input[@name='location_id'][@value='{location}']]//button");
    let approve = browser.client.wait().for_element(Locator::XPath(&approve)).await;
    approve.expect("the location's button").click().await.expect("approve");

    browser.until_text("p", "Connected `hl-oauth`").await;
    let status = browser.find("tr[data-connection='hl-oauth'] .status").await;
    assert_eq!(status.text().await.expect("text"), "ok");
    let connection = server.store.connection("hl-oauth").await.expect("read").expect("stored");
    assert_eq!(connection.summary.location_id.as_deref(), Some(&*server.sandbox.location_id));
    assert!(!browser.html().await.contains(&oauth.client_secret), "no secret in the page");
    browser.screenshot("connections").await;
}

/// The Your App sandbox (no rate limits), stopped on drop.
struct YourApp {
    sandbox: AppSandbox,
    stop: CancellationToken,
}

impl Drop for YourApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn your_app() -> YourApp {
    let manifests = ghl_apps::builtin::manifests().expect("the shipped manifests");
    let manifest = manifests.into_iter().find(|m| m.app == "your-app").expect("your-app");
    let config = AppSandboxConfig { rate_limits: Some(Vec::new()), ..Default::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let stop = CancellationToken::new();
    let sandbox =
        AppSandbox::start(manifest, config, listener, stop.clone()).await.expect("it starts");
    YourApp { sandbox, stop }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_based_app_connects_through_its_form_and_its_secret_is_never_shown_again() {
    let (server, _db) = server().await;
    let app = your_app().await;
    let credentials: &BTreeMap<String, String> = &app.sandbox.info.credentials;
    let key = credentials["api_key"].clone();
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;

    // A wrong key: refused in the app's words, nothing stored, the key not filled in again.
    open_connect_form(&browser, &server, "your-app").await;
    browser.fill("#name", "mine").await;
    browser.fill("#base_url", &app.sandbox.info.base_url).await;
    browser.fill("#credential-api_key", "wrong-key-123").await;
    browser.click("form.stack button[type=submit]").await;
    browser.until_text("div", "refused the credentials").await;
    assert!(!browser.html().await.contains("wrong-key-123"));
    assert!(server.store.connection("mine").await.expect("read").is_none());

    // The right one: connected, listed as ok.
    browser.fill("#credential-api_key", &key).await;
    browser.click("form.stack button[type=submit]").await;
    browser.until_text("p", "Connected `mine`").await;
    let status = browser.find("tr[data-connection='mine'] .status").await;
    assert_eq!(status.text().await.expect("text"), "ok");

    // No page shows the key: the list, the dashboard, the reconnect form, the confirmation.
    let base = &server.server_url;
    for path in [
        "/ui/connections".to_owned(),
        "/ui".to_owned(),
        "/ui/connections/new?app=your-app&name=mine".to_owned(),
        "/ui/connections/mine/remove".to_owned(),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser.find("h1").await;
        let html = browser.html().await;
        assert!(!html.contains(&key), "{path} shows the key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_tested_and_removed_after_a_confirmation() {
    let (server, _db) = server().await;
    let browser = Browser::start().await;
    sign_in(&browser, &server).await;
    browser.goto(&format!("{}/ui/connections", server.server_url)).await;
    browser.click("tr[data-connection='highlevel'] button[type=submit]").await;
    browser.until_text("p", "`highlevel` works.").await;

    browser.click("tr[data-connection='highlevel'] a.danger").await;
    browser.until_text("h1", "Remove highlevel?").await;
    assert!(server.store.connection("highlevel").await.expect("read").is_some(), "not yet");
    browser.click("button.danger").await;
    browser.until_text("p", "Removed `highlevel`").await;
    assert!(browser.client.find(Locator::Css("tr[data-connection='highlevel']")).await.is_err());
    assert!(server.store.connection("highlevel").await.expect("read").is_none());
}
