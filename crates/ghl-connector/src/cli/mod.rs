//! The commands of `ghl-connector`.

/// `println!` that goes quiet when the reader has gone (`| head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod api;
mod apps;
pub mod config;
mod connect;
mod demo;
mod flows;
pub mod remedy;
mod runs;
mod sandbox;
mod serve;
mod store;
mod templates;
mod test_flow;
mod users;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ghl-connector",
    version,
    about = "A self-hosted app connector for the HighLevel Contacts API"
)]
pub struct Cli {
    /// A TOML file of settings (`port = 8080`, `database_url = "..."`): each key stands for
    /// its `GHL_CONNECTOR_<KEY>` variable; flags and the environment come first.
    #[arg(long, global = true, env = "GHL_CONNECTOR_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Log more (repeat for more still); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// `text` for people, `json` (one object a line) for log collectors.
    #[arg(long, global = true, env = "GHL_CONNECTOR_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub store: store::StoreArgs,
    /// Whether `--database-url` was given (flag, environment or config file), not defaulted.
    #[arg(skip)]
    pub store_chosen: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line of this process; exits with clap's message when it is wrong.
    pub fn from_env() -> Self {
        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
        cli.store_chosen =
            matches.value_source("database_url") != Some(clap::parser::ValueSource::DefaultValue);
        cli
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole product on one machine: sandbox, engine on SQLite, template flow, live runs.
    Demo(demo::DemoArgs),
    /// Start the local HighLevel sandbox; prints one JSON line with its addresses and credentials.
    Sandbox(sandbox::SandboxArgs),
    /// Call any operation of an app (HighLevel's API) by its operationId; JSON on stdout.
    Api(api::ApiArgs),
    /// Add, check, list or remove the apps you describe with a manifest.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// Create the master key file that seals secrets at rest.
    Init,
    /// Connect an app (HighLevel, or `http`) and store its credentials encrypted.
    Connect(Box<connect::ConnectArgs>),
    /// List, test or remove connections.
    #[command(subcommand)]
    Connections(connect::ConnectionsCommand),
    /// Apply, list, show, enable, disable or delete flows.
    #[command(subcommand)]
    Flows(flows::FlowsCommand),
    /// List, show or replay runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// The actions and triggers flows can use.
    Catalog {
        /// Only this app's actions and triggers (`your-app`).
        #[arg(long)]
        app: Option<String>,
        /// One JSON document (`actions`, `triggers`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, show or install templates: the seed use cases as flows.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Run a flow step by step on a sample record and show every request and response.
    Test(test_flow::TestArgs),
    /// Add, list or remove the users who sign in to the web UI.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Run the service: webhook ingress, workers, REST API, /healthz, /metrics.
    Serve(serve::ServeArgs),
}

/// The store whose added apps the catalog lists too: the one chosen, or the default one if it
/// exists. `None` before there is any, so that `catalog` works on a fresh machine.
fn catalog_store(store: &store::StoreArgs, chosen: bool) -> Option<&store::StoreArgs> {
    let default_exists = store
        .database_url
        .strip_prefix("sqlite:")
        .is_some_and(|path| std::path::Path::new(path).exists());
    (chosen || default_exists).then_some(store)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args, cli.store_chosen.then_some(&cli.store)).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Api(args) => api::run(args, &cli.store).await,
        Command::Apps(command) => apps::apps(command, &cli.store).await,
        Command::Init => {
            store::write_new_key(&cli.store.key_file)?;
            say!(
                "created {} (mode 0600). It seals every secret in the store: back it up, never commit it.\n\
                 Or set GHL_CONNECTOR_MASTER_KEY to its content instead of keeping the file.",
                cli.store.key_file.display()
            );
            Ok(())
        }
        Command::Connect(args) => connect::connect(*args, &cli.store).await,
        Command::Connections(command) => connect::connections(command, &cli.store).await,
        Command::Flows(command) => flows::flows(command, &cli.store).await,
        Command::Runs(command) => runs::runs(command, &cli.store).await,
        Command::Templates(command) => templates::templates(command, &cli.store).await,
        Command::Catalog { app, json } => {
            let store = catalog_store(&cli.store, cli.store_chosen);
            flows::catalog(app.as_deref(), json, store).await
        }
        Command::Serve(args) => serve::run(args, &cli.store).await,
        Command::Users(command) => users::users(command, &cli.store).await,
        Command::Test(args) => test_flow::run(args, &cli.store).await,
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GHL_CONNECTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Subcommands and arguments under `command` (named by their path) that have no help line.
    fn without_help(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} <{}>", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(path.clone());
            }
            without_help(sub, &path, missing);
        }
    }

    #[test]
    fn every_subcommand_and_argument_has_a_help_line() {
        let mut command = super::Cli::command();
        command.build();
        let mut missing = Vec::new();
        without_help(&command, "ghl-connector", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
