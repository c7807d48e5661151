//! `ghl-connector`: parses the command line and hands over to the command.

mod cli;

fn main() -> std::process::ExitCode {
    // A config file sets defaults through the environment, before the command line is
    // parsed (a setting it holds may be one the command requires).
    if let Some(path) = cli::config::path(std::env::args()) {
        if let Err(err) = cli::config::load(&path) {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let args = cli::Cli::from_env();
    cli::init_logging(args.verbose, args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(remedy) = cli::remedy::of(&err) {
                eprintln!("to fix it: {}", cli::remedy::say(&remedy));
            }
            std::process::ExitCode::FAILURE
        }
    }
}
