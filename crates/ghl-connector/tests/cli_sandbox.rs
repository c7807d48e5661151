//! `ghl-connector sandbox` as a script uses it: one JSON line once listening, then HTTP.

use std::io::{BufRead, BufReader};
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
    (
        Running(child),
        serde_json::from_str(&line).expect("the line is JSON"),
    )
}

#[test]
fn sandbox_prints_one_json_line_with_everything_a_client_needs() {
    let (_running, info) = start(&["--port", "0", "--contacts", "7", "--locations", "2"]);
    for field in [
        "base_url",
        "location_id",
        "company_id",
        "private_integration_token",
        "calendar_id",
    ] {
        assert!(
            info[field].as_str().is_some_and(|value| !value.is_empty()),
            "{field} in {info}"
        );
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
