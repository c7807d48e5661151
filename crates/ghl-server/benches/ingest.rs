//! `cargo bench -p ghl-server --bench ingest`
//!
//! 1. Webhook ingest: distinct Ed25519-signed ContactCreate webhooks POSTed by 32 concurrent
//!    clients on loopback; each is verified and stored (event + run) before its 200. On
//!    SQLite and on PostgreSQL, side by side. Reports requests/s and latency percentiles.
//! 2. End to end: a one-step flow (create a note in the sandbox) for 1,000 stored events,
//!    2 workers; reports runs/s.
//!
//! Peak memory (VmHWM) of the whole bench process is printed last.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::Signer;
use futures_util::stream::{self, StreamExt};
use ghl_engine::apps::highlevel::verify::TrustedKeys;
use ghl_engine::apps::highlevel::HighLevel;
use ghl_engine::connections::save_private_token;
use ghl_engine::{Apps, EngineConfig};
use ghl_server::{serve, ServerConfig};
use ghl_service::Service;
use ghl_store::Store;
use ghl_testkit::{sqlite_store, TestDb, TestSandbox};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const WEBHOOKS: usize = 20_000;
const CONCURRENCY: usize = 32;
const E2E_RUNS: usize = 1_000;

const INGEST_FLOW: &str = "name: count\ntrigger:\n  highlevel: ContactCreate\nsteps:\n  - name: log\n    action: util.log\n    input:\n      message: .trigger.id\n";

/// A store on a PostgreSQL schema of the bench's own, and the database to drop at the end.
async fn postgres() -> (Store, TestDb) {
    let db = TestDb::postgres_bench().await;
    (db.store().await, db)
}

struct Signer25519 {
    key: ed25519_dalek::SigningKey,
}

impl Signer25519 {
    /// The use cases over `store`, with a HighLevel that trusts this signer's key.
    fn service(&self, store: Store) -> Service {
        let der = self.key.verifying_key().to_public_key_der().expect("der");
        let key = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let keys = TrustedKeys::new(Some(&key), None).expect("keys");
        let highlevel = HighLevel::default().with_webhook_keys(keys);
        let apps = Apps::builtin().with(Arc::new(highlevel));
        Service::new(store, EngineConfig { apps, ..EngineConfig::default() })
    }

    fn signed(&self, n: usize, prefix: &str) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(&json!({
            "type": "ContactCreate", "locationId": "loc", "id": format!("{prefix}-contact-{n}"),
            "firstName": "Bench", "webhookId": format!("{prefix}-{n}"), "timestamp": chrono::Utc::now().to_rfc3339(),
        }))
        .expect("json");
        let signature =
            base64::engine::general_purpose::STANDARD.encode(self.key.sign(&body).to_bytes());
        (body, signature)
    }
}

async fn start_server(service: Service, workers: usize, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let config = ServerConfig {
        admin_token: "bench-admin-token-0000".into(),
        workers,
        worker_idle: Duration::from_millis(5),
    };
    tokio::spawn(serve(service, config, listener, shutdown.clone()));
    url
}

async fn ingest(label: &str, store: Store, signer: &Signer25519) {
    let service = signer.service(store);
    service.flows().apply(INGEST_FLOW).await.expect("flow");
    let shutdown = CancellationToken::new();
    let url = format!("{}/webhooks/highlevel", start_server(service.clone(), 0, &shutdown).await);
    let bodies: Vec<(Vec<u8>, String)> = (0..WEBHOOKS).map(|n| signer.signed(n, label)).collect();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = stream::iter(bodies)
        .map(|(body, signature)| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let sent = Instant::now();
                let answer = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-ghl-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .expect("post");
                assert_eq!(answer.status(), 200);
                sent.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let stored = service.runs().counts().await.expect("counts");
    println!(
        "ingest {label:<10} {WEBHOOKS} signed webhooks, {CONCURRENCY} clients: {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; runs queued {stored:?}",
        WEBHOOKS as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
    shutdown.cancel();
}

async fn end_to_end(label: &str, store: Store, signer: &Signer25519) {
    let shutdown = CancellationToken::new();
    let mut config = ghl_sandbox::SandboxConfig { contacts: 1, ..Default::default() };
    config.rate_limits =
        ghl_sandbox::RateLimits { burst: 1_000_000, interval_ms: 10_000, daily: u32::MAX };
    let running_sandbox = TestSandbox::start(config).await;
    let sandbox = running_sandbox.info.clone();
    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    save_private_token(&store, "highlevel", base, location, token).await.expect("connection");
    let http = reqwest::Client::new();
    let contacts: serde_json::Value = http
        .get(format!("{}/contacts/?locationId={}", sandbox.base_url, sandbox.location_id))
        .bearer_auth(&sandbox.private_integration_token)
        .header("Version", "2021-07-28")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let contact = contacts["contacts"][0]["id"].as_str().expect("contact").to_owned();
    let flow = format!("name: note\ntrigger:\n  highlevel: ContactCreate\nsteps:\n  - name: note\n    action: highlevel.create-note\n    connection: highlevel\n    input:\n      contactId: '\"{contact}\"'\n      body: .trigger.webhookId\n");
    let service = signer.service(store);
    service.flows().apply(&flow).await.expect("flow");
    let url = format!("{}/webhooks/highlevel", start_server(service.clone(), 2, &shutdown).await);
    let started = Instant::now();
    for n in 0..E2E_RUNS {
        let (body, signature) = signer.signed(n, &format!("e2e-{label}"));
        http.post(&url)
            .header("content-type", "application/json")
            .header("x-ghl-signature", signature)
            .body(body)
            .send()
            .await
            .expect("post");
    }
    loop {
        let counts = service.runs().counts().await.expect("counts");
        let done =
            counts.iter().find(|(s, _)| *s == ghl_store::RunStatus::Done).map_or(0, |(_, n)| *n);
        if done as usize >= E2E_RUNS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    println!("end-to-end {label:<10} {E2E_RUNS} webhooks -> one-step flow (create-note in the sandbox), 2 workers: {:.0} runs/s ({:.2} s)", E2E_RUNS as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());
    shutdown.cancel();
}

fn peak_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let signer =
            Signer25519 { key: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng) };
        let (store, _ingest_db) = sqlite_store().await;
        ingest("sqlite", store, &signer).await;
        let (store, ingest_db) = postgres().await;
        ingest("postgres", store, &signer).await;
        let (store, _e2e_db) = sqlite_store().await;
        end_to_end("sqlite", store, &signer).await;
        let (store, e2e_db) = postgres().await;
        end_to_end("postgres", store, &signer).await;
        for db in [ingest_db, e2e_db] {
            db.drop_schema().await;
        }
        println!(
            "peak memory (VmHWM) of the bench process (clients, server, sandbox, stores): {} MiB",
            peak_memory_mib()
        );
    });
}
