//! The store's behaviour, written once and run on SQLite and on PostgreSQL (the one running on
//! 127.0.0.1:5432, database `test`; each test gets a schema of its own).

use std::time::Duration;

use ghl_store::{
    ConnectionSummary, IngestOutcome, MasterKey, NewEvent, RunFilter, RunOutcome, StepRecord, Store,
};
use serde_json::json;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    (Store::open(&url, &MasterKey::generate()).await.expect("sqlite store"), dir)
}

async fn postgres() -> Store {
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", ghl_store::new_id());
    let admin = sqlx::AnyPool::connect(POSTGRES)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (database test)");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("schema");
    let url = format!("{POSTGRES}?options=-c%20search_path%3D{schema}");
    Store::open(&url, &MasterKey::generate()).await.expect("postgres store")
}

/// Runs one conformance check on both backends.
macro_rules! on_both {
    ($name:ident, $check:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$check(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$check(super::postgres().await).await;
            }
        }
    };
}

on_both!(connections_keep_secrets_encrypted_and_replaceable, connections);
on_both!(an_event_is_stored_once_with_its_runs, ingest);
on_both!(runs_are_claimed_once_retried_and_dead_lettered, queue);
on_both!(a_step_and_its_effect_are_recorded_together, steps_and_effects);
on_both!(flows_are_stored_by_name, flows);
on_both!(concurrent_workers_never_claim_the_same_run, concurrent_claims);

fn summary(name: &str) -> ConnectionSummary {
    ConnectionSummary {
        id: String::new(),
        name: name.into(),
        app: "highlevel".into(),
        location_id: Some("loc1".into()),
        auth_kind: "oauth".into(),
        scopes: "contacts.readonly".into(),
        status: "connected".into(),
        status_reason: None,
    }
}

fn event(key: &str) -> NewEvent {
    NewEvent {
        dedup_key: key.into(),
        source: "highlevel".into(),
        event_type: "ContactCreate".into(),
        location_id: Some("loc1".into()),
        payload: json!({ "type": "ContactCreate", "id": key }),
    }
}

async fn connections(store: Store) {
    let secret = json!({ "access_token": "at-1", "refresh_token": "rt-1" });
    store.put_connection(&summary("hl"), &secret).await.expect("put");
    let read = store.connection("hl").await.expect("read").expect("exists");
    assert_eq!(read.secret, secret);
    assert!(!read.summary.id.is_empty());
    let rotated = json!({ "access_token": "at-2", "refresh_token": "rt-2" });
    assert!(store.replace_secret("hl", &rotated).await.expect("replace"));
    assert_eq!(store.connection("hl").await.expect("read").expect("exists").secret, rotated);
    assert!(store
        .set_connection_status("hl", "reconnect_needed", Some("refresh token revoked"))
        .await
        .expect("status"));
    let listed = store.connections().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, "reconnect_needed");
    assert!(store.remove_connection("hl").await.expect("remove"));
    assert!(store.connection("hl").await.expect("read").is_none());
}

async fn ingest(store: Store) {
    let flows = vec!["flow-a".to_owned(), "flow-b".to_owned()];
    let first =
        store.ingest(&event("wh-1"), &flows, Some(("poll:contacts", "100"))).await.expect("ingest");
    let IngestOutcome::Stored { run_ids, .. } = first else { panic!("stored") };
    assert_eq!(run_ids.len(), 2);
    assert_eq!(
        store.ingest(&event("wh-1"), &flows, Some(("poll:contacts", "200"))).await.expect("again"),
        IngestOutcome::Duplicate
    );
    assert_eq!(
        store.cursor("poll:contacts").await.expect("cursor").as_deref(),
        Some("100"),
        "a duplicate moves no cursor"
    );
    assert_eq!(store.runs(&RunFilter::default()).await.expect("runs").len(), 2);
}

async fn queue(store: Store) {
    store.ingest(&event("wh-q"), &["flow".to_owned()], None).await.expect("ingest");
    let claimed = store.claim(Duration::from_secs(30)).await.expect("claim").expect("a run");
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.payload["id"], "wh-q");
    assert!(
        store.claim(Duration::from_secs(30)).await.expect("claim").is_none(),
        "claimed runs are not claimed twice"
    );

    let past = ghl_store::now_ms() - 1;
    store
        .finish(&claimed.id, &RunOutcome::RetryAt { at_ms: past, error: "HTTP 503".into() })
        .await
        .expect("retry");
    let again = store.claim(Duration::from_secs(30)).await.expect("claim").expect("due again");
    assert_eq!(again.attempt, 2);
    store.finish(&again.id, &RunOutcome::Dead { error: "gave up".into() }).await.expect("dead");
    assert!(store.claim(Duration::from_secs(30)).await.expect("claim").is_none());
    let dead =
        store.runs(&RunFilter { status: Some("dead".into()), limit: 10 }).await.expect("dead runs");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));

    assert!(store.replay(&again.id).await.expect("replay"));
    assert!(!store.replay(&again.id).await.expect("replay twice"), "only a dead run replays");
    let replayed = store.claim(Duration::from_secs(30)).await.expect("claim").expect("replayed");
    store.finish(&replayed.id, &RunOutcome::Done).await.expect("done");
    assert_eq!(store.run(&replayed.id).await.expect("run").expect("exists").status, "done");

    // A worker that dies leaves its run leased; when the lease runs out, another claims it.
    store.ingest(&event("wh-lease"), &["flow".to_owned()], None).await.expect("ingest");
    let leased = store.claim(Duration::from_millis(1)).await.expect("claim").expect("run");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reclaimed =
        store.claim(Duration::from_secs(30)).await.expect("claim").expect("lease expired");
    assert_eq!(reclaimed.id, leased.id);
    assert_eq!(reclaimed.attempt, 2);
}

async fn steps_and_effects(store: Store) {
    store.ingest(&event("wh-s"), &["flow".to_owned()], None).await.expect("ingest");
    let run = store.claim(Duration::from_secs(30)).await.expect("claim").expect("run");
    let step = StepRecord {
        run_id: run.id.clone(),
        attempt: 1,
        step_index: 0,
        name: "create task".into(),
        status: "done".into(),
        input: Some(json!({ "title": "Welcome" })),
        request: Some(json!({ "method": "POST" })),
        response: Some(json!({ "task": { "id": "t1" } })),
        error: None,
        duration_ms: 12,
    };
    let key = format!("{}:0", run.id);
    assert!(store.effect(&key).await.expect("effect").is_none());
    store.record_step(&step, Some((&key, &json!({ "id": "t1" })))).await.expect("record");
    store.record_step(&step, Some((&key, &json!({ "id": "other" })))).await.expect("record again");
    assert_eq!(
        store.effect(&key).await.expect("effect"),
        Some(json!({ "id": "t1" })),
        "the first result stands"
    );
    let steps = store.steps(&run.id).await.expect("steps");
    assert_eq!(steps, vec![step]);
}

async fn flows(store: Store) {
    let id = store.put_flow("welcome", "trigger: ContactCreate", true).await.expect("put");
    assert_eq!(
        store.put_flow("welcome", "trigger: ContactUpdate", true).await.expect("replace"),
        id
    );
    assert!(store.set_flow_enabled("welcome", false).await.expect("disable"));
    let flow = store.flow("welcome").await.expect("read").expect("exists");
    assert_eq!((flow.definition.as_str(), flow.enabled), ("trigger: ContactUpdate", false));
    assert_eq!(store.flows().await.expect("list").len(), 1);
    // A flow that cannot be loaded is marked with the reason; storing it again clears the mark.
    assert!(store.set_flow_broken(&id, Some("too deep")).await.expect("mark"));
    let flow = store.flow("welcome").await.expect("read").expect("exists");
    assert_eq!(flow.broken.as_deref(), Some("too deep"));
    store.put_flow("welcome", "trigger: ContactUpdate", false).await.expect("again");
    assert_eq!(store.flows().await.expect("list")[0].broken, None);
    assert!(store.delete_flow("welcome").await.expect("delete"));
    assert!(store.flow("welcome").await.expect("read").is_none());
}

async fn concurrent_claims(store: Store) {
    for n in 0..40 {
        store
            .ingest(&event(&format!("wh-c{n}")), &["flow".to_owned()], None)
            .await
            .expect("ingest");
    }
    let workers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(run) = store.claim(Duration::from_secs(60)).await.expect("claim") {
                mine.push(run.id);
            }
            mine
        })
    });
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40);
    assert_eq!(distinct.len(), 40, "no run was claimed twice");
}
