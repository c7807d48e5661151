//! `ghl-connector users add | list | remove`: who may sign in to the web UI. A password is
//! read from a prompt without echo (asked twice) or, for scripts, from the first line of
//! standard input (`--password-stdin`); never from the command line.

use anyhow::Context;
use clap::Subcommand;
use ghl_client::Secret;

use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user who signs in to the web UI with a password (asked for without echo).
    Add {
        /// The user's name (letters, digits, `.`, `-`, `_`, `@`).
        name: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users (never their passwords).
    List,
    /// Remove a user; their sessions end.
    Remove {
        /// The user's name.
        name: String,
    },
}

pub async fn users(command: UsersCommand, store: &StoreArgs) -> anyhow::Result<()> {
    let service = store.service().await?;
    match command {
        UsersCommand::Add { name, password_stdin } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("cannot read the password")?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                dialoguer::Password::new()
                    .with_prompt(format!("password for {name}"))
                    .with_confirmation("again", "the two passwords differ")
                    .interact()
                    .context("cannot read the password (give --password-stdin to pipe it)")?
            };
            service
                .users()
                .add(&name, Secret::new(password))
                .await
                .with_context(|| format!("user `{name}` is not added"))?;
            say!("added user `{name}`: they sign in at http://HOST:PORT/ui");
        }
        UsersCommand::List => {
            for user in service.users().list().await? {
                say!("{}\tadded {}", user.name, user.created_at.to_rfc3339());
            }
        }
        UsersCommand::Remove { name } => {
            service.users().remove(&name).await?;
            say!("removed user `{name}` and ended their sessions");
        }
    }
    Ok(())
}
