//! How the CLI says a library error's remedy (`ghl_types::Remedy`): as the command that
//! applies it. The libraries return the remedy as data and never write command lines.

use ghl_types::remedy::{Listing, Remedy};

/// The remedy carried by the first error of the chain that has one.
pub fn of(err: &anyhow::Error) -> Option<Remedy> {
    err.chain().find_map(|cause| {
        if let Some(err) = cause.downcast_ref::<ghl_service::ServiceError>() {
            return err.remedy();
        }
        if let Some(err) = cause.downcast_ref::<ghl_engine::EngineError>() {
            return err.remedy();
        }
        cause
            .downcast_ref::<ghl_engine::connections::ConnectionError>()
            .and_then(|err| err.remedy())
    })
}

/// The remedy as a sentence naming the commands to run.
pub fn say(remedy: &Remedy) -> String {
    match remedy {
        Remedy::Reconnect { app, connection, scopes, replay_dead_runs } => {
            let mut command = format!("ghl-connector connect {app} --name {connection}");
            for scope in scopes {
                command.push_str(&format!(" --scope {scope}"));
            }
            let mut sentence = format!("run `{command}`");
            if !scopes.is_empty() {
                sentence.push_str(" (with the app's client id and secret)");
            }
            if *replay_dead_runs {
                sentence.push_str(", then `ghl-connector runs replay` its dead runs");
            }
            sentence
        }
        Remedy::Connect { app, connection } => {
            let app = app.as_deref().unwrap_or("APP");
            match connection {
                Some(name) => format!("add it with `ghl-connector connect {app} --name {name}`"),
                None => format!("make one with `ghl-connector connect {app}`"),
            }
        }
        Remedy::Choose { from } => match from {
            Listing::Connections => "`ghl-connector connections list` shows them".into(),
            Listing::Flows => "`ghl-connector flows list` shows them".into(),
            Listing::Templates => "`ghl-connector templates list` shows them".into(),
        },
        Remedy::TrustWebhookKey { app } => format!(
            "if the sender is a sandbox, connect it with `ghl-connector connect {app} \
             --base-url SANDBOX` (serve learns its keys); otherwise start `serve` with \
             --webhook-ed25519-key set to the sender's public key"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_scope_is_said_as_the_connect_command_that_widens_it() {
        let remedy = Remedy::Reconnect {
            app: "highlevel".into(),
            connection: "highlevel".into(),
            scopes: vec!["contacts.write".into()],
            replay_dead_runs: false,
        };
        assert_eq!(
            say(&remedy),
            "run `ghl-connector connect highlevel --name highlevel --scope contacts.write` \
             (with the app's client id and secret)"
        );
    }

    #[test]
    fn an_untrusted_webhook_key_is_said_as_the_two_ways_to_trust_it() {
        let said = say(&Remedy::TrustWebhookKey { app: "highlevel".into() });
        assert!(said.contains("`ghl-connector connect highlevel --base-url SANDBOX`"), "{said}");
        assert!(said.contains("--webhook-ed25519-key"), "{said}");
    }

    #[test]
    fn the_remedy_is_found_in_the_error_chain() {
        let err = anyhow::Error::new(ghl_engine::EngineError::UnknownFlow("nope".into()))
            .context("flows run");
        assert_eq!(of(&err), Some(Remedy::Choose { from: Listing::Flows }));
    }

    #[test]
    fn the_remedy_of_a_use_case_error_is_found_too() {
        let err = anyhow::Error::new(ghl_service::ServiceError::NoConnection("nope".into()));
        assert_eq!(of(&err), Some(Remedy::Choose { from: Listing::Connections }));
    }
}
