//! `cargo bench -p ghl-client --bench client`
//!
//! 1. Rate budget: 2,000 GETs from 16 tasks against a sandbox whose limit is HighLevel's
//!    scaled up 20x (100 requests per 500 ms). Reports the 429s earned (goal: none) and the
//!    total time against the least the limit allows (goal: within 5 %).
//! 2. Client overhead: sequential GETs against an unthrottled sandbox, side by side with plain
//!    reqwest doing the same request, in one run.
//!
//! `OVERHEAD_ONLY=<client|plain>:<n>` instead makes `n` GETs of part 2 one way only, after
//! the same set-up (sandbox, client, warm-up), on a current-thread runtime (reqwest's
//! connection tasks included) while the sandbox keeps its own thread, and prints nothing:
//! run it under `valgrind --tool=callgrind --separate-threads=yes` with two values of `n`,
//! and the difference of the main thread's instructions divided by the difference of `n`
//! is one request's client-side instructions (`scripts/bench-client-instructions.sh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ghl_client::{Client, ClientConfig, Credentials};
use ghl_sandbox::{RateLimits, Sandbox, SandboxConfig, SandboxInfo};
use tokio_util::sync::CancellationToken;

const BUDGET_REQUESTS: usize = 2_000;
const BURST: u32 = 100;
const INTERVAL_MS: u64 = 500;
const OVERHEAD_REQUESTS: usize = 5_000;

/// Starts a sandbox on its own runtime and thread, so it does not share the client's.
fn sandbox(limits: RateLimits) -> (SandboxInfo, CancellationToken) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let config =
                SandboxConfig { contacts: 1000, rate_limits: limits, ..SandboxConfig::default() };
            let sandbox = Sandbox::start(config, listener, stop.clone()).await.expect("sandbox");
            sender.send(sandbox.info.clone()).expect("send info");
            stop.cancelled().await;
        });
    });
    (receiver.recv().expect("sandbox info"), shutdown)
}

fn client(info: &SandboxInfo) -> Client {
    let config = ClientConfig::new(
        info.base_url.parse().expect("url"),
        Credentials::PrivateToken(info.private_integration_token.clone().into()),
        info.location_id.clone(),
    );
    Client::new(config).expect("client")
}

async fn stats(info: &SandboxInfo) -> serde_json::Value {
    reqwest::get(format!("{}/_sandbox/stats", info.base_url))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

async fn a_contact_id(client: &Client) -> String {
    client.list_contacts(&[("limit", "1")]).await.expect("list").contacts[0].id.clone()
}

async fn budget_run() {
    let (info, shutdown) =
        sandbox(RateLimits { burst: BURST, interval_ms: INTERVAL_MS, daily: 10_000_000 });
    let client = client(&info);
    let contact = Arc::new(a_contact_id(&client).await);
    // Let the window the probe request used empty, so the run starts from a full budget.
    tokio::time::sleep(Duration::from_millis(INTERVAL_MS + 50)).await;
    let baseline = stats(&info).await["requests"]["get-contact"]["200"].as_u64().unwrap_or(0);
    let started = Instant::now();
    let failures = stream::iter(0..BUDGET_REQUESTS)
        .map(|_| {
            let (client, contact) = (client.clone(), contact.clone());
            async move { client.contact(&contact).await.is_err() }
        })
        .buffer_unordered(16)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let elapsed = started.elapsed();
    let stats = stats(&info).await;
    let ideal = Duration::from_millis(INTERVAL_MS) * (BUDGET_REQUESTS as u32 / BURST - 1);
    println!("rate budget: {BUDGET_REQUESTS} GETs, 16 tasks, sandbox limit {BURST} per {INTERVAL_MS} ms (HighLevel's x20)");
    println!("  failed requests: {failures}");
    println!("  429s earned: {}", stats["rateLimited"]);
    println!(
        "  get-contact answers: {}",
        stats["requests"]["get-contact"]["200"].as_u64().unwrap_or(0) - baseline
    );
    println!(
        "  total {:.3} s; least the limit allows {:.3} s; ratio {:.3}",
        elapsed.as_secs_f64(),
        ideal.as_secs_f64(),
        elapsed.as_secs_f64() / ideal.as_secs_f64()
    );
    shutdown.cancel();
}

/// One way of `overhead_run`'s GET, and how many to make.
#[derive(Clone, Copy)]
struct Only {
    plain: bool,
    requests: usize,
}

impl Only {
    fn from_env() -> Option<Self> {
        let only = std::env::var("OVERHEAD_ONLY").ok()?;
        let (way, requests) = only.split_once(':').unwrap_or_else(|| usage(&only));
        let plain = match way {
            "plain" => true,
            "client" => false,
            _ => usage(&only),
        };
        Some(Self { plain, requests: requests.parse().unwrap_or_else(|_| usage(&only)) })
    }
}

fn usage(only: &str) -> ! {
    panic!("OVERHEAD_ONLY=<client|plain>:<n>, not {only}")
}

async fn overhead_run(only: Option<Only>) {
    let (info, shutdown) =
        sandbox(RateLimits { burst: u32::MAX, interval_ms: 1000, daily: u32::MAX });
    let client = client(&info);
    let contact = a_contact_id(&client).await;
    let plain = reqwest::Client::new();
    let url = format!("{}/contacts/{contact}", info.base_url);
    let plain_get = || async {
        let response = plain
            .get(&url)
            .bearer_auth(&info.private_integration_token)
            .header("Version", "2021-07-28")
            .send()
            .await
            .expect("send");
        assert!(response.status().is_success());
        let _: serde_json::Value = response.json().await.expect("json");
    };
    // Warm both connection pools.
    for _ in 0..200 {
        plain_get().await;
        client.contact(&contact).await.expect("get");
    }
    if let Some(only) = only {
        for _ in 0..only.requests {
            if only.plain {
                plain_get().await;
            } else {
                client.contact(&contact).await.expect("get");
            }
        }
        shutdown.cancel();
        return;
    }
    // Alternate rounds so that drift on the machine touches both alike.
    let (mut plain_total, mut client_total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..OVERHEAD_REQUESTS / 5 {
            plain_get().await;
        }
        plain_total += started.elapsed();
        let started = Instant::now();
        for _ in 0..OVERHEAD_REQUESTS / 5 {
            client.contact(&contact).await.expect("get");
        }
        client_total += started.elapsed();
    }
    let per = |total: Duration| total.as_secs_f64() * 1e6 / OVERHEAD_REQUESTS as f64;
    println!("client overhead: {OVERHEAD_REQUESTS} sequential GET /contacts/{{id}} each way, unthrottled sandbox");
    println!("  plain reqwest (send + JSON parse): {:.1} us per request", per(plain_total));
    println!(
        "  ghl-client (budget, token, retry, typed Contact): {:.1} us per request",
        per(client_total)
    );
    println!("  overhead: {:.1} us per request", per(client_total) - per(plain_total));
    shutdown.cancel();
}

fn main() {
    if let Some(only) = Only::from_env() {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(overhead_run(Some(only)));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        budget_run().await;
        overhead_run(None).await;
    });
}
