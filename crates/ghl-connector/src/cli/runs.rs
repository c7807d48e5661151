//! `ghl-connector runs list | show | replay`: the run history as a person reads it (flow,
//! trigger, status, how long ago, the first error) or as JSON for scripts.

use chrono::{DateTime, Local};
use clap::Subcommand;
use ghl_service::runs::{RunFilter, RunId, RunStatus, RunSummary, Timestamp};

use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The latest runs, newest first: flow, trigger, status, when, and the first error.
    List {
        /// Only the runs in this status: queued, running, waiting (on a delay step), done,
        /// skipped (a filter ended it) or dead (dead-lettered: `runs replay` puts it back).
        #[arg(long, value_parser = |text: &str| text.parse::<RunStatus>())]
        status: Option<RunStatus>,
        /// Only the runs of the flow of this name.
        #[arg(long)]
        flow: Option<String>,
        /// How many runs at most.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// One JSON array (every field; times in ms since the epoch) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A run with every step's input, request, response and error (JSON).
    Show {
        /// The run's id (the first column of `runs list`).
        id: RunId,
    },
    /// Put a dead-lettered run back in the queue, to run with the flow as it is now. A step
    /// that was definitively refused (a 4xx that changed nothing, e.g. a 422 for a bad field
    /// value) is evaluated again from the current flow, so fix the flow with `flows apply`
    /// first; a step whose outcome is unknown (a timeout, a crash while sending) repeats its
    /// recorded request, so nothing is done twice.
    Replay {
        /// The run's id (the first column of `runs list`).
        #[arg(required_unless_present = "dead_of", conflicts_with = "dead_of")]
        id: Option<RunId>,
        /// Instead of one run: every dead-lettered run of the flow of this name.
        #[arg(long, value_name = "FLOW")]
        dead_of: Option<String>,
    },
}

pub async fn runs(command: RunsCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        RunsCommand::List { status, flow, limit, json } => {
            let filter = RunFilter { status, flow, limit, ..RunFilter::default() };
            let runs = store.service().await?.runs().list(&filter).await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print_table(&runs, Local::now());
            }
        }
        RunsCommand::Show { id } => {
            let run = store.service().await?.runs().show(&id).await?;
            say!("{}", serde_json::to_string_pretty(&run)?);
        }
        RunsCommand::Replay { id: Some(id), .. } => {
            store.service().await?.runs().replay(&id).await?;
            say!("replaying {id}");
        }
        RunsCommand::Replay { id: None, dead_of } => {
            let flow = dead_of.unwrap_or_default();
            let replayed = store.service().await?.runs().replay_dead(&flow).await?;
            say!("replaying {replayed} dead runs of {flow}");
        }
    }
    Ok(())
}

/// Longest error shown in the table; `runs show ID` has all of it.
const ERROR_WIDTH: usize = 60;

fn print_table(runs: &[RunSummary], now: DateTime<Local>) {
    if runs.is_empty() {
        say!("no runs");
        return;
    }
    say!(
        "{:<24}  {:<24}  {:<18}  {:<8}  {:>8}  {:<16}  FIRST ERROR",
        "ID",
        "FLOW",
        "TRIGGER",
        "STATUS",
        "ATTEMPTS",
        "CREATED"
    );
    for run in runs {
        say!(
            "{:<24}  {:<24}  {:<18}  {:<8}  {:>8}  {:<16}  {}",
            run.id,
            run.flow_name.as_deref().unwrap_or("(deleted flow)"),
            run.trigger.as_deref().unwrap_or("-"),
            run.status,
            run.attempts,
            when(run.created_at, now),
            run.last_error.as_deref().map(first_line).unwrap_or_default()
        );
    }
}

/// How long ago, for the last day; the local date and time (to the minute) before that.
fn when(time: Timestamp, now: DateTime<Local>) -> String {
    let time = time.to_datetime().with_timezone(&Local);
    let seconds = (now - time).num_seconds();
    match seconds {
        ..=-1 => time.format("%Y-%m-%d %H:%M").to_string(),
        0..=59 => format!("{seconds} s ago"),
        60..=3_599 => format!("{} min ago", seconds / 60),
        3_600..=86_399 => format!("{} h ago", seconds / 3_600),
        _ => time.format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// An error's first line, cut to `ERROR_WIDTH` characters.
fn first_line(error: &str) -> String {
    let line = error.lines().next().unwrap_or_default();
    if line.chars().count() <= ERROR_WIDTH {
        return line.to_owned();
    }
    let cut: String = line.chars().take(ERROR_WIDTH - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_read_as_how_long_ago_then_as_a_local_date() {
        let now = Local.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).single().expect("a time");
        let ago =
            |seconds: i64| when(Timestamp::from_millis((now.timestamp() - seconds) * 1000), now);
        assert_eq!(ago(5), "5 s ago");
        assert_eq!(ago(150), "2 min ago");
        assert_eq!(ago(3 * 3600 + 10), "3 h ago");
        assert_eq!(ago(2 * 86_400), "2026-11-28 15:00");
    }

    #[test]
    fn an_error_shows_its_first_line_cut_to_the_column() {
        assert_eq!(first_line("HTTP 422: bad email\nat step 2"), "HTTP 422: bad email");
        let long = "é".repeat(100);
        let cut = first_line(&long);
        assert_eq!(cut.chars().count(), ERROR_WIDTH);
        assert!(cut.ends_with('…'));
    }
}
