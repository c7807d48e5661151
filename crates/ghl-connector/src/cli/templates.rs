//! `ghl-connector templates list | show NAME | install NAME`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::Subcommand;
use ghl_service::templates::{self, Template};

use super::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// The templates: the seed use cases as flows ready to install.
    List {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A template's description, the connections it takes and its flow.
    Show {
        /// The template's name.
        name: String,
    },
    /// Install a template as a flow, with your connections in its slots.
    Install {
        /// The template's name.
        name: String,
        /// `SLOT=CONNECTION` for each slot to fill (repeat); a slot not given takes the
        /// connection named as the slot, or the only connection of its app.
        #[arg(long = "connection", value_name = "SLOT=CONNECTION")]
        connections: Vec<String>,
        /// The flow's name (default: the template's flow name).
        #[arg(long = "as", value_name = "FLOW")]
        flow_name: Option<String>,
    },
}

pub async fn templates(command: TemplatesCommand, store: &StoreArgs) -> anyhow::Result<()> {
    match command {
        TemplatesCommand::List { json } => {
            let shipped = templates::shipped();
            if json {
                say!("{}", serde_json::to_string_pretty(shipped)?);
                return Ok(());
            }
            for template in shipped {
                say!("{:<32} {}", template.template, template.title);
                say!("{:<32} needs: {}", "", slots(template));
            }
        }
        TemplatesCommand::Show { name } => {
            say!("{}", templates::find(&name)?.to_yaml());
        }
        TemplatesCommand::Install { name, connections, flow_name } => {
            let chosen = chosen(&connections)?;
            let service = store.service().await?;
            let installed =
                service.templates().install(&name, &chosen, flow_name.as_deref()).await?;
            let filled: Vec<String> = installed
                .connections
                .iter()
                .map(|(slot, connection)| format!("{slot}={connection}"))
                .collect();
            say!("installed template {name} as flow `{}` ({})", installed.flow, filled.join(", "));
            for warning in &installed.applied.warnings {
                eprintln!("warning: {warning}");
            }
        }
    }
    Ok(())
}

/// `slack (slack), highlevel (highlevel)`: each slot and its app.
fn slots(template: &Template) -> String {
    let slots = template.connections.iter().map(|(slot, needs)| match slot == &needs.app {
        true => slot.clone(),
        false => format!("{slot} ({})", needs.app),
    });
    slots.collect::<Vec<_>>().join(", ")
}

/// The `SLOT=CONNECTION` pairs given.
fn chosen(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut chosen = BTreeMap::new();
    for pair in pairs {
        let (slot, connection) = pair
            .split_once('=')
            .filter(|(slot, connection)| !slot.is_empty() && !connection.is_empty())
            .with_context(|| format!("`--connection {pair}`: write it SLOT=CONNECTION"))?;
        if chosen.insert(slot.to_owned(), connection.to_owned()).is_some() {
            bail!("`--connection {slot}=...` is given twice: give each slot once");
        }
    }
    Ok(chosen)
}
