//! The README's walkthrough, run as written: the commands of the code block after the
//! `<!-- walkthrough -->` marker, with the sandbox's values from its ready line and free ports
//! in place of the README's, and `ghl-connector` the binary built here. A change in the sandbox
//! must become a signed webhook, a run, and the flow's effect in the sandbox.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{free_port, ready_line, wait_for, Running, BINARY, WELCOME_FLOW};

const README: &str = include_str!("../../../README.md");
const MARKER: &str = "<!-- walkthrough -->";
/// The ports the README uses, replaced by free ones.
const README_SANDBOX_PORT: &str = "4010";
const README_SERVE_PORT: &str = "8080";

/// The commands of the walkthrough block: continuation lines joined, comments and blank lines
/// left out (a comment after a command stays: the shell ignores it).
fn walkthrough_commands(readme: &str) -> Vec<String> {
    let after = readme.split_once(MARKER).expect("the README marks its walkthrough").1;
    let block = after.split_once("```sh\n").expect("a sh block after the marker").1;
    let block = block.split_once("\n```").expect("the block ends").0;
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        // A line continues when its last non-comment character is a backslash.
        let code = line.split(" # ").next().unwrap_or(line).trim_end();
        match code.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

/// The command of a line ending with `&` (before any comment): one started in the background.
fn in_background(line: &str) -> Option<&str> {
    line.split(" # ").next().and_then(|code| code.trim().strip_suffix('&')).map(str::trim)
}

/// `text` with every `<field>` of the sandbox's ready line replaced by its value.
fn fill(text: &str, ready: &Value) -> String {
    let mut filled = text.to_owned();
    if let Value::Object(fields) = ready {
        for (name, value) in fields {
            if let Value::String(value) = value {
                filled = filled.replace(&format!("<{name}>"), value);
            }
        }
    }
    filled
}

/// A shell running `command` in `dir`, with `ghl-connector` the binary built here.
fn shell(command: &str, dir: &Path, env: &HashMap<String, String>) -> Command {
    let binary = Path::new(BINARY);
    let bin_dir = binary.parent().expect("the binary's folder");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(env)
        .env("PATH", path)
        .env_remove("GHL_CONNECTOR_DATABASE_URL")
        .env_remove("GHL_CONNECTOR_MASTER_KEY")
        .env_remove("GHL_CONNECTOR_KEY_FILE");
    shell
}

#[test]
fn the_walkthrough_block_is_found_and_read_as_commands() {
    let commands = walkthrough_commands(README);
    assert!(commands[0].starts_with("ghl-connector sandbox"), "{commands:#?}");
    assert!(commands.iter().any(|c| c.starts_with("export BASE=")), "{commands:#?}");
    assert!(commands.iter().any(|c| in_background(c).is_some_and(|c| c.contains(" serve "))));
    assert!(commands.iter().any(|c| c.contains("/_sandbox/webhooks") && c.contains(" -d ")));
    assert!(commands.last().is_some_and(|c| c.starts_with("ghl-connector runs list")));
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    // The walkthrough runs in the repository's folder: it applies flows/welcome.yaml.
    std::fs::create_dir(dir.join("flows")).expect("flows/");
    std::fs::copy(WELCOME_FLOW, dir.join("flows/welcome.yaml")).expect("copy the flow");

    let serve_port = free_port().to_string();
    let mut env = HashMap::new();
    let mut ready = Value::Null;
    let mut sandbox_port = String::new();
    let mut background = Vec::new();
    let mut outputs = Vec::new();
    for command in walkthrough_commands(README) {
        let command = fill(&command, &ready)
            .replace(
                &format!("127.0.0.1:{README_SANDBOX_PORT}"),
                &format!("127.0.0.1:{sandbox_port}"),
            )
            .replace(&format!("127.0.0.1:{README_SERVE_PORT}"), &format!("127.0.0.1:{serve_port}"))
            .replace(&format!("--port {README_SERVE_PORT}"), &format!("--port {serve_port}"));
        if command.starts_with("ghl-connector sandbox") {
            let command = command.replace(&format!("--port {README_SANDBOX_PORT}"), "--port 0");
            let mut sandbox = shell(&command, dir, &env);
            sandbox.stdout(Stdio::piped()).stderr(Stdio::null());
            let mut running = Running::in_group(sandbox);
            ready = ready_line(&mut running.child);
            background.push(running);
            let base = ready["base_url"].as_str().expect("base_url");
            sandbox_port = base.rsplit(':').next().expect("a port").to_owned();
        } else if let Some(assignments) = command.strip_prefix("export ") {
            for assignment in assignments.split_whitespace() {
                let (name, value) = assignment.split_once('=').expect("NAME=VALUE");
                env.insert(name.to_owned(), value.to_owned());
            }
        } else if let Some(command) = in_background(&command) {
            let mut started = shell(command, dir, &env);
            started.stdout(Stdio::null()).stderr(Stdio::null());
            background.push(Running::in_group(started));
            // A reader types the next command after `serve` has said it listens.
            wait_for("serve to listen", || {
                std::net::TcpStream::connect(format!("127.0.0.1:{serve_port}")).is_ok()
            });
        } else {
            let output = shell(&command, dir, &env).output().expect("the command runs");
            assert!(
                output.status.success(),
                "`{command}` failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            outputs.push((command, String::from_utf8_lossy(&output.stdout).into_owned()));
        }
    }

    // The contact the walkthrough added, its run, and the flow's effect in the sandbox.
    let (_, added) = outputs
        .iter()
        .find(|(command, _)| command.contains("create-contact"))
        .expect("the walkthrough adds a contact");
    let contact: Value = serde_json::from_str(added).expect("the sandbox answers JSON");
    let id = contact["contact"]["id"].as_str().expect("the new contact's id");
    let (runs_list, _) = outputs.last().expect("commands ran");
    wait_for("the run to be done", || {
        let output = shell(runs_list, dir, &env).output().expect("runs list");
        let listed = String::from_utf8_lossy(&output.stdout);
        listed.lines().any(|line| line.contains("welcome-new-contacts") && line.contains("done"))
    });
    let base = ready["base_url"].as_str().expect("base_url");
    let location = ready["location_id"].as_str().expect("location_id");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let record: Value = runtime.block_on(async {
        let url = format!("{base}/_sandbox/locations/{location}/contacts/{id}");
        reqwest::get(url).await.expect("the contact").json().await.expect("JSON")
    });
    assert_eq!(record["tasks"].as_array().map(Vec::len), Some(1), "the welcome task: {record}");
    assert_eq!(record["notes"].as_array().map(Vec::len), Some(1), "the note: {record}");
}
