//! With a fifth of all requests failing (429, 5xx, connections dropped before or after the
//! change), a mixed workload completes with no failed operation and no duplicate record.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use ghl_types::{ContactInput, NoteInput, TaskInput};
use serde_json::json;

use crate::support::TestSandbox;

#[tokio::test]
async fn a_thousand_operations_survive_twenty_percent_faults_without_duplicates() {
    let sandbox = TestSandbox::start_with(|config| {
        config.contacts = 0;
        config.rate_limits.burst = 100_000;
    })
    .await;
    let faults = json!({ "default": { "429": 0.05, "500": 0.03, "502": 0.02, "503": 0.02, "reset": 0.04, "reset_after": 0.04, "retry_after_secs": 0 } });
    sandbox.admin_send(reqwest::Method::PUT, "/faults", faults).await;
    let client = sandbox.client_with(ghl_client::RetryPolicy {
        base_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(100),
        max_attempts: 12,
        ..Default::default()
    });

    // 250 contacts, each with a task and a note, then a read, an update and a tag: 1,500 operations.
    let contacts: Arc<parking_lot::Mutex<HashMap<usize, String>>> = Default::default();
    let failures = stream::iter(0..250usize)
        .map(|n| {
            let (client, contacts) = (client.clone(), contacts.clone());
            async move {
                let mut failed = Vec::new();
                let input = ContactInput {
                    first_name: Some(Some(format!("Fault{n}"))),
                    email: Some(Some(format!("fault{n}@example.com"))),
                    ..Default::default()
                };
                let id = match client.create_contact(&input).await {
                    Ok(contact) => contact.id,
                    Err(err) => return vec![format!("create contact {n}: {err}")],
                };
                contacts.lock().insert(n, id.clone());
                let task = TaskInput {
                    title: Some(format!("Task {n}")),
                    due_date: Some("2026-12-01T10:00:00Z".into()),
                    completed: Some(false),
                    ..Default::default()
                };
                let results = [
                    client.create_task(&id, &task).await.map(drop),
                    client
                        .create_note(
                            &id,
                            &NoteInput { body: Some(format!("Note {n}")), ..Default::default() },
                        )
                        .await
                        .map(drop),
                    client.contact(&id).await.map(drop),
                    client
                        .update_contact(
                            &id,
                            &ContactInput {
                                last_name: Some(Some("Faulty".into())),
                                ..Default::default()
                            },
                        )
                        .await
                        .map(drop),
                    client.add_tags(&id, &["survivor".into()]).await.map(drop),
                ];
                for (index, result) in results.into_iter().enumerate() {
                    if let Err(err) = result {
                        failed.push(format!("contact {n} step {index}: {err}"));
                    }
                }
                failed
            }
        })
        .buffer_unordered(16)
        .concat()
        .await;
    assert!(failures.is_empty(), "{} failed operations: {failures:?}", failures.len());

    sandbox.admin_send(reqwest::Method::PUT, "/faults", json!({})).await;
    let stats = sandbox.stats().await;
    assert_eq!(
        stats["effects"]["contact.created"], 250,
        "no duplicate contact: {}",
        stats["effects"]
    );
    assert_eq!(stats["effects"]["task.created"], 250, "no duplicate task");
    assert_eq!(stats["effects"]["note.created"], 250, "no duplicate note");
    let injected: u64 =
        stats["faults"].as_object().expect("faults").values().filter_map(|v| v.as_u64()).sum();
    assert!(injected > 150, "faults were really injected: {}", stats["faults"]);
    let created: Vec<(usize, String)> =
        contacts.lock().iter().map(|(n, id)| (*n, id.clone())).collect();
    for (n, id) in &created {
        let stored = sandbox.stored(id).await;
        assert_eq!(stored["tasks"].as_array().map(Vec::len), Some(1), "contact {n}");
        assert_eq!(stored["notes"].as_array().map(Vec::len), Some(1), "contact {n}");
        assert_eq!(stored["contact"]["lastName"], "Faulty");
        assert_eq!(stored["contact"]["tags"], json!(["survivor"]));
    }
}
