//! What can be done about an error, as data. Library errors carry it (`remedy()`), and each
//! front end says it its own way: the CLI as a command line, the REST API as the JSON field
//! `remedy` next to `error`, a UI as a button. No library writes a command line.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Remedy {
    /// Authorise the connection again, granting `scopes` besides those it has (none: the
    /// same as before); then, with `replay_dead_runs`, replay the runs that died for it.
    Reconnect { app: String, connection: String, scopes: Vec<String>, replay_dead_runs: bool },
    /// Add a connection, of `app` and named `connection` where they are known.
    Connect { app: Option<String>, connection: Option<String> },
    /// The name given is none of these: list them and pick one.
    Choose { from: Listing },
    /// A webhook of `app` is signed with a key nobody trusts: connect the sender if it is a
    /// test double of the app (a sandbox), so its keys are learned, or configure its key.
    TrustWebhookKey { app: String },
}

/// What a [`Remedy::Choose`] picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    Connections,
    Flows,
    Templates,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remedy_is_json_a_front_end_can_act_on() {
        let remedy = Remedy::Reconnect {
            app: "highlevel".into(),
            connection: "main".into(),
            scopes: vec!["contacts.write".into()],
            replay_dead_runs: false,
        };
        let json = serde_json::to_value(&remedy).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({ "action": "reconnect", "app": "highlevel", "connection": "main",
                                "scopes": ["contacts.write"], "replay_dead_runs": false })
        );
        let chosen = Remedy::Choose { from: Listing::Flows };
        assert_eq!(
            serde_json::to_value(chosen).expect("serialises"),
            serde_json::json!({ "action": "choose", "from": "flows" })
        );
    }
}
