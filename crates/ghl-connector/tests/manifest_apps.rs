//! A shipped manifest app from the command line, against `ghl-connector sandbox`'s app
//! sandboxes: `connect your-app` keeps a connection only when its check works (a wrong key is
//! refused naming the app, a secret is never taken on the command line), and `api` calls
//! Your App's operations through it, `--all-pages` following every page.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{new_store, ok, refused, sandbox, store_command};

fn your_app(info: &Value) -> (&str, &str) {
    let app = &info["apps"]["your-app"];
    let base_url = app["base_url"].as_str().expect("Your App's base_url in the ready line");
    let key = app["credentials"]["api_key"].as_str().expect("Your App's api_key");
    (base_url, key)
}

fn connect(dir: &Path, base_url: &str, key: &str, extra: &[&str]) -> Output {
    store_command(dir, &["connect", "your-app", "--base-url", base_url])
        .args(extra)
        .env("GHL_CONNECTOR_CREDENTIAL_API_KEY", key)
        .output()
        .expect("runs")
}

fn api(dir: &Path, args: &[&str]) -> Value {
    let output =
        store_command(dir, &["api"]).args(args).args(["--connection", "your-app"]).output();
    serde_json::from_str(&ok(output.expect("runs"))).expect("JSON on stdout")
}

#[test]
fn connect_your_app_then_call_and_page_through_its_contacts() {
    let (_running, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let (base_url, key) = your_app(&info);
    let store = new_store();
    let dir = store.path();

    // A wrong key: refused in the app's words, naming it; nothing kept.
    let message = refused(connect(dir, base_url, "sk_wrong_key_1", &[]));
    assert!(message.contains("your-app"), "names the app: {message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("replay"), "a new connection has no dead runs: {message}");
    assert!(!message.contains("sk_wrong_key_1"), "never the key: {message}");
    // A secret on the command line is refused before anything is sent.
    let on_line = store_command(dir, &["connect", "your-app", "--base-url", base_url])
        .args(["--credential", &format!("api_key={key}")])
        .env_remove("GHL_CONNECTOR_CREDENTIAL_API_KEY")
        .output()
        .expect("runs");
    let message = refused(on_line);
    assert!(message.contains("GHL_CONNECTOR_CREDENTIAL_API_KEY"), "{message}");
    assert!(!message.contains(key), "never the key: {message}");
    let listed = ok(store_command(dir, &["connections", "list"]).output().expect("runs"));
    assert!(!listed.contains("your-app"), "nothing was stored: {listed}");

    ok(connect(dir, base_url, key, &[]));
    ok(store_command(dir, &["connections", "test", "your-app"]).output().expect("runs"));

    let mut ids = Vec::new();
    for n in 0..3 {
        let body = format!(r#"{{"name": "Ada {n}", "email": "ada{n}@example.com"}}"#);
        let created = api(dir, &["your-app.create-contact", "--body", &body]);
        assert_eq!(created["email"], format!("ada{n}@example.com"), "{created}");
        ids.push(created["id"].clone());
    }
    let got = api(
        dir,
        &["your-app.get-contact", "--param", &format!("id={}", ids[0].as_str().expect("an id"))],
    );
    assert_eq!(got["name"], "Ada 0");
    // Pages of one: three pages, every record once, in order.
    let all = api(dir, &["your-app.list-contacts", "--all-pages", "--param", "limit=1"]);
    let listed: Vec<Value> =
        all.as_array().expect("one array").iter().map(|record| record["id"].clone()).collect();
    assert_eq!(listed, ids);
}
