//! A real browser for the UI's tests: Debian's `chromedriver` on a free port driving a headless
//! `chromium` with a profile of its own, through WebDriver (fantoccini). Both stop when the
//! `Browser` is dropped. Waits are for elements and addresses (fantoccini's `wait()`, bounded),
//! never sleeps.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long any wait for the browser lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);
/// The window every test (and every screenshot) uses.
pub const WINDOW: (u32, u32) = (1280, 800);

/// The user the UI's tests sign in as.
pub const USER: &str = "ada";
pub const PASSWORD: &str = "correct horse battery";

/// The server (SQLite) with HighLevel's sandbox, connected as `highlevel`, and the user `ada`.
pub async fn ui_server() -> (super::Running, ghl_testkit::TestDb) {
    let (store, db) = ghl_testkit::sqlite_store().await;
    let running = super::start(store, super::Options::default()).await;
    running.until_serving().await;
    let password = ghl_client::Secret::new(PASSWORD.into());
    running.service.users().add(USER, password).await.expect("a user");
    (running, db)
}

/// Signs in through the form; answers once the dashboard shows.
pub async fn sign_in(browser: &Browser, server: &super::Running) {
    browser.goto(&format!("{}/ui", server.server_url)).await;
    browser.until_text("h1", "Sign in").await;
    browser.fill("#name", USER).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/ui/sign-in'] button[type=submit]").await;
    browser.until_text("h1", "Dashboard").await;
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver ends its browser with it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port no one listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Browser {
    /// Starts chromedriver and a headless chromium session (fresh profile, 1280x800).
    pub async fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts (apt-get install chromium chromium-driver)");
        let profile = tempfile::tempdir().expect("a profile folder");
        let (width, height) = WINDOW;
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let mut driver = driver;
        let client = loop {
            // The driver answers once it listens; until then the connection is refused.
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) => {
                    if Instant::now() > deadline {
                        let _ = driver.kill();
                        panic!("chromedriver did not answer at {url}: {err}");
                    }
                    if let Ok(Some(status)) = driver.try_wait() {
                        panic!("chromedriver ended ({status}) before answering");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        client.set_window_size(width, height).await.expect("the window's size");
        Self { client, driver, _profile: profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|err| panic!("open {url}: {err}"));
    }

    /// The element `css` names, once it is there.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(err) => panic!("no `{css}` on {}: {err}", self.url_now().await),
        }
    }

    /// Types `text` into the field `css` names.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.unwrap_or_else(|err| panic!("type into `{css}`: {err}"));
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|err| panic!("click `{css}`: {err}"));
    }

    /// Waits until the page's `element` (an XPath step: `h1`, `*[@id='x']`) has `text` in
    /// it; answers it.
    pub async fn until_text(&self, element: &str, text: &str) -> Element {
        let xpath = format!("//{element}[contains(normalize-space(.), {})]", xpath_literal(text));
        match self.client.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await {
            Ok(found) => found,
            Err(err) => {
                let html = self.html().await;
                panic!("no <{element}> saying {text:?} on {}: {err}\n{html}", self.url_now().await)
            }
        }
    }

    pub async fn url_now(&self) -> String {
        self.client.current_url().await.map(|url| url.to_string()).unwrap_or_default()
    }

    /// The page's HTML as the browser has it now.
    pub async fn html(&self) -> String {
        self.client.source().await.expect("the page's source")
    }

    /// Saves a PNG of the window to `docs/ui/<name>.png`, only when GHL_UI_SCREENSHOTS=1 (so
    /// test runs leave the tree as it is).
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("GHL_UI_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui");
        std::fs::create_dir_all(&folder).expect("docs/ui");
        std::fs::write(folder.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes: quotes are joined with concat).
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        return format!("\"{text}\"");
    }
    let parts: Vec<String> = text.split('"').map(|part| format!("\"{part}\"")).collect();
    format!("concat({})", parts.join(", '\"', "))
}
