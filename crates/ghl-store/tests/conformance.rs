//! The store's behaviour, written once and run on SQLite and on PostgreSQL (the one running on
//! 127.0.0.1:5432, database `test`; each test gets a schema of its own).

use std::time::Duration;

use ghl_store::{
    AuthKind, ConnectionId, ConnectionStatus, ConnectionSummary, FlowId, FlowStatus, IngestOutcome,
    MasterKey, NewEvent, NewUiSession, OwnWrite, RunFilter, RunId, RunOutcome, StepRecord,
    StepStatus, Store, Target, Timestamp,
};
use serde_json::json;

use ghl_testkit::{on_both, TestDb};

on_both!(connections_keep_secrets_encrypted_and_replaceable, connections);
on_both!(an_event_is_stored_once_with_its_runs, ingest);
on_both!(runs_are_claimed_once_retried_and_dead_lettered, queue);
on_both!(a_step_and_its_effect_are_recorded_together, steps_and_effects);
on_both!(flows_are_stored_by_name, flows);
on_both!(concurrent_workers_never_claim_the_same_run, concurrent_claims);
on_both!(a_batch_claim_never_hands_one_run_to_two_claimers, batch_claims);
on_both!(a_batchs_expired_leases_are_claimed_again_and_renewed_ones_not, batch_leases);
on_both!(finished_and_not_yet_due_runs_are_not_claimable, finished_runs);
on_both!(a_webhook_id_is_remembered_even_when_its_event_is_known, webhook_ids);
on_both!(heartbeats_tell_whether_a_server_works_on_the_store, heartbeats);
on_both!(learned_webhook_keys_go_with_their_connection, learned_webhook_keys);
on_both!(added_apps_are_kept_as_written_replaced_by_id_and_removed, added_apps);
on_both!(ui_users_are_unique_by_name_and_take_their_sessions_when_removed, ui_users);
on_both!(a_ui_session_is_found_by_its_token_hash_until_it_ends, ui_sessions);

on_both!(a_store_opened_with_another_key_is_refused_and_left_unchanged, wrong_key, with_db);
on_both!(runs_are_listed_with_their_flow_and_trigger_by_flow_and_by_time, runs_by_flow);
on_both!(an_echo_of_a_flows_own_write_runs_it_not_and_a_runaway_flow_is_paused, guards);
on_both!(concurrent_deliveries_of_one_event_store_it_once, concurrent_deliveries, multi_thread);
on_both!(an_ingest_cut_short_leaves_the_store_writable, cut_short, multi_thread);
on_both!(finished_runs_and_arrived_events_are_counted_per_time_bucket, series);
on_both!(the_queue_is_counted_by_status_and_due_runs_apart, queue_depth);
on_both!(changed_runs_are_read_in_the_order_they_changed_from_a_cursor, run_changes);
on_both!(the_last_event_of_a_type_is_read_back_with_its_payload, last_event);

fn summary(name: &str) -> ConnectionSummary {
    ConnectionSummary {
        id: ConnectionId::new(),
        name: name.into(),
        app: "highlevel".into(),
        location_id: Some("loc1".into()),
        auth_kind: AuthKind::Oauth,
        scopes: "contacts.readonly".into(),
        status: ConnectionStatus::Connected,
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
    assert!(!read.summary.id.as_str().is_empty());
    let rotated = json!({ "access_token": "at-2", "refresh_token": "rt-2" });
    assert!(store.replace_secret("hl", &rotated).await.expect("replace"));
    assert_eq!(store.connection("hl").await.expect("read").expect("exists").secret, rotated);
    assert!(store
        .set_connection_status(
            "hl",
            ConnectionStatus::ReconnectNeeded,
            Some("refresh token revoked")
        )
        .await
        .expect("status"));
    let listed = store.connections().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, ghl_store::ConnectionStatus::ReconnectNeeded);
    assert!(store.remove_connection("hl").await.expect("remove"));
    assert!(store.connection("hl").await.expect("read").is_none());
}

async fn ingest(store: Store) {
    let flows = vec![FlowId::from("flow-a"), FlowId::from("flow-b")];
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

async fn runs_by_flow(store: Store) {
    let welcome = store.put_flow("welcome", "trigger: {}", true).await.expect("flow");
    let other = store.put_flow("other", "trigger: {}", true).await.expect("flow");
    store.ingest(&event("wh-f1"), &[welcome.clone(), other], None).await.expect("ingest");
    store.ingest(&event("wh-f2"), std::slice::from_ref(&welcome), None).await.expect("ingest");
    let filter = RunFilter { flow: Some("welcome".into()), ..RunFilter::default() };
    let runs = store.runs(&filter).await.expect("runs");
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(
            (run.flow_id.as_str(), run.flow_name.as_deref()),
            (welcome.as_str(), Some("welcome"))
        );
        assert_eq!(run.trigger.as_deref(), Some("ContactCreate"));
    }
    let filter = RunFilter {
        flow: Some("welcome".into()),
        status: Some(ghl_store::RunStatus::Dead),
        limit: 10,
        ..RunFilter::default()
    };
    assert!(store.runs(&filter).await.expect("runs").is_empty(), "both filters apply");
    let shown = store.run(&runs[0].id).await.expect("run").expect("exists");
    assert_eq!(shown.flow_name.as_deref(), Some("welcome"));
    let filter = RunFilter { flow: Some("nobody".into()), ..RunFilter::default() };
    assert!(store.runs(&filter).await.expect("runs").is_empty());

    // By the time they began: from a time on (inclusive), before a time (exclusive).
    let all = store.runs(&RunFilter::default()).await.expect("runs");
    let newest = all.iter().map(|run| run.created_at).max().expect("runs");
    let oldest = all.iter().map(|run| run.created_at).min().expect("runs");
    let at_newest = all.iter().filter(|run| run.created_at == newest).count();
    let window = RunFilter {
        created_from: Some(newest),
        created_before: Some(newest + Duration::from_millis(1)),
        ..RunFilter::default()
    };
    let found = store.runs(&window).await.expect("runs");
    assert_eq!(found.len(), at_newest, "the runs of that millisecond");
    assert!(found.iter().all(|run| run.created_at == newest));
    let before_all = RunFilter { created_before: Some(oldest), ..RunFilter::default() };
    assert!(store.runs(&before_all).await.expect("runs").is_empty(), "the end is exclusive");
    let from_oldest = RunFilter {
        created_from: Some(oldest),
        flow: Some("welcome".into()),
        ..RunFilter::default()
    };
    assert_eq!(store.runs(&from_oldest).await.expect("runs").len(), 2, "with the flow's filter");
}

async fn queue(store: Store) {
    store.ingest(&event("wh-q"), &[FlowId::from("flow")], None).await.expect("ingest");
    let claimed = store.claim(Duration::from_secs(30)).await.expect("claim").expect("a run");
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.payload["id"], "wh-q");
    assert!(
        store.claim(Duration::from_secs(30)).await.expect("claim").is_none(),
        "claimed runs are not claimed twice"
    );

    let past = Timestamp::now() - Duration::from_millis(1);
    store
        .finish(
            &claimed.id,
            claimed.attempt,
            &RunOutcome::RetryAt { at: past, error: "HTTP 503".into() },
        )
        .await
        .expect("retry");
    let again = store.claim(Duration::from_secs(30)).await.expect("claim").expect("due again");
    assert_eq!(again.attempt, 2);
    store
        .finish(&again.id, again.attempt, &RunOutcome::Dead { error: "gave up".into() })
        .await
        .expect("dead");
    assert!(store.claim(Duration::from_secs(30)).await.expect("claim").is_none());
    let dead = store
        .runs(&RunFilter {
            status: Some(ghl_store::RunStatus::Dead),
            flow: None,
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .expect("dead runs");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));

    assert!(store.replay(&again.id).await.expect("replay"));
    assert!(!store.replay(&again.id).await.expect("replay twice"), "only a dead run replays");
    let replayed = store.claim(Duration::from_secs(30)).await.expect("claim").expect("replayed");
    store.finish(&replayed.id, replayed.attempt, &RunOutcome::Done).await.expect("done");
    assert_eq!(
        store.run(&replayed.id).await.expect("run").expect("exists").status,
        ghl_store::RunStatus::Done
    );

    // A worker that dies leaves its run leased; when the lease runs out, another claims it.
    store.ingest(&event("wh-lease"), &[FlowId::from("flow")], None).await.expect("ingest");
    let leased = store.claim(Duration::from_millis(1)).await.expect("claim").expect("run");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reclaimed =
        store.claim(Duration::from_secs(30)).await.expect("claim").expect("lease expired");
    assert_eq!(reclaimed.id, leased.id);
    assert_eq!(reclaimed.attempt, 2);
}

async fn steps_and_effects(store: Store) {
    store.ingest(&event("wh-s"), &[FlowId::from("flow")], None).await.expect("ingest");
    let run = store.claim(Duration::from_secs(30)).await.expect("claim").expect("run");
    let step = StepRecord {
        run_id: run.id.clone(),
        attempt: 1,
        step_index: 0,
        name: "create task".into(),
        status: StepStatus::Done,
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

/// Ingests `count` events (`{prefix}0`, `{prefix}1`, ...), each enqueueing one run of `flow`.
async fn enqueue(store: &Store, prefix: &str, count: usize) {
    for n in 0..count {
        store
            .ingest(&event(&format!("{prefix}{n}")), &[FlowId::from("flow")], None)
            .await
            .expect("ingest");
    }
}

/// The runs the `workers` claimed are `count` in all, none of them twice.
async fn each_claimed_once(
    workers: impl Iterator<Item = tokio::task::JoinHandle<Vec<RunId>>>,
    count: usize,
    why: &str,
) {
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), count);
    assert_eq!(distinct.len(), count, "{why}");
}

async fn concurrent_claims(store: Store) {
    enqueue(&store, "wh-c", 40).await;
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
    each_claimed_once(workers, 40, "no run was claimed twice").await;
}

async fn batch_claims(store: Store) {
    enqueue(&store, "wh-b", 60).await;
    let workers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_batch(7, Duration::from_secs(60)).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                assert!(batch.len() <= 7, "a batch holds at most what was asked");
                mine.extend(batch.into_iter().map(|run| run.id));
            }
        })
    });
    each_claimed_once(workers, 60, "no run was handed to two claimers").await;
}

async fn batch_leases(store: Store) {
    enqueue(&store, "wh-l", 3).await;
    // A worker that dies with a batch: once the lease runs out, its runs are claimed again,
    // before the runs that are merely due.
    let dead_worker = store.claim_batch(2, Duration::from_millis(1)).await.expect("claim");
    assert_eq!(dead_worker.len(), 2);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let next = store.claim_batch(10, Duration::from_secs(30)).await.expect("claim");
    let ids =
        |runs: &[ghl_store::ClaimedRun]| runs.iter().map(|run| run.id.clone()).collect::<Vec<_>>();
    assert_eq!(next.len(), 3, "the two expired and the one due");
    assert_eq!(
        ids(&next[..2]).iter().collect::<std::collections::HashSet<_>>(),
        ids(&dead_worker).iter().collect()
    );
    assert_eq!(next.iter().map(|run| run.attempt).collect::<Vec<_>>(), [2, 2, 1]);
    // The first worker was only slow: its claims ran out, so it renews nothing and records no
    // outcome of those runs; they are the new claims' (a fence by attempt).
    let claims = |runs: &[ghl_store::ClaimedRun]| {
        runs.iter().map(|run| (run.id.clone(), run.attempt)).collect::<Vec<_>>()
    };
    let stale = claims(&dead_worker);
    let renewed = store.extend_leases(&stale, Duration::from_secs(30)).await.expect("renew");
    assert!(renewed.is_empty(), "a lapsed claim is not renewed: {renewed:?}");
    let late = store.finish(&dead_worker[0].id, dead_worker[0].attempt, &RunOutcome::Done).await;
    assert!(matches!(late, Err(ghl_store::Error::ClaimLost(_))), "{late:?}");
    let run = store.run(&dead_worker[0].id).await.expect("run").expect("exists");
    assert_eq!(run.status, ghl_store::RunStatus::Running, "the new claim's, untouched");
    assert!(store.claim_batch(10, Duration::from_secs(30)).await.expect("claim").is_empty());

    // A live worker renews its batch's leases: nothing of it is claimed by another.
    let held = ids(&next);
    for run in &next {
        store
            .finish(
                &run.id,
                run.attempt,
                &RunOutcome::RetryAt { at: Timestamp::EPOCH, error: "again".into() },
            )
            .await
            .expect("retry");
    }
    let batch = store.claim_batch(10, Duration::from_millis(1)).await.expect("claim");
    assert_eq!(ids(&batch).len(), held.len());
    let renewed =
        store.extend_leases(&claims(&batch), Duration::from_secs(30)).await.expect("renew");
    assert_eq!(renewed.len(), 3);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(store.claim_batch(10, Duration::from_secs(30)).await.expect("claim").is_empty());

    // A stopping worker gives back what it did not start: due at once, the attempt not counted.
    assert_eq!(store.release(&ids(&batch[1..])).await.expect("release"), 2);
    let again = store.claim_batch(10, Duration::from_secs(30)).await.expect("claim");
    assert_eq!(
        ids(&again).iter().collect::<std::collections::HashSet<_>>(),
        ids(&batch[1..]).iter().collect()
    );
    for run in &again {
        let before = batch.iter().find(|claimed| claimed.id == run.id).expect("released run");
        assert_eq!(run.attempt, before.attempt, "a released claim does not count as an attempt");
    }
}

async fn finished_runs(store: Store) {
    enqueue(&store, "wh-f", 6).await;
    let batch = store.claim_batch(6, Duration::from_secs(30)).await.expect("claim");
    assert_eq!(batch.len(), 6);
    let later = Timestamp::now() + Duration::from_secs(60);
    let outcomes = [
        RunOutcome::Done,
        RunOutcome::Skipped,
        RunOutcome::Dead { error: "gave up".into() },
        RunOutcome::WaitUntil { at: later, reason: None },
        RunOutcome::RetryAt { at: later, error: "HTTP 503".into() },
        RunOutcome::WaitUntil { at: Timestamp::EPOCH, reason: None },
    ];
    for (run, outcome) in batch.iter().zip(&outcomes) {
        store.finish(&run.id, run.attempt, outcome).await.expect("finish");
    }
    let claimable = store.claim_batch(10, Duration::from_secs(30)).await.expect("claim");
    assert_eq!(claimable.len(), 1, "done, skipped, dead and not yet due runs are not claimable");
    assert_eq!(claimable[0].id, batch[5].id, "a wait that is over is");
    assert_eq!(claimable[0].waits, 1);
}

async fn wrong_key(db: TestDb) {
    let url = db.url.as_str();
    let key = MasterKey::generate();
    let store = Store::open(url, &key).await.expect("created with key A");
    store.put_connection(&summary("hl"), &json!({ "token": "t" })).await.expect("put");
    drop(store);
    let refused = Store::open(url, &MasterKey::generate()).await.err();
    assert!(matches!(refused, Some(ghl_store::Error::WrongKey)), "{refused:?}");
    let again = Store::open(url, &key).await.expect("key A still opens it");
    let connection = again.connection("hl").await.expect("read").expect("the connection is there");
    assert_eq!(connection.secret, json!({ "token": "t" }), "nothing changed");

    // A store from before the check (no check value yet) is judged by its secrets.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("pool");
    sqlx::query("DELETE FROM key_check").execute(&pool).await.expect("forget the check");
    let refused = Store::open(url, &MasterKey::generate()).await.err();
    assert!(matches!(refused, Some(ghl_store::Error::WrongKey)), "{refused:?}");
    Store::open(url, &key).await.expect("key A opens it and writes the check again");
}

fn delivery(webhook_id: &str, contact: &str) -> NewEvent {
    NewEvent {
        dedup_key: format!("highlevel:ContactCreate:loc1:{contact}"),
        source: "highlevel".into(),
        event_type: "ContactCreate".into(),
        location_id: Some("loc1".into()),
        payload: json!({ "type": "ContactCreate", "id": contact, "webhookId": webhook_id }),
    }
}

async fn webhook_ids(store: Store) {
    let flows = vec![FlowId::from("f1")];
    let first = store.ingest(&delivery("w-1", "c-1"), &flows, None).await.expect("ingest");
    assert!(matches!(first, IngestOutcome::Stored { .. }));
    // The same contact under another delivery id is the same event; the id is remembered.
    let again = store.ingest(&delivery("w-2", "c-1"), &flows, None).await.expect("ingest");
    assert_eq!(again, IngestOutcome::Duplicate);
    // A delivery id seen before is a replay, whatever its event's key says.
    let replay = store.ingest(&delivery("w-2", "c-2"), &flows, None).await.expect("ingest");
    assert_eq!(replay, IngestOutcome::Duplicate);
    let fresh = store.ingest(&delivery("w-3", "c-2"), &flows, None).await.expect("ingest");
    assert!(matches!(fresh, IngestOutcome::Stored { .. }));
    let runs = store
        .runs(&RunFilter { status: None, flow: None, limit: 10, ..RunFilter::default() })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 2, "one run per new event");
}

async fn heartbeats(store: Store) {
    let window = Duration::from_secs(60);
    assert_eq!(store.live_workers(window).await.expect("count"), 0);
    let beat = ghl_store::WorkerBeat { id: "w1", pid: 7, started_at: Timestamp::from_millis(1) };
    store.heartbeat(&beat).await.expect("beat");
    store.heartbeat(&beat).await.expect("beat again");
    assert_eq!(store.live_workers(window).await.expect("count"), 1);
    store.worker_gone("w1").await.expect("gone");
    assert_eq!(store.live_workers(window).await.expect("count"), 0);
}

async fn learned_webhook_keys(store: Store) {
    let keys = ghl_store::LearnedWebhookKeys {
        connection: "hl".into(),
        origin: "http://127.0.0.1:1".into(),
        ed25519: Some("MCowBQYDK2VwAyEA".into()),
        rsa_pem: None,
    };
    assert!(!store.put_webhook_keys(&keys).await.expect("put"), "no such connection yet");
    store.put_connection(&summary("hl"), &json!({})).await.expect("put");
    assert!(store.put_webhook_keys(&keys).await.expect("put"));
    assert!(store.put_webhook_keys(&keys).await.expect("put again"));
    assert_eq!(store.webhook_keys().await.expect("keys"), vec![keys]);
    assert!(store.remove_connection("hl").await.expect("remove"));
    assert!(store.webhook_keys().await.expect("keys").is_empty(), "removed with the connection");
}

#[tokio::test]
async fn an_unreachable_database_fails_quickly_naming_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("sqlite:{}", dir.path().join("no/such/dir/x.db").display());
    let err = Store::open(&missing, &MasterKey::generate()).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains(&missing) && text.contains("folder"), "{text}");
    let nobody = "postgres://app:s3cret@127.0.0.1:9/test";
    let err = Store::open(nobody, &MasterKey::generate()).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("postgres://app:[redacted]@127.0.0.1:9/test"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

fn update(key: &str, first_name: &str) -> NewEvent {
    NewEvent {
        dedup_key: key.into(),
        source: "highlevel".into(),
        event_type: "ContactUpdate".into(),
        location_id: Some("loc1".into()),
        payload: json!({ "type": "ContactUpdate", "id": "c1", "firstName": first_name }),
    }
}

async fn guards(store: Store) {
    let flow = store.put_flow("stamp", "definition", true).await.expect("flow");
    let guarded =
        [Target { flow_id: flow.clone(), skip_own_echoes: true, runs_per_minute_limit: Some(3) }];
    let step = StepRecord {
        run_id: "r1".into(),
        attempt: 1,
        step_index: 0,
        name: "stamp".into(),
        status: StepStatus::Done,
        input: None,
        request: None,
        response: None,
        error: None,
        duration_ms: 1,
    };
    let write = OwnWrite {
        effect_key: "r1:0".into(),
        flow_id: flow.clone(),
        record_id: "c1".into(),
        event_type: "ContactUpdate".into(),
        record: json!({ "id": "c1", "firstName": "Ada", "lastName": "Stamped" }),
    };
    store.record_write(&step, Some(("r1:0", &json!({}))), &[write]).await.expect("write");
    let outcome = |outcome: IngestOutcome| match outcome {
        IngestOutcome::Stored { run_ids, echoes, paused, .. } => {
            (run_ids.len(), echoes.len(), paused.len())
        }
        IngestOutcome::Duplicate => panic!("stored"),
    };
    // An event that shows something else is no echo; the echo is one, once.
    let other = store.ingest_for(&update("e1", "Grace"), &guarded, None).await.expect("ingest");
    assert_eq!(outcome(other), (1, 0, 0));
    let echo = store.ingest_for(&update("e2", "Ada"), &guarded, None).await.expect("ingest");
    assert_eq!(outcome(echo), (0, 1, 0));
    let again = store.ingest_for(&update("e3", "Ada"), &guarded, None).await.expect("ingest");
    assert_eq!(outcome(again), (1, 0, 0), "a write is echoed once");

    // Three runs of c1 within the minute: the fourth event pauses the flow instead.
    store.ingest_for(&update("e4", "Bob"), &guarded, None).await.expect("ingest");
    let runaway = store.ingest_for(&update("e5", "Cy"), &guarded, None).await.expect("ingest");
    assert_eq!(outcome(runaway), (0, 0, 1));
    let paused = store.flow("stamp").await.expect("read").expect("exists");
    assert_eq!(paused.status, FlowStatus::Paused);
    assert!(paused.paused_reason.as_deref().is_some_and(|reason| reason.contains("c1")));
    assert!(store.set_flow_enabled("stamp", true).await.expect("enable"));
    let resumed = store.flow("stamp").await.expect("read").expect("exists");
    assert_eq!((resumed.status, resumed.paused_reason), (FlowStatus::Enabled, None));
    let runs = store
        .runs(&RunFilter { status: None, flow: None, limit: 100, ..RunFilter::default() })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 3);
}

async fn added_apps(store: Store) {
    let first = "app: mine\n# as the user wrote it\n";
    assert!(!store.put_added_app("mine", first).await.expect("add"), "nothing was replaced");
    assert!(!store.put_added_app("other", "app: other\n").await.expect("add"));
    let second = "app: mine\ntitle: Mine, again\n";
    assert!(store.put_added_app("mine", second).await.expect("add"), "the first was replaced");

    let added = store.added_apps().await.expect("list");
    let texts: Vec<(&str, &str)> =
        added.iter().map(|app| (app.id.as_str(), app.manifest.as_str())).collect();
    assert_eq!(texts, [("mine", second), ("other", "app: other\n")]);

    assert!(store.remove_added_app("mine").await.expect("remove"));
    assert!(!store.remove_added_app("mine").await.expect("remove again"), "already gone");
    let left: Vec<String> =
        store.added_apps().await.expect("list").into_iter().map(|app| app.id).collect();
    assert_eq!(left, ["other"]);
}

/// Deliveries racing each other: one stores the event and its run; every delivery id is
/// remembered, so a replay of any of them is refused.
async fn concurrent_deliveries(store: Store) {
    let flows = [FlowId::from("f1")];
    let deliveries = (0..16).map(|n| {
        let store = store.clone();
        let flows = flows.clone();
        // Half of them resend one delivery, the others send new ids for the same contact.
        let webhook_id = if n % 2 == 0 { "w-same".to_owned() } else { format!("w-{n}") };
        tokio::spawn(async move {
            store.ingest(&delivery(&webhook_id, "c-1"), &flows, None).await.expect("ingest")
        })
    });
    let mut stored = 0;
    for delivery in deliveries.collect::<Vec<_>>() {
        if let IngestOutcome::Stored { run_ids, .. } = delivery.await.expect("task") {
            assert_eq!(run_ids.len(), 1);
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "one event, stored once");
    for webhook_id in ["w-same", "w-1", "w-15"] {
        let replay =
            store.ingest(&delivery(webhook_id, "c-2"), &flows, None).await.expect("ingest");
        assert_eq!(replay, IngestOutcome::Duplicate, "{webhook_id} is remembered");
    }
    let runs = store
        .runs(&RunFilter { status: None, flow: None, limit: 100, ..RunFilter::default() })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1);
}

/// Ingests abandoned at every point (a caller's timeout) neither store half an event nor
/// leave a transaction open: every later write goes through, and each event has its run.
async fn cut_short(store: Store) {
    let flows = [FlowId::from("f1")];
    for n in 0..40u64 {
        let event = event(&format!("cut-{n}"));
        let _ =
            tokio::time::timeout(Duration::from_micros(n * 25), store.ingest(&event, &flows, None))
                .await;
    }
    for n in 0..40 {
        // Each either was stored or is stored now, with its one run.
        let event = event(&format!("cut-{n}"));
        store.ingest(&event, &flows, None).await.expect("the store takes writes");
    }
    let runs = store
        .runs(&RunFilter { status: None, flow: None, limit: 100, ..RunFilter::default() })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 40, "one run per event, none lost, none twice");
}

async fn ui_users(store: Store) {
    assert!(store.add_user("ada", "$argon2id$hash-1").await.expect("add"));
    assert!(!store.add_user("ada", "$argon2id$hash-2").await.expect("add again"));
    let ada = store.user("ada").await.expect("read").expect("exists");
    assert_eq!(ada.password_hash, "$argon2id$hash-1", "a taken name changes nothing");
    assert!(store.add_user("bob", "$argon2id$hash-3").await.expect("add"));
    let names: Vec<String> =
        store.users().await.expect("list").into_iter().map(|user| user.name).collect();
    assert_eq!(names, ["ada", "bob"]);

    let now = Timestamp::now();
    let session = |token_hash| NewUiSession {
        token_hash,
        user_id: &ada.id,
        csrf_token: "csrf",
        created_at: now,
        expires_at: now + Duration::from_secs(60),
    };
    store.put_ui_session(&session("h1")).await.expect("session");
    store.put_ui_session(&session("h2")).await.expect("session");
    assert!(store.remove_user("ada").await.expect("remove"));
    assert!(!store.remove_user("ada").await.expect("remove again"));
    assert!(store.user("ada").await.expect("read").is_none());
    assert_eq!(store.ui_session_count().await.expect("count"), 0, "her sessions went with her");
    assert!(store.ui_session("h1", now).await.expect("read").is_none());
}

async fn ui_sessions(store: Store) {
    assert!(store.add_user("ada", "$argon2id$hash").await.expect("add"));
    let ada = store.user("ada").await.expect("read").expect("exists");
    let now = Timestamp::now();
    let new = NewUiSession {
        token_hash: "aa11",
        user_id: &ada.id,
        csrf_token: "csrf-1",
        created_at: now,
        expires_at: now + Duration::from_secs(60),
    };
    store.put_ui_session(&new).await.expect("put");
    let found = store.ui_session("aa11", now).await.expect("read").expect("found");
    assert_eq!(found.user_name, "ada");
    assert_eq!(found.csrf_token, "csrf-1");
    assert_eq!(found.expires_at, now + Duration::from_secs(60));
    assert!(store.ui_session("bb22", now).await.expect("read").is_none(), "another hash");
    let later = now + Duration::from_secs(60);
    assert!(store.ui_session("aa11", later).await.expect("read").is_none(), "ended");

    assert!(store.extend_ui_session("aa11", now + Duration::from_secs(120)).await.expect("move"));
    assert!(store.ui_session("aa11", later).await.expect("read").is_some(), "moved on");
    assert!(!store.extend_ui_session("bb22", later).await.expect("move none"));

    let ended = NewUiSession { token_hash: "cc33", expires_at: now, ..new };
    store.put_ui_session(&ended).await.expect("put");
    assert_eq!(store.remove_ended_ui_sessions(now).await.expect("sweep"), 1);
    assert_eq!(store.ui_session_count().await.expect("count"), 1);
    assert!(store.remove_ui_session("aa11").await.expect("end"));
    assert!(!store.remove_ui_session("aa11").await.expect("end again"));
    assert_eq!(store.ui_session_count().await.expect("count"), 0);
}

async fn series(store: Store) {
    enqueue(&store, "wh-s", 4).await;
    let other =
        NewEvent { source: "schedule".into(), event_type: "schedule".into(), ..event("tick") };
    store.ingest(&other, &[], None).await.expect("ingest");
    let batch = store.claim_batch(4, Duration::from_secs(30)).await.expect("claim");
    let outcomes = [
        RunOutcome::Done,
        RunOutcome::Done,
        RunOutcome::Dead { error: "gave up".into() },
        RunOutcome::RetryAt { at: Timestamp::now(), error: "HTTP 503".into() },
    ];
    for (run, outcome) in batch.iter().zip(&outcomes) {
        store.finish(&run.id, run.attempt, outcome).await.expect("finish");
    }
    let runs = store.runs(&RunFilter::default()).await.expect("runs");
    let first = runs.iter().map(|run| run.updated_at).min().expect("runs");
    // Two buckets of a minute, the runs in the first half of the first or the second.
    let buckets = ghl_store::Buckets {
        start: first.saturating_sub(Duration::from_secs(30)),
        width: Duration::from_secs(60),
        count: 2,
    };
    let bucket_of = |time: Timestamp| {
        usize::try_from(time.since(buckets.start).as_millis() / 60_000).expect("small")
    };
    let mut expected = std::collections::BTreeMap::new();
    for run in runs.iter().filter(|run| run.status.has_ended()) {
        *expected.entry((bucket_of(run.updated_at), run.status.as_str())).or_insert(0) += 1;
    }
    let counted: std::collections::BTreeMap<_, _> = store
        .finished_runs(&buckets)
        .await
        .expect("finished")
        .into_iter()
        .map(|count| ((count.bucket, count.status.as_str()), count.runs))
        .collect();
    assert_eq!(counted, expected, "a retry is not finished");
    assert_eq!(counted.values().sum::<i64>(), 3);
    let arrived = store.arrived_events(&buckets).await.expect("arrived");
    let per_source = |source: &str| -> i64 {
        arrived.iter().filter(|count| count.source == source).map(|count| count.events).sum()
    };
    assert_eq!((per_source("highlevel"), per_source("schedule")), (4, 1));
    let before = ghl_store::Buckets { start: Timestamp::EPOCH, ..buckets };
    assert!(store.finished_runs(&before).await.expect("finished").is_empty());
    assert!(store.arrived_events(&before).await.expect("arrived").is_empty());
}

async fn queue_depth(store: Store) {
    enqueue(&store, "wh-d", 5).await;
    let batch = store.claim_batch(4, Duration::from_secs(30)).await.expect("claim");
    let later = Timestamp::now() + Duration::from_secs(600);
    store
        .finish(&batch[0].id, batch[0].attempt, &RunOutcome::Dead { error: "no".into() })
        .await
        .expect("dead");
    store
        .finish(&batch[1].id, batch[1].attempt, &RunOutcome::WaitUntil { at: later, reason: None })
        .await
        .expect("wait");
    store
        .finish(
            &batch[2].id,
            batch[2].attempt,
            &RunOutcome::RetryAt { at: later, error: "503".into() },
        )
        .await
        .expect("retry");
    let depth = store.queue_depth(Timestamp::now()).await.expect("depth");
    assert_eq!(
        depth,
        ghl_store::QueueDepth { queued: 2, waiting: 1, running: 1, due: 1, dead: 1 },
        "the one never claimed is due; the retry and the wait are not yet"
    );
}

async fn run_changes(store: Store) {
    let start = ghl_store::RunChange::at(Timestamp::now().saturating_sub(Duration::from_secs(1)));
    let welcome = store.put_flow("welcome", "trigger: {}", true).await.expect("flow");
    for key in ["wh-c1", "wh-c2", "wh-c3"] {
        store.ingest(&event(key), std::slice::from_ref(&welcome), None).await.expect("ingest");
    }
    let all = RunFilter::default();
    let created = store.runs_changed_after(&start, &all, 10).await.expect("changes");
    assert_eq!(created.len(), 3);
    assert!(created.iter().all(|run| run.status == ghl_store::RunStatus::Queued));
    // Paging two at a time reads each once, in order.
    let page = store.runs_changed_after(&start, &all, 2).await.expect("page");
    let rest =
        store.runs_changed_after(&ghl_store::RunChange::of(&page[1]), &all, 2).await.expect("rest");
    let paged: Vec<_> = page.iter().chain(&rest).map(|run| run.id.clone()).collect();
    assert_eq!(paged, created.iter().map(|run| run.id.clone()).collect::<Vec<_>>());
    let last = ghl_store::RunChange::of(created.last().expect("three"));
    assert!(store.runs_changed_after(&last, &all, 10).await.expect("none").is_empty());
    // Claiming and finishing are changes.
    let claimed = store.claim(Duration::from_secs(30)).await.expect("claim").expect("a run");
    store.finish(&claimed.id, claimed.attempt, &RunOutcome::Done).await.expect("finish");
    let changed = store.runs_changed_after(&last, &all, 10).await.expect("changes");
    assert_eq!(changed.len(), 1);
    assert_eq!((&changed[0].id, changed[0].status), (&claimed.id, ghl_store::RunStatus::Done));
    let done = RunFilter { status: Some(ghl_store::RunStatus::Done), ..RunFilter::default() };
    assert_eq!(store.runs_changed_after(&start, &done, 10).await.expect("done").len(), 1);
    let other = RunFilter { flow: Some("other".into()), ..RunFilter::default() };
    assert!(store.runs_changed_after(&start, &other, 10).await.expect("other").is_empty());
}

async fn last_event(store: Store) {
    assert!(store.last_event("highlevel", "ContactCreate").await.expect("none").is_none());
    store.ingest(&event("wh-l1"), &[], None).await.expect("ingest");
    store.ingest(&event("wh-l2"), &[], None).await.expect("ingest");
    let last = store.last_event("highlevel", "ContactCreate").await.expect("read").expect("one");
    assert!(["wh-l1", "wh-l2"].contains(&last.payload["id"].as_str().unwrap_or_default()));
    assert_eq!(last.event_type, "ContactCreate");
    assert!(store.last_event("your-app", "ContactCreate").await.expect("other").is_none());
}
