//! `ghl-connector connect http` from the command line: the token comes from the environment,
//! is sealed in the store, never listed, sent by `http.request` steps that name the
//! connection, and shown by no run report.

mod support;

use serde_json::Value;
use support::{engine_command, new_store, ok, refused, sandbox, store_command};

#[test]
fn an_http_connection_keeps_its_token_sealed_and_out_of_every_report() {
    let (_sandbox, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let dir = new_store();
    let dir = dir.path();
    let token = info["private_integration_token"].as_str().expect("token");
    let base = info["base_url"].as_str().expect("base");
    let location = info["location_id"].as_str().expect("location");

    let missing = refused(engine_command(dir, &["connect", "http", "--name", "api"]));
    assert!(missing.contains("--bearer-token"), "{missing}");
    let unset = refused(engine_command(
        dir,
        &["connect", "http", "--name", "api", "--header-from-env", "X-Api-Key=NOT_SET_ANYWHERE"],
    ));
    assert!(unset.contains("NOT_SET_ANYWHERE"), "{unset}");

    let connect = ["connect", "http", "--name", "sandbox-api", "--base-url", base];
    let said = ok(store_command(dir, &connect)
        .env("GHL_CONNECTOR_BEARER_TOKEN", token)
        .output()
        .expect("runs"));
    assert!(said.contains("sandbox-api") && !said.contains(token), "{said}");
    let listed = ok(engine_command(dir, &["connections", "list", "--json"]));
    assert!(listed.contains("sandbox-api") && listed.contains("\"http\""), "{listed}");
    assert!(!listed.contains(token), "{listed}");
    ok(engine_command(dir, &["connections", "test", "sandbox-api"]));
    for file in ["cli.db", "cli.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|window| window == token.as_bytes()),
            "the token is not stored in the clear ({file})"
        );
    }

    let flow = dir.join("copy.yaml");
    let text = format!(
        r#"name: copy
trigger:
  manual: true
steps:
  - name: create
    action: http.request
    connection: sandbox-api
    input:
      method: '"POST"'
      url: '"/contacts/"'
      headers: '{{"Version": "2021-07-28"}}'
      body: '{{locationId: "{location}", firstName: .trigger.firstName}}'
"#
    );
    std::fs::write(&flow, &text).expect("write");
    ok(engine_command(dir, &["flows", "apply", flow.to_str().expect("path")]));
    let exported = dir.join("exported");
    ok(engine_command(dir, &["flows", "export", exported.to_str().expect("path")]));
    let written = std::fs::read_to_string(exported.join("copy.yaml")).expect("exported");
    assert!(!written.contains(token), "no token in the flow files kept in git");

    let sample = dir.join("sample.json");
    std::fs::write(&sample, r#"{"firstName": "Sent"}"#).expect("write");
    let report = ok(engine_command(
        dir,
        &["test", "copy", "--sample", sample.to_str().expect("path"), "--json"],
    ));
    assert!(!report.contains(token), "{report}");
    let steps: Value = serde_json::from_str(&report).expect("json");
    assert_eq!(steps[0]["response"]["status"], 201, "the sandbox took the token: {steps}");
}

#[test]
fn flows_apply_warns_about_a_flow_that_triggers_itself() {
    let (_sandbox, info) = sandbox(&["--port", "0", "--contacts", "0"]);
    let dir = new_store();
    let dir = dir.path();
    let token = info["private_integration_token"].as_str().expect("token");
    let location = info["location_id"].as_str().expect("location");
    let base = info["base_url"].as_str().expect("base");
    let connect = ["connect", "highlevel", "--location-id", location, "--base-url", base];
    ok(store_command(dir, &connect).env("GHL_CONNECTOR_TOKEN", token).output().expect("runs"));
    let flow = dir.join("stamp.yaml");
    let text = "name: stamp\ntrigger:\n  highlevel: ContactUpdate\nsteps:\n  - name: stamp\n    action: highlevel.add-tags\n    connection: highlevel\n    input:\n      contactId: .trigger.id\n      tags: '[\"seen\"]'\n";
    std::fs::write(&flow, text).expect("write");
    let applied = engine_command(dir, &["flows", "apply", flow.to_str().expect("path")]);
    let warning = String::from_utf8_lossy(&applied.stderr).into_owned();
    ok(applied);
    assert!(warning.contains("warning") && warning.contains("can trigger itself"), "{warning}");
    let listed = ok(engine_command(dir, &["flows", "list"]));
    assert!(listed.contains("stamp") && listed.contains("enabled"), "{listed}");
}
