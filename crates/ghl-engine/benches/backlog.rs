//! `cargo bench -p ghl-engine --bench backlog`
//!
//! Whether the queue slows down as it grows (issue 9, point 11):
//!
//! 1. Drain: a backlog of 1,000 runs and one of 50,000 runs of a one-step flow (a `util.log`,
//!    so nothing goes over the network and the queue's own cost shows), each drained by 2
//!    workers on a fresh store, on SQLite and on PostgreSQL side by side; reports runs/s and
//!    the ratio of the two rates (the goal is within 20 %). A drain stops after
//!    `DRAIN_CAP_SECS` (300 by default; then the rate is over what it drained).
//! 2. Ingest while workers drain (SQLite): 16 tasks store `ContactCreate` events (with their
//!    `webhookId`, the runaway guard, one run each) as fast as they can for 10 s while 2
//!    workers drain a 20,000-run backlog; reports ingest/s, p50/p99/max and the runs drained.
//!
//! `BACKLOG=n` changes the size of the big backlog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_engine::Engine;
use ghl_store::{NewEvent, Store};
use ghl_testkit::{sqlite_store, TestDb};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SMALL: usize = 1_000;
const BIG: usize = 50_000;
const WORKERS: usize = 2;
/// How long a drain may take at most (`DRAIN_CAP_SECS=n` changes it).
fn drain_cap() -> Duration {
    let secs = std::env::var("DRAIN_CAP_SECS").ok().and_then(|n| n.parse().ok());
    Duration::from_secs(secs.unwrap_or(300))
}
const INGESTERS: usize = 16;
const INGEST_FOR: Duration = Duration::from_secs(10);
const INGEST_BACKLOG: usize = 20_000;

const FLOW: &str = "name: sink\ntrigger:\n  highlevel: ContactCreate\nsteps:\n  - name: log\n    action: util.log\n    input:\n      message: .trigger.id\n";

/// A store on a fresh PostgreSQL schema of the bench's own, and the database to drop at the end.
async fn postgres() -> (Store, TestDb) {
    let db = TestDb::postgres_bench().await;
    (db.store().await, db)
}

/// An engine with the flow and `runs` runs of it waiting.
async fn backlog(store: Store, runs: usize) -> Arc<Engine> {
    let engine = Engine::new(store);
    engine.apply_flow(FLOW).await.expect("flow");
    let loaders = (0..8).map(|loader| {
        let engine = engine.clone();
        tokio::spawn(async move {
            for n in (loader..runs).step_by(8) {
                let trigger = json!({ "id": format!("c{n}"), "firstName": "Bench" });
                engine.run_now("sink", trigger, None).await.expect("enqueue");
            }
        })
    });
    for loader in loaders {
        loader.await.expect("loader");
    }
    engine
}

/// Runs drained per second by `WORKERS` workers, each claiming until nothing is due, and
/// whether the cap stopped it.
async fn drain(engine: Arc<Engine>, store: &Store) -> (f64, usize, bool) {
    let (started, cap) = (Instant::now(), drain_cap());
    let workers = (0..WORKERS).map(|_| {
        let engine = engine.clone();
        tokio::spawn(async move {
            while started.elapsed() < cap && engine.run_next().await.expect("run") {}
        })
    });
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let counts = store.run_counts().await.expect("counts");
    let done = counts
        .iter()
        .find(|(status, _)| *status == ghl_store::RunStatus::Done)
        .map_or(0, |(_, n)| *n) as usize;
    (done as f64 / elapsed.as_secs_f64(), done, elapsed >= cap)
}

async fn drains(label: &str, small: Store, big: Store, big_runs: usize) {
    let (small_rate, small_done, _) = drain(backlog(small.clone(), SMALL).await, &small).await;
    let (big_rate, big_done, capped) = drain(backlog(big.clone(), big_runs).await, &big).await;
    let cap =
        if capped { format!(" (stopped at {} s)", drain_cap().as_secs()) } else { String::new() };
    println!(
        "drain  {label:<8} {SMALL} runs: {small_rate:.0} runs/s ({small_done} done); {big_runs} runs: {big_rate:.0} runs/s ({big_done} done{cap}); big/small {:.2}",
        big_rate / small_rate
    );
}

fn event(n: usize) -> NewEvent {
    let webhook_id = format!("wh-{n}-{}", ghl_store::new_id());
    NewEvent {
        dedup_key: format!("highlevel:{webhook_id}"),
        source: "highlevel".into(),
        event_type: "ContactCreate".into(),
        location_id: Some("loc".into()),
        payload: json!({ "type": "ContactCreate", "locationId": "loc", "id": format!("live-{n}"), "webhookId": webhook_id }),
    }
}

async fn ingest_while_draining(label: &str, store: Store) {
    let engine = backlog(store.clone(), INGEST_BACKLOG).await;
    let shutdown = CancellationToken::new();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(engine.clone().work(shutdown.clone(), Duration::from_millis(5))))
        .collect();
    let started = Instant::now();
    let ingesters = (0..INGESTERS).map(|task| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = task;
            while started.elapsed() < INGEST_FOR {
                let sent = Instant::now();
                engine.ingest(&event(n)).await.expect("ingest");
                latencies.push(sent.elapsed());
                n += INGESTERS;
            }
            latencies
        })
    });
    let mut latencies = Vec::new();
    for ingester in ingesters {
        latencies.extend(ingester.await.expect("ingester"));
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    for worker in workers {
        worker.await.expect("worker");
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let counts = store.run_counts().await.expect("counts");
    let done = counts
        .iter()
        .find(|(status, _)| *status == ghl_store::RunStatus::Done)
        .map_or(0, |(_, n)| *n);
    println!(
        "ingest {label:<8} {INGESTERS} tasks for {} s while {WORKERS} workers drain {INGEST_BACKLOG} runs: {:.0} events/s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; runs drained meanwhile {:.0}/s",
        INGEST_FOR.as_secs(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        done as f64 / elapsed.as_secs_f64(),
    );
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let big = std::env::var("BACKLOG").ok().and_then(|n| n.parse().ok()).unwrap_or(BIG);
    runtime.block_on(async {
        let ((small, _small_db), (large, _large_db)) = (sqlite_store().await, sqlite_store().await);
        drains("sqlite", small, large, big).await;
        let ((small, small_db), (large, large_db)) = (postgres().await, postgres().await);
        drains("postgres", small, large, big).await;
        for db in [small_db, large_db] {
            db.drop_schema().await;
        }
        let (store, _ingest_db) = sqlite_store().await;
        ingest_while_draining("sqlite", store).await;
    });
}
