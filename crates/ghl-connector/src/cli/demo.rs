//! `ghl-connector demo`: the whole product on one machine with no account. Starts the
//! HighLevel sandbox and the partner apps' sandboxes, the engine on a fresh SQLite file (or
//! the `--database-url` given), connects them, applies the welcome flow and installs the
//! templates that carry HighLevel's contacts to the partner apps, makes changes in the
//! sandbox so signed webhooks flow, shows the runs completing and what each app received,
//! then says how to make a change and look at its run.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use ghl_app_sandbox::{AppSandbox, AppSandboxConfig};
use ghl_engine::apps::highlevel::verify::TrustedKeys;
use ghl_engine::EngineConfig;
use ghl_sandbox::{Sandbox, SandboxConfig};
use ghl_server::ServerConfig;
use ghl_service::connect::SandboxAccess;
use ghl_service::Service;
use ghl_store::{RunFilter, RunStatus, Store};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::store::{write_new_key, StoreArgs};

const TEMPLATE_FLOW: &str = include_str!("../../../../flows/welcome.yaml");
/// The template flow's name and the connection it uses: what the demo writes to a store.
const FLOW: &str = "welcome-new-contacts";
const CONNECTION: &str = "highlevel";
/// The web UI's user the demo makes (with a fresh password each run).
const DEMO_USER: &str = "demo";
/// The templates the demo installs, each with the partner app whose sandbox it fills, the
/// records there it counts (an admin `records` path) and what it calls them.
const TEMPLATES: &[DemoTemplate] = &[
    DemoTemplate {
        name: "contact-to-your-app",
        app: "your-app",
        records: "contacts",
        noun: "contacts",
    },
    DemoTemplate {
        name: "contact-to-qobrix",
        app: "qobrix",
        records: "contacts",
        noun: "contacts",
    },
    DemoTemplate {
        name: "contact-to-bqe-core",
        app: "bqe-core",
        records: "client",
        noun: "clients",
    },
];

struct DemoTemplate {
    name: &'static str,
    app: &'static str,
    records: &'static str,
    noun: &'static str,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port of the connector (webhooks, API); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Contacts people "add" in the sandbox during the demo.
    #[arg(long, default_value_t = 25)]
    contacts: usize,
    /// Contacts the sandbox starts with.
    #[arg(long, default_value_t = 200)]
    seed_contacts: usize,
    /// Stop once every run is done, instead of serving until Ctrl-C.
    #[arg(long)]
    exit_when_done: bool,
}

/// Runs the demo until it is done or stopped (Ctrl-C, SIGTERM), then removes its files.
/// `chosen` is the store the user chose with `--database-url`; a temporary SQLite file
/// otherwise.
pub async fn run(args: DemoArgs, chosen: Option<&StoreArgs>) -> anyhow::Result<()> {
    let files = tempfile::Builder::new()
        .prefix("ghl-connector-demo-")
        .tempdir()
        .context("cannot create the demo's temporary folder")?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let result = tokio::select! {
        result = demo(&args, chosen, files.path(), &shutdown, &mut tasks) => result,
        () = super::serve::shutdown_signal() => Ok(()),
    };
    shutdown.cancel();
    for task in tasks {
        let _ = task.await;
    }
    files.close().context("cannot remove the demo's temporary folder")?;
    result
}

async fn demo(
    args: &DemoArgs,
    chosen: Option<&StoreArgs>,
    dir: &Path,
    shutdown: &CancellationToken,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .context("cannot listen for the connector")?;
    let connector_url = format!("http://{}", listener.local_addr()?);
    // A new seed each time, so a store a demo used before sees new contacts and events.
    let seed = rand::random();
    let mut config =
        SandboxConfig { contacts: args.seed_contacts, seed, ..SandboxConfig::default() };
    config.webhooks.urls = vec![format!("{connector_url}/webhooks/highlevel").parse()?];
    let sandbox =
        Sandbox::start(config, TcpListener::bind("127.0.0.1:0").await?, shutdown.clone()).await?;
    tasks.push(sandbox.server);
    let sandbox = sandbox.info;

    let (store, look) = open_store(chosen, dir).await?;
    refuse_foreign_data(&store).await?;
    let (base, location, token) =
        (&sandbox.base_url, &sandbox.location_id, &sandbox.private_integration_token);
    ghl_engine::connections::save_private_token(&store, CONNECTION, base, location, token).await?;
    let keys = TrustedKeys::new(
        Some(&sandbox.webhook_public_keys.ed25519),
        Some(&sandbox.webhook_public_keys.rsa_pem),
    )
    .map_err(anyhow::Error::msg)?;
    let engine =
        EngineConfig { apps: super::serve::with_webhook_keys(keys), ..EngineConfig::default() };
    let service = Service::open(store, engine).await?;
    let partners = start_partner_sandboxes(&service, shutdown).await?;
    service.flows().apply(TEMPLATE_FLOW).await?;
    for template in TEMPLATES {
        service.templates().install(template.name, &Default::default(), None).await?;
    }

    let admin_token: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let server_config = ServerConfig {
        admin_token: admin_token.clone(),
        workers: 2,
        worker_idle: Duration::from_millis(50),
    };
    // The web UI's one user, with a password made for this run (a store used before may
    // have the demo's user of an earlier run: it is made anew).
    let ui_password: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    match service.users().remove(DEMO_USER).await {
        Ok(()) | Err(ghl_service::ServiceError::NoUser(_)) => {}
        Err(err) => return Err(err.into()),
    }
    service.users().add(DEMO_USER, ui_password.clone().into()).await?;
    let sign_in_link = service.sessions().sign_in_link(DEMO_USER).await?;
    let server = ghl_server::serve(service.clone(), server_config, listener, shutdown.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(err) = server.await {
            tracing::error!(error = %err, "the demo's server stopped");
        }
    }));

    say!("HighLevel sandbox:  {} (location {})", sandbox.base_url, sandbox.location_id);
    say!("ghl-connector:      {connector_url}  (API: {connector_url}/api, admin token {admin_token})");
    say!(
        "web UI:             {connector_url}/ui/sign-in/link?token={}  (signs you in once; \
         later, {connector_url}/ui: sign in as {DEMO_USER}, password {ui_password})",
        sign_in_link.expose()
    );
    say!("store:              {}", look.describe);
    say!("flow:               {FLOW} (new contact -> welcome task + note)");
    for template in TEMPLATES {
        let title = ghl_service::templates::find(template.name).map(|t| t.title.as_str())?;
        say!("template:           {} ({title})", template.name);
    }
    for (app, sandbox) in &partners {
        say!("{:<20}{}", format!("{app} sandbox:"), sandbox.info.base_url);
    }

    let finished_before = finished(&service).await?;
    let http = reqwest::Client::new();
    let added = bar(args.contacts, "contacts added");
    for n in 0..args.contacts {
        let body = json!({ "locationId": location, "firstName": format!("Demo{n}"), "email": format!("demo{n}@example.com") });
        http.post(format!("{base}/_sandbox/as-user/{location}/contacts/"))
            .json(&body)
            .send()
            .await?
            .error_for_status()
            .context("the sandbox refused a demo contact")?;
        added.inc(1);
    }
    added.finish();

    // Each new contact runs the welcome flow and, by webhook, each contact template.
    let expected = args.contacts * (1 + TEMPLATES.len());
    let done = bar(expected, "runs done");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (ended, _) = finished(&service).await?.since(&finished_before);
        done.set_position(ended as u64);
        if ended >= expected as i64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("runs did not finish within two minutes: {:?}", service.runs().counts().await?);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.finish();
    let stats: serde_json::Value =
        http.get(format!("{base}/_sandbox/stats")).send().await?.json().await?;
    let (_, dead) = finished(&service).await?.since(&finished_before);
    say!(
        "in the sandbox: {} tasks and {} notes created by the flow; {} webhooks delivered; {dead} runs dead-lettered",
        stats["effects"]["task.created"], stats["effects"]["note.created"], stats["webhooks"]["delivered"]
    );
    for template in TEMPLATES {
        let Some(sandbox) = partners.get(template.app) else { continue };
        let url = format!("{}/records/{}", sandbox.info.admin_url, template.records);
        let records: serde_json::Value = http.get(url).send().await?.json().await?;
        let count = records["records"].as_array().map_or(0, Vec::len);
        say!("in {}: {count} {} (template {})", template.app, template.noun, template.name);
    }
    if args.exit_when_done {
        return Ok(());
    }
    say!("\nNext, while the demo runs:");
    say!("  add a contact in the sandbox, as a person in HighLevel would; its run shows below:");
    say!(
        "    curl -s -X POST {base}/_sandbox/as-user/{location}/contacts/ -H 'Content-Type: application/json' \\\n      -d '{{\"locationId\":\"{location}\",\"firstName\":\"Ada\",\"email\":\"ada@example.com\"}}'"
    );
    say!("  look at the runs:");
    say!("    {}", look.command(&format!("runs list --flow {FLOW}")));
    say!("    {}", look.command("runs show ID"));
    say!("  or through the API:");
    say!("    curl -H 'Authorization: Bearer {admin_token}' {connector_url}/api/runs");
    say!("Ctrl-C stops the demo{}.", if chosen.is_some() { "" } else { " and removes its files" });
    watch_runs(&service).await
}

/// The partner apps' sandboxes the templates write to, each connected under its app's name
/// (as the templates' slots are named) as a person would connect it: OAuth apps through their
/// authorization page.
async fn start_partner_sandboxes(
    service: &Service,
    shutdown: &CancellationToken,
) -> anyhow::Result<BTreeMap<String, AppSandbox>> {
    let config = |_: &str| AppSandboxConfig::default();
    let mut sandboxes =
        ghl_app_sandbox::start_builtin("127.0.0.1", config, shutdown.clone()).await?;
    sandboxes.retain(|app, _| TEMPLATES.iter().any(|template| template.app == app));
    for (app, sandbox) in &sandboxes {
        let access = SandboxAccess {
            app: app.clone(),
            base_url: sandbox.info.base_url.parse()?,
            account: sandbox.info.account.clone(),
            credentials: sandbox.info.credentials.clone(),
        };
        service.connections().connect_sandbox(app, &access).await?;
    }
    Ok(sandboxes)
}

/// How to reach the demo's store from another terminal.
struct StoreLook {
    describe: String,
    /// The global options that open it (empty when the user's own settings do).
    options: String,
}

impl StoreLook {
    fn command(&self, command: &str) -> String {
        format!("ghl-connector {}{command}", self.options)
    }
}

/// The user's store, or a fresh SQLite file with its own key in `dir`.
async fn open_store(chosen: Option<&StoreArgs>, dir: &Path) -> anyhow::Result<(Store, StoreLook)> {
    if let Some(chosen) = chosen {
        let url = &chosen.database_url;
        let shown = ghl_store::redact_url(url);
        // A password is never printed: then the reader adds their own --database-url.
        let mut options =
            if shown == *url { format!("--database-url '{url}' ") } else { String::new() };
        if chosen.master_key.is_none() {
            options.push_str(&format!("--key-file {} ", chosen.key_file.display()));
        }
        let look = StoreLook { describe: format!("{shown} (the one given)"), options };
        return Ok((chosen.open().await?, look));
    }
    let key_file = dir.join("demo.key");
    write_new_key(&key_file)?;
    let args = StoreArgs {
        database_url: format!("sqlite:{}", dir.join("demo.db").display()),
        key_file,
        master_key: None,
    };
    let look = StoreLook {
        describe: format!("{} (removed when the demo stops)", args.database_url),
        options: format!(
            "--database-url {} --key-file {} ",
            args.database_url,
            args.key_file.display()
        ),
    };
    Ok((args.open().await?, look))
}

/// The demo writes its connection and flow into the store: it refuses a store holding other
/// flows, or connections other than a demo's (to a sandbox on this machine), so it never
/// replaces something of the user's.
async fn refuse_foreign_data(store: &Store) -> anyhow::Result<()> {
    let ours = |flow: &str| flow == FLOW || TEMPLATES.iter().any(|t| t.name == flow);
    if let Some(flow) = store.flows().await?.into_iter().find(|flow| !ours(&flow.name)) {
        bail!("the store already holds the flow `{}`; the demo needs an empty store (or one a demo used)", flow.name);
    }
    for summary in store.connections().await? {
        let connection = store.connection(&summary.name).await?;
        let base_url = connection.as_ref().and_then(|c| c.secret["base_url"].as_str());
        let demo_name =
            summary.name == CONNECTION || TEMPLATES.iter().any(|t| t.app == summary.name);
        let a_demos = demo_name && base_url.is_some_and(|url| url.starts_with("http://127.0.0.1:"));
        if !a_demos {
            bail!("the store already holds the connection `{}`; the demo needs an empty store (or one a demo used)", summary.name);
        }
    }
    Ok(())
}

/// Runs that have ended, by how.
#[derive(Debug, Default)]
struct Finished {
    ended: i64,
    dead: i64,
}

impl Finished {
    /// Runs ended, and dead, since `before`.
    fn since(&self, before: &Finished) -> (i64, i64) {
        (self.ended - before.ended, self.dead - before.dead)
    }
}

async fn finished(service: &Service) -> anyhow::Result<Finished> {
    let mut finished = Finished::default();
    for (status, count) in service.runs().counts().await? {
        if status.has_ended() {
            finished.ended += count;
        }
        if status == RunStatus::Dead {
            finished.dead += count;
        }
    }
    Ok(finished)
}

fn bar(len: usize, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:<22} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message);
    bar
}

/// Prints each run of the template flow once it has ended, until the demo is stopped.
async fn watch_runs(service: &Service) -> anyhow::Result<()> {
    let filter =
        RunFilter { status: None, flow: Some(FLOW.into()), limit: 100, ..RunFilter::default() };
    let mut shown: HashSet<ghl_store::RunId> =
        service.runs().list(&filter).await?.into_iter().map(|run| run.id).collect();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut runs = service.runs().list(&filter).await?;
        runs.reverse();
        for run in runs {
            let ended = run.status.has_ended();
            if ended && shown.insert(run.id.clone()) {
                let error = run.last_error.map(|error| format!(": {error}")).unwrap_or_default();
                say!(
                    "run {} {} {}: {}{error}",
                    run.id,
                    FLOW,
                    run.trigger.unwrap_or_default(),
                    run.status
                );
            }
        }
    }
}
