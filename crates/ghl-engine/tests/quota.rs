//! A spent daily quota is a wait, not a failure: with a sandbox quota smaller than the work,
//! runs wait for the reset, none is dead-lettered, and all complete after it. The sandbox's
//! quota day is shortened, and the client's HighLevel profile learns the same day, as it
//! learns UTC midnight from HighLevel.

#[allow(unused_macros)]
mod support;

use std::time::Duration;

use std::sync::Arc;

use ghl_engine::apps::highlevel::HighLevel;
use ghl_engine::{Apps, EngineConfig};
use ghl_sandbox::SandboxConfig;
use ghl_store::{RunFilter, Store};
use support::World;

/// Requests the sandbox allows per quota day.
const DAILY: u32 = 3;
/// Runs, one request each: more than two days' quota.
const RUNS: usize = 8;
const QUOTA_DAY: Duration = Duration::from_secs(2);

/// A sandbox whose daily quota is `DAILY` requests per `QUOTA_DAY`, and an engine whose
/// HighLevel knows that day.
async fn short_days(store: Store) -> World {
    let sandbox = SandboxConfig {
        rate_limits: ghl_sandbox::RateLimits { burst: 100_000, interval_ms: 10_000, daily: DAILY },
        quota_day: QUOTA_DAY,
        ..support::roomy_sandbox()
    };
    let highlevel =
        HighLevel::default().with_profile(ghl_client::HighLevel { quota_day: QUOTA_DAY });
    let engine = EngineConfig {
        apps: Apps::builtin().with(Arc::new(highlevel)),
        backoff: ghl_client::Backoff::new(Duration::from_millis(10), Duration::from_secs(1)),
        ..EngineConfig::default()
    };
    support::world_with(store, sandbox, engine).await
}

ghl_testkit::on_both!(
    a_spent_daily_quota_makes_runs_wait_for_the_reset_and_none_is_dead_lettered,
    runs_wait_for_the_reset,
    via super::short_days
);

async fn runs_wait_for_the_reset(world: World) {
    world.engine.apply_flow(support::TASK_FLOW).await.expect("flow applies");
    let names: Vec<String> = (0..RUNS).map(|n| format!("Quota{n}")).collect();
    let events = world.contacts_created(&names).await;
    for event in &events {
        world.engine.ingest(event).await.expect("ingest");
    }
    world.drain().await;

    let store = &world.store;
    let runs = store.runs(&RunFilter::default()).await.expect("runs");
    assert_eq!(runs.len(), RUNS);
    let mut waits = 0;
    for run in &runs {
        assert_eq!(run.status, ghl_store::RunStatus::Done, "{:?}", run.last_error);
        for step in store.steps(&run.id).await.expect("steps") {
            match step.status {
                ghl_store::StepStatus::Done => {}
                // A claim that met the spent quota: a wait, recorded as a refusal that changed
                // nothing.
                ghl_store::StepStatus::Refused => {
                    let error = step.error.unwrap_or_default();
                    assert!(error.contains("daily request quota"), "{error}");
                    waits += 1;
                }
                other => panic!("step {other}: {:?}", step.error),
            }
        }
    }
    assert!(waits > 0, "the quota ran out at least once");
    for event in &events {
        let id = event.payload["id"].as_str().expect("id");
        let stored = world.stored_contact(id).await;
        assert_eq!(stored["tasks"].as_array().map(Vec::len), Some(1), "one task each");
    }
}
