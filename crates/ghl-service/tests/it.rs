//! The service's rules, on a real SQLite store: one implementation per use case, whichever
//! front end calls it.

use ghl_engine::connections::{save, AuthSecret, ConnectionSecret};
use ghl_engine::EngineConfig;
use ghl_service::connections::Check;
use ghl_service::flows::{FlowToTest, TestMode, TriggerRecord};
use ghl_service::{Service, ServiceError};
use ghl_testkit::sqlite_store;
use ghl_types::remedy::{Listing, Remedy};

const FLOW: &str = "name: tagger\ntrigger:\n  manual: true\nsteps:\n  - name: say\n    action: util.log\n    input:\n      message: '\"hello\"'\n";

#[tokio::test]
async fn removing_a_connection_also_drops_the_client_this_process_holds() {
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store.clone(), EngineConfig::default());
    let engine = service.engine();
    let auth = AuthSecret::PrivateToken {
        token: "pit-secret".into(),
        base_url: "http://127.0.0.1:9".into(),
        account: "loc-1".into(),
    };
    let secret = ConnectionSecret { app: ghl_engine::apps::highlevel::ID, auth };
    save(&store, "crm", &secret, "contacts.readonly").await.expect("saved");
    engine.connections().client("crm").await.expect("a client, now cached");

    service.connections().remove("crm").await.expect("removed");

    let again = engine.connections().client("crm").await.map(|_| ());
    assert!(
        matches!(again, Err(ghl_engine::connections::ConnectionError::Missing(_))),
        "the cached client outlived its connection: {again:?}"
    );
    let gone = service.connections().remove("crm").await;
    assert!(matches!(gone, Err(ServiceError::NoConnection(_))), "{gone:?}");
}

#[tokio::test]
async fn a_missing_connection_is_an_error_with_a_remedy_and_not_a_failed_check() {
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store, EngineConfig::default());
    let err = service.connections().test("nope").await.map(|check| matches!(check, Check::Works));
    let err = err.expect_err("no such connection");
    assert_eq!(err.to_string(), "no connection named `nope`");
    assert_eq!(err.remedy(), Some(Remedy::Choose { from: Listing::Connections }));
}

#[tokio::test]
async fn flows_are_applied_listed_switched_tested_and_deleted_by_name() {
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store, EngineConfig::default());
    let flows = service.flows();
    flows.apply(FLOW).await.expect("applied");
    let names: Vec<String> =
        flows.list().await.expect("listed").into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["tagger"]);
    flows.disable("tagger").await.expect("disabled");
    assert!(!flows.show("tagger").await.expect("shown").enabled);

    let test = FlowToTest::Applied("tagger".into());
    let trigger = TriggerRecord::Given(serde_json::json!({"id": "c1"}));
    let steps = flows.test(test, trigger, TestMode::DryRun).await.expect("tested");
    assert_eq!(steps.len(), 1);

    flows.delete("tagger").await.expect("deleted");
    let missing = flows.delete("tagger").await;
    assert!(matches!(missing, Err(ServiceError::NoFlow(_))), "{missing:?}");
    let run = flows.run_now("tagger", serde_json::json!({}), None).await;
    assert!(matches!(run, Err(ServiceError::NoFlow(_))), "{run:?}");
}

#[tokio::test]
async fn a_refused_flow_file_says_why_and_only_a_dead_run_is_replayed() {
    let (store, _db) = sqlite_store().await;
    let service = Service::new(store, EngineConfig::default());
    let refused = service.flows().apply("name: [").await;
    assert!(matches!(refused, Err(ServiceError::InvalidFlow(_))), "{refused:?}");
    let replay = service.runs().replay(&"no-such-run".into()).await;
    assert!(matches!(replay, Err(ServiceError::NotReplayable(_))), "{replay:?}");
    let shown = service.runs().show(&"no-such-run".into()).await;
    assert!(matches!(shown, Err(ServiceError::NoRun(_))), "{shown:?}");
}
