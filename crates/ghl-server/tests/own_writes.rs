//! A flow that writes what triggers it, end to end over real HTTP on SQLite and PostgreSQL:
//! the sandbox sends signed webhooks (each twice) to the server. The webhook that echoes the
//! flow's own write does not run it again, so a `ContactUpdate` flow that updates its contact
//! makes one update per outside change; told to run on its own writes, it loops until the
//! runaway detector pauses it, and the CLI's store, the API and the metrics say why.

mod support;

use std::time::{Duration, Instant};

use ghl_sandbox::SandboxConfig;
use ghl_store::{FlowStatus, Store};
use ghl_testkit::on_both;
use serde_json::{json, Value};
use support::{Options, Running};

/// Stamps every contact that changes: it updates the contact it is triggered by.
const STAMP: &str = r#"name: stamp
trigger:
  highlevel: ContactUpdate
steps:
  - name: stamp
    action: highlevel.update-contact
    connection: highlevel
    input:
      contactId: .trigger.id
      lastName: '"Stamped"'
"#;

/// The sandbox (no contacts, each webhook sent twice) and the server running `flow`, paused as
/// a runaway beyond `runaway_limit` runs of one record a minute.
async fn start(store: Store, flow: &str, runaway_limit: u32) -> Running {
    let mut sandbox = SandboxConfig { contacts: 0, ..SandboxConfig::default() };
    sandbox.webhooks.duplicate_share = 1.0;
    let options = Options {
        sandbox,
        flows: &[flow],
        runaway_limit: Some(runaway_limit),
        ..Options::default()
    };
    let running = support::start(store, options).await;
    let warnings = &running.applied[0].warnings;
    assert!(
        warnings.iter().any(|warning| warning.contains("can trigger itself")),
        "flows apply warns: {warnings:?}"
    );
    running
}

async fn pending_runs(running: &Running) -> i64 {
    let counts = running.service.runs().counts().await.expect("counts");
    counts
        .iter()
        .filter(|(status, _)| ["queued", "running", "waiting"].contains(&status.as_str()))
        .map(|(_, n)| n)
        .sum()
}

/// Waits (bounded) until nothing more can happen: every webhook emitted was delivered (so its
/// runs were stored), no run is left to do, and no new webhook came meanwhile. Answers the
/// sandbox's stats then.
async fn settled(running: &Running) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let before = running.sandbox_stats().await;
        let emitted = before["webhooks"]["emitted"].as_u64().unwrap_or(0);
        let all_delivered = before["webhooks"]["delivered"].as_u64() == Some(2 * emitted);
        if all_delivered && pending_runs(running).await == 0 {
            let after = running.sandbox_stats().await;
            if after["webhooks"]["emitted"] == before["webhooks"]["emitted"] {
                return after;
            }
        }
        assert!(Instant::now() < deadline, "did not settle: {before}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both!(
    a_flow_updating_what_triggers_it_makes_one_update_per_outside_change,
    one_update_each,
    multi_thread
);
on_both!(
    a_flow_running_on_its_own_writes_is_paused_as_a_runaway_and_says_why,
    runaway,
    multi_thread
);

async fn one_update_each(store: Store) {
    let running = start(store, STAMP, 20).await;
    let created = running
        .as_user(
            reqwest::Method::POST,
            "contacts/",
            json!({ "locationId": running.sandbox.location_id, "firstName": "Loop" }),
        )
        .await;
    let id = created["contact"]["id"].as_str().expect("id").to_owned();
    let changes = 3;
    for n in 0..changes {
        let change = json!({ "firstName": format!("Loop{n}") });
        running.as_user(reqwest::Method::PUT, &format!("contacts/{id}"), change).await;
        let stats = settled(&running).await;
        assert_eq!(
            stats["effects"]["contact.updated"],
            2 * (n + 1),
            "each outside change, and the flow's one update: {stats}"
        );
    }
    let runs = running.api(reqwest::Method::GET, "/runs?limit=1000", None).await.1;
    let runs = runs["runs"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), changes as usize, "one run per outside change: {runs:?}");
    assert!(runs.iter().all(|run| run["status"] == "done"), "{runs:?}");
    let metrics = running.metrics().await;
    assert!(metrics.contains(&format!("ghl_own_write_echoes_total {changes}")), "{metrics}");
    for line in ["ghl_runs{status=\"done\"} 3", "ghl_runs{status=\"skipped\"} 0"] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let flow = running.store.flow("stamp").await.expect("flow").expect("stored");
    assert_eq!(flow.status, FlowStatus::Enabled);
}

async fn runaway(store: Store) {
    let limit = 5;
    let looping = STAMP
        .replace("highlevel: ContactUpdate\n", "highlevel: ContactUpdate\n  on_own_writes: run\n");
    let running = start(store, &looping, limit).await;
    let created = running
        .as_user(
            reqwest::Method::POST,
            "contacts/",
            json!({ "locationId": running.sandbox.location_id, "firstName": "Runaway" }),
        )
        .await;
    let id = created["contact"]["id"].as_str().expect("id").to_owned();
    running
        .as_user(reqwest::Method::PUT, &format!("contacts/{id}"), json!({ "firstName": "Go" }))
        .await;
    let stats = settled(&running).await;
    assert_eq!(
        stats["effects"]["contact.updated"],
        1 + limit,
        "the outside change, then {limit} runs of the loop before the pause: {stats}"
    );
    let flow = running.store.flow("stamp").await.expect("flow").expect("stored");
    assert_eq!(flow.status, FlowStatus::Paused);
    let reason = flow.paused_reason.clone().unwrap_or_default();
    assert!(reason.contains("runaway") && reason.contains(&id), "{reason}");

    let shown = running.api(reqwest::Method::GET, "/flows/stamp", None).await.1;
    assert_eq!(shown["flow"]["status"], "paused", "{shown}");
    assert_eq!(shown["flow"]["paused_reason"], reason.as_str());
    let listed = running.api(reqwest::Method::GET, "/flows", None).await.1;
    assert_eq!(listed["flows"][0]["status"], "paused", "{listed}");
    assert!(running.metrics().await.contains("ghl_runaway_pauses_total 1"));

    // Enabled again (after a fix), it runs again.
    assert!(running.store.set_flow_enabled("stamp", true).await.expect("enable"));
    let flow = running.store.flow("stamp").await.expect("flow").expect("stored");
    assert_eq!((flow.status, flow.paused_reason), (FlowStatus::Enabled, None));
}
