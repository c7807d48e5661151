//! `cargo bench -p ghl-app-runtime --bench overhead`
//!
//! The runtime's own cost per request (issue 10): the same kind of request through
//! `ManifestClient` against Your App's sandbox (apps/your-app/manifest.yaml) and through the
//! typed `ghl_client::Client` against the HighLevel sandbox, side by side in one run:
//! get a contact by id, create a contact, list one page of 20. Both sandboxes run in this
//! process on their own runtime threads, without faults, latency or rate limits; the clients
//! run on the main thread's current-thread runtime (so that a per-thread instruction count
//! is the clients' alone). Rounds alternate runtime, typed, runtime, typed..., so that drift
//! on the machine touches both alike. Prints per request the median and p99 wall time.
//!
//! `OVERHEAD_ONLY=<kind>:<client>:<n>` (kind `get`, `create` or `list`; client `runtime` or
//! `typed`) instead makes `n` requests of one kind through one client after the same set-up
//! and prints nothing else: run it under `valgrind --tool=callgrind --separate-threads=yes`
//! with two values of `n`, and the difference of the main thread's instructions divided by
//! the difference of `n` is one request's client-side instructions
//! (`scripts/bench-runtime-instructions.sh` does this for every kind and client).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_app_runtime::{Connection, Credentials, ManifestClient};
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_apps::Manifest;
use ghl_client::{Client, ClientConfig, LocalBudget, RetryPolicy};
use ghl_sandbox::{RateLimits, Sandbox, SandboxConfig, SandboxInfo};
use ghl_types::ContactInput;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Contacts in each sandbox before the clock starts (so a page of 20 is full).
const SEEDED: usize = 100;
const PAGE: &str = "20";
const WARM_UP: usize = 200;
const ROUNDS: usize = 10;
const PER_ROUND: usize = 500;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Get,
    Create,
    List,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Get, Kind::Create, Kind::List];

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == text)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Get => "get",
            Kind::Create => "create",
            Kind::List => "list",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Get => "get a contact by id",
            Kind::Create => "create a contact",
            Kind::List => "list one page of 20",
        }
    }
}

/// Starts a server on its own runtime and thread, so that it does not share the clients'.
fn on_own_thread<I, F, Fut>(start: F) -> (I, CancellationToken)
where
    I: Send + 'static,
    F: FnOnce(tokio::net::TcpListener, CancellationToken) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = I>,
{
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
            sender.send(start(listener, stop.clone()).await).expect("send info");
            stop.cancelled().await;
        });
    });
    (receiver.recv().expect("sandbox info"), shutdown)
}

fn highlevel() -> (SandboxInfo, CancellationToken) {
    on_own_thread(|listener, stop| async move {
        let config = SandboxConfig {
            contacts: SEEDED,
            rate_limits: RateLimits { burst: u32::MAX, interval_ms: 1000, daily: u32::MAX },
            ..SandboxConfig::default()
        };
        Sandbox::start(config, listener, stop).await.expect("sandbox").info.clone()
    })
}

/// Your App's manifest with a window no run reaches: the budget goes on reading the
/// rate-limit headers, as in production, but never waits.
fn your_app() -> Manifest {
    let mut manifest = ghl_apps::builtin::manifests()
        .expect("the shipped manifests load")
        .into_iter()
        .find(|manifest| manifest.app == "your-app")
        .expect("Your App is shipped");
    if let Some(limit) = manifest.rate_limit.as_mut() {
        for window in &mut limit.windows {
            window.requests = u32::MAX;
            window.per_secs = 1;
        }
    }
    manifest
}

fn your_app_sandbox() -> (AppSandbox, CancellationToken) {
    on_own_thread(|listener, stop| async move {
        let config =
            AppSandboxConfig { rate_limits: Some(Vec::new()), ..AppSandboxConfig::default() };
        AppSandbox::start(your_app(), config, listener, stop).await.expect("sandbox")
    })
}

/// The clients of both sandboxes and an id to read from each.
struct Clients {
    runtime: ManifestClient,
    typed: Client,
    runtime_id: String,
    typed_id: String,
    created: usize,
}

impl Clients {
    async fn connect(app: &AppSandbox, highlevel: &SandboxInfo) -> Self {
        let config = ClientConfig::new(
            highlevel.base_url.parse().expect("url"),
            ghl_client::Credentials::PrivateToken(
                highlevel.private_integration_token.clone().into(),
            ),
            highlevel.location_id.clone(),
        );
        let typed = Client::new(config).expect("client");
        let connection = Connection {
            base_url: Some(app.info.base_url.parse().expect("url")),
            account: None,
            credentials: Credentials::values(
                app.info.credentials.iter().map(|(name, value)| (name.as_str(), value.as_str())),
            ),
        };
        let runtime = ManifestClient::new(
            Arc::new(app.shared.manifest.clone()),
            connection,
            LocalBudget::new(),
            RetryPolicy::default(),
        )
        .expect("client");
        let mut clients = Clients {
            runtime,
            typed,
            runtime_id: String::new(),
            typed_id: String::new(),
            created: 0,
        };
        for _ in 0..SEEDED {
            clients.request(Kind::Create, true).await;
        }
        let page = clients.typed.list_contacts(&[("limit", "1")]).await.expect("list");
        clients.typed_id = page.contacts[0].id.clone();
        let page = clients.runtime_page(1).await;
        clients.runtime_id = page[0]["id"].as_str().expect("an id").to_owned();
        clients
    }

    async fn runtime_page(&self, limit: u32) -> Vec<Value> {
        let request =
            self.runtime.request("list-contacts", json!({"limit": limit})).expect("valid");
        match self.runtime.call(&request, None).await.expect("list") {
            Value::Array(records) => records,
            other => panic!("a page is a list: {other}"),
        }
    }

    /// One request of `kind`, through the runtime or the typed client.
    async fn request(&mut self, kind: Kind, runtime: bool) {
        match (kind, runtime) {
            (Kind::Get, true) => {
                let request = self
                    .runtime
                    .request("get-contact", json!({"id": self.runtime_id}))
                    .expect("valid");
                self.runtime.call(&request, None).await.expect("get");
            }
            (Kind::Get, false) => {
                self.typed.contact(&self.typed_id).await.expect("get");
            }
            (Kind::Create, true) => {
                self.created += 1;
                let n = self.created;
                let request = self
                    .runtime
                    .request(
                        "create-contact",
                        json!({"name": format!("Ada {n}"), "email": format!("ada{n}@bench.test")}),
                    )
                    .expect("valid");
                self.runtime.call(&request, Some(&format!("bench-{n}"))).await.expect("create");
            }
            (Kind::Create, false) => {
                self.created += 1;
                let n = self.created;
                let input = ContactInput {
                    name: Some(Some(format!("Ada {n}"))),
                    email: Some(Some(format!("ada{n}@bench.test"))),
                    ..ContactInput::default()
                };
                self.typed.create_contact(&input).await.expect("create");
            }
            (Kind::List, true) => {
                let records = self.runtime_page(20).await;
                assert_eq!(records.len(), 20, "a full page");
            }
            (Kind::List, false) => {
                let page = self.typed.list_contacts(&[("limit", PAGE)]).await.expect("list");
                assert_eq!(page.contacts.len(), 20, "a full page");
            }
        }
    }
}

/// Median and p99 of the samples, in microseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

async fn timed(clients: &mut Clients) {
    println!(
        "{} requests of each kind each way, {ROUNDS} alternating rounds of {PER_ROUND}; sandboxes unthrottled, no faults, no latency",
        ROUNDS * PER_ROUND
    );
    println!("| request | runtime median | runtime p99 | typed median | typed p99 | median runtime - typed |");
    println!("| --- | --- | --- | --- | --- | --- |");
    // Creates last: they grow both stores, and a list should read the same seeded store.
    for kind in [Kind::Get, Kind::List, Kind::Create] {
        for _ in 0..WARM_UP {
            clients.request(kind, true).await;
            clients.request(kind, false).await;
        }
        let mut samples = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (side, runtime) in [(0, true), (1, false)] {
                for _ in 0..PER_ROUND {
                    let started = Instant::now();
                    clients.request(kind, runtime).await;
                    samples[side].push(started.elapsed());
                }
            }
        }
        let (runtime_median, runtime_p99) = summary(&mut samples[0]);
        let (typed_median, typed_p99) = summary(&mut samples[1]);
        println!(
            "| {} | {runtime_median:.1} us | {runtime_p99:.1} us | {typed_median:.1} us | {typed_p99:.1} us | {:+.1} us |",
            kind.title(),
            runtime_median - typed_median
        );
    }
}

fn main() {
    let only = std::env::var("OVERHEAD_ONLY").ok().map(|only| {
        let parts: Vec<&str> = only.split(':').collect();
        match parts.as_slice() {
            [kind, client @ ("runtime" | "typed"), n] => (
                Kind::parse(kind).expect("OVERHEAD_ONLY: kind is get, create or list"),
                *client == "runtime",
                n.parse::<usize>().expect("OVERHEAD_ONLY: n is a number"),
            ),
            _ => panic!("OVERHEAD_ONLY=<get|create|list>:<runtime|typed>:<n>, not {only}"),
        }
    });
    let (app, app_stop) = your_app_sandbox();
    let (highlevel, highlevel_stop) = highlevel();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut clients = Clients::connect(&app, &highlevel).await;
        match only {
            Some((kind, runtime, n)) => {
                for _ in 0..n {
                    clients.request(kind, runtime).await;
                }
            }
            None => timed(&mut clients).await,
        }
    });
    app_stop.cancel();
    highlevel_stop.cancel();
}
