//! Schedule and polling triggers, on SQLite and PostgreSQL: every tick and every change in
//! HighLevel makes one run, whoever fires it and however often, and the cursors survive a
//! restart. Time is passed in, so nothing sleeps.

#[macro_use]
mod support;

use ghl_engine::Engine;
use ghl_store::RunFilter;
use serde_json::json;
use support::World;

on_both!(a_schedule_fires_each_tick_once_and_missed_ticks_once, schedule);
on_both!(polling_runs_each_change_once_and_its_cursor_survives_a_restart, polling);
on_both!(reconciliation_runs_contacts_whose_webhook_was_lost_and_no_other, reconciliation);

const EVERY_FIVE_MINUTES: &str = r#"name: every five minutes
trigger:
  schedule: '*/5 * * * *'
steps:
  - name: log
    action: util.log
    input:
      message: '"tick at " + .trigger.scheduledAt'
"#;

/// A UTC time of one day.
fn at(hour: u32, minute: u32, second: u32) -> ghl_store::Timestamp {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|day| day.and_hms_opt(hour, minute, second))
        .expect("a time")
        .and_utc()
        .into()
}

async fn schedule(world: World) {
    let engine = &world.engine;
    engine.apply_flow(EVERY_FIVE_MINUTES).await.expect("flow applies");
    assert_eq!(engine.fire_triggers(at(10, 1, 30)).await.expect("fire"), 0, "first sight arms");
    assert_eq!(engine.fire_triggers(at(10, 4, 59)).await.expect("fire"), 0, "not yet");
    assert_eq!(engine.fire_triggers(at(10, 5, 1)).await.expect("fire"), 1, "the 10:05 tick");
    assert_eq!(engine.fire_triggers(at(10, 5, 2)).await.expect("fire"), 0, "fired already");
    // Another process (another engine on the same store) fires nothing twice.
    let other = Engine::new(world.store.clone());
    assert_eq!(other.fire_triggers(at(10, 5, 3)).await.expect("fire"), 0);
    assert_eq!(other.fire_triggers(at(10, 10, 0)).await.expect("fire"), 1, "the 10:10 tick");
    assert_eq!(engine.fire_triggers(at(10, 10, 0)).await.expect("fire"), 0);
    // Stopped for an hour: the missed ticks fire once, as the latest.
    assert_eq!(engine.fire_triggers(at(11, 12, 0)).await.expect("fire"), 1, "11:10 only");
    world.drain().await;
    let runs = world.store.runs(&RunFilter::default()).await.expect("runs");
    let mut ticks = Vec::new();
    for run in &runs {
        assert_eq!(run.status, ghl_store::RunStatus::Done);
        let steps = world.store.steps(&run.id).await.expect("steps");
        ticks.push(steps[0].response.as_ref().expect("logged")["message"].clone());
    }
    ticks.sort_by_key(|tick| tick.to_string());
    assert_eq!(
        ticks,
        [
            "tick at 2026-11-23T10:05:00.000Z",
            "tick at 2026-11-23T10:10:00.000Z",
            "tick at 2026-11-23T11:10:00.000Z"
        ]
    );
}

const NOTE_CHANGES: &str = r#"name: note every change
trigger:
  poll:
    source: highlevel.contacts
    connection: highlevel
    every: 1m
steps:
  - name: note
    action: highlevel.create-note
    connection: highlevel
    input:
      contactId: .trigger.id
      body: 'Seen {{ .trigger.firstName }}'
"#;

async fn polling(world: World) {
    let engine = &world.engine;
    engine.apply_flow(NOTE_CHANGES).await.expect("flow applies");
    let start = ghl_store::Timestamp::now();
    let minute = std::time::Duration::from_secs(60);
    assert_eq!(engine.fire_triggers(start).await.expect("poll"), 0, "first sight arms");
    // 130 changes: more than a search page.
    let names: Vec<String> = (0..130).map(|n| format!("Polled{n}")).collect();
    let created = world.contacts_created(&names).await;
    assert_eq!(
        engine.fire_triggers(start + std::time::Duration::from_secs(30)).await.expect("poll"),
        0,
        "not due yet"
    );
    assert_eq!(engine.fire_triggers(start + minute).await.expect("poll"), 130);
    assert_eq!(engine.fire_triggers(start + 2 * minute).await.expect("poll"), 0, "seen already");

    let changed = created[7].payload["id"].as_str().expect("id").to_owned();
    let path = format!("/as-user/{}/contacts/{changed}", world.sandbox.location_id);
    let answer = world.admin(reqwest::Method::PUT, &path, Some(json!({ "lastName": "Changed" })));
    assert_eq!(answer.await["contact"]["lastName"], "Changed");
    // A restart: a new engine on the same store carries on from the stored cursor.
    let restarted = Engine::new(world.store.clone());
    assert_eq!(restarted.fire_triggers(start + 3 * minute).await.expect("poll"), 1, "the change");
    assert_eq!(restarted.fire_triggers(start + 4 * minute).await.expect("poll"), 0);

    world.drain().await;
    for event in &created {
        let id = event.payload["id"].as_str().expect("id");
        let stored = world.stored_contact(id).await;
        let notes = stored["notes"].as_array().map(Vec::len);
        assert_eq!(notes, Some(if id == changed { 2 } else { 1 }), "{stored}");
    }

    // A poll that fails (here: its connection is gone) still waits its interval before the
    // next try, rather than asking again every second.
    let flow_id = world.store.flow("note every change").await.expect("store").expect("flow").id;
    assert!(world.store.remove_connection("highlevel").await.expect("remove"));
    let failing = Engine::new(world.store.clone());
    assert_eq!(failing.fire_triggers(start + 5 * minute).await.expect("poll"), 0);
    let cursor = world.store.cursor(&format!("poll:{flow_id}")).await.expect("store");
    let cursor: serde_json::Value = serde_json::from_str(&cursor.expect("a cursor")).expect("json");
    let polled = (start + 5 * minute).as_millis();
    assert_eq!(cursor["polledAt"], polled, "the failed poll counts as a poll");
}

async fn reconciliation(world: World) {
    let engine = &world.engine;
    let flow = support::TASK_FLOW.replace("ContactCreate\n", "ContactCreate\n  reconcile: 1m\n");
    engine.apply_flow(&flow).await.expect("flow applies");
    let start = ghl_store::Timestamp::now();
    assert_eq!(engine.fire_triggers(start).await.expect("arm"), 0);
    // Three people are added; only the first one's webhook reaches the engine.
    let names: Vec<String> = ["Kept", "LostA", "LostB"].map(String::from).to_vec();
    let events = world.contacts_created(&names).await;
    assert!(matches!(
        engine.ingest(&events[0]).await.expect("ingest"),
        ghl_store::IngestOutcome::Stored { .. }
    ));
    assert_eq!(
        engine.fire_triggers(start + std::time::Duration::from_secs(60)).await.expect("reconcile"),
        2,
        "the lost two"
    );
    // A webhook arriving late finds its contact already run.
    assert_eq!(engine.ingest(&events[1]).await.expect("late"), ghl_store::IngestOutcome::Duplicate);
    assert_eq!(
        engine.fire_triggers(start + std::time::Duration::from_secs(120)).await.expect("reconcile"),
        0
    );
    world.drain().await;
    for event in &events {
        let stored = world.stored_contact(event.payload["id"].as_str().expect("id")).await;
        assert_eq!(stored["tasks"].as_array().map(Vec::len), Some(1), "{stored}");
    }
}
