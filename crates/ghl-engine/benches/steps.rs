//! `cargo bench -p ghl-engine --bench steps`
//!
//! The engine's cost per step: the same runs with a flow of 1 step and of 21 steps (each step
//! a `util.log` whose message is a jq template over the trigger and the earlier steps, so it
//! sends nothing); the difference divided by the 20 extra steps is what one step costs,
//! its durable step record included. On SQLite and on PostgreSQL, side by side, one worker.
//! The same through the test feature, which records nothing, gives the engine's own cost
//! (jq, bookkeeping) without the store.

use std::time::{Duration, Instant};

use ghl_engine::Engine;
use ghl_store::Store;
use ghl_testkit::TestDb;
use serde_json::json;

const RUNS: usize = 300;
const EXTRA_STEPS: usize = 20;

fn flow(name: &str, steps: usize) -> String {
    let mut text = format!("name: {name}\ntrigger:\n  manual: true\nsteps:\n");
    for n in 0..steps {
        text.push_str(&format!(
            "  - name: step {n}\n    action: util.log\n    input:\n      message: 'Hello {{{{ .trigger.firstName }}}} ({{{{ .steps | length }}}} before)'\n"
        ));
    }
    text
}

/// Seconds to run `RUNS` runs of the flow `name` with one worker.
async fn time_runs(engine: &Engine, name: &str) -> Duration {
    for n in 0..RUNS {
        let trigger = json!({ "id": format!("c{n}"), "firstName": format!("Ada{n}") });
        engine.run_now(name, trigger, None).await.expect("enqueue");
    }
    let started = Instant::now();
    while engine.run_next().await.expect("run") {}
    started.elapsed()
}

/// Seconds to test-run the flow `name` `RUNS` times (nothing recorded).
async fn time_tests(engine: &Engine, store: &Store, name: &str) -> Duration {
    let record = store.flow(name).await.expect("store").expect("flow");
    let flow = ghl_engine::flow::Flow::parse(&record.definition).expect("flow");
    let started = Instant::now();
    for n in 0..RUNS {
        let trigger = json!({ "id": format!("c{n}"), "firstName": format!("Ada{n}") });
        engine.test_flow(&flow, trigger, false).await;
    }
    started.elapsed()
}

fn per_step(short: Duration, long: Duration) -> f64 {
    long.saturating_sub(short).as_secs_f64() * 1000.0 / (RUNS * EXTRA_STEPS) as f64
}

async fn measure(label: &str, store: Store) {
    let engine = Engine::new(store.clone());
    engine.apply_flow(&flow("short", 1)).await.expect("flow");
    engine.apply_flow(&flow("long", 1 + EXTRA_STEPS)).await.expect("flow");
    let short = time_runs(&engine, "short").await;
    let long = time_runs(&engine, "long").await;
    println!(
        "{label:<9} {RUNS} runs: 1 step {:.0} runs/s, {} steps {:.0} runs/s; one step costs {:.3} ms (its record included)",
        RUNS as f64 / short.as_secs_f64(),
        1 + EXTRA_STEPS,
        RUNS as f64 / long.as_secs_f64(),
        per_step(short, long)
    );
    let (short, long) =
        (time_tests(&engine, &store, "short").await, time_tests(&engine, &store, "long").await);
    println!(
        "{label:<9} the same as test runs (nothing recorded): one step costs {:.4} ms",
        per_step(short, long)
    );
}

#[tokio::main]
async fn main() {
    for db in [TestDb::sqlite(), TestDb::postgres_bench().await] {
        let label = format!("{:?}", db.backend).to_lowercase();
        measure(&label, db.store().await).await;
        db.drop_schema().await;
    }
}
