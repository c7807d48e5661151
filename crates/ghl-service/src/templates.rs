//! Templates: the seed use cases as flows ready to install (`templates/*.yaml` at the
//! repository's root, shipped in the binary). A template is a flow whose connections are
//! parameters: each step (and a poll trigger) names a connection *slot* of the template, and
//! installing it names which of the user's connections fills each slot. Installing is
//! applying the flow so made: the same checks as `flows apply`, no second rule.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use ghl_engine::flow::FlowSpec;
use ghl_engine::{Applied, Engine};
use ghl_store::{ConnectionSummary, Store};
use serde::{Deserialize, Serialize};

use crate::ServiceError;

/// `(name, text)` of each file `templates/<name>.yaml`, in the binary.
macro_rules! template_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name, ".yaml")))),*]
    };
}

/// The template files shipped, in the order `templates list` shows them.
const FILES: &[(&str, &str)] = template_files![
    "contact-to-your-app",
    "contact-changes-to-slack",
    "contact-changes-to-teams",
    "note-follow-up-task",
    "onboarding",
    "nightly-contacts-to-your-app",
    "contact-to-qonto-client",
    "contact-to-qobrix",
    "contact-status-to-qobrix-task",
    "nozbe-client-task-to-highlevel",
    "nozbe-task-done-to-highlevel",
    "contact-updates-to-nozbe-comment",
    "appointment-to-nozbe-task",
    "contact-to-bqe-core",
    "task-to-bqe-activity",
    "note-to-bqe-client-memo",
];

/// One template: what it does, the connections it takes, and its flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its name (`note-follow-up-task`): lowercase letters, digits and `-`.
    pub template: String,
    pub title: String,
    pub description: String,
    /// The connection slots its steps name, by slot name.
    pub connections: BTreeMap<String, Slot>,
    /// The flow, its steps naming slots as their connections.
    pub flow: FlowSpec,
}

/// A connection a template needs: of which app, and what for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub app: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// What installing a template did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The flow's name.
    pub flow: String,
    /// The connection that fills each slot.
    pub connections: BTreeMap<String, String>,
    pub applied: Applied,
}

/// Every shipped template, loaded once. A shipped template that does not load is a bug the
/// tests catch (`every_template_loads_and_its_flow_parses`); it is left out with an error
/// in the log rather than stopping the program.
pub fn shipped() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|(name, text)| match load(text) {
                Ok(template) => Some(template),
                Err(reason) => {
                    tracing::error!(template = name, "a shipped template does not load: {reason}");
                    None
                }
            })
            .collect()
    })
}

/// The shipped template named `name`.
pub fn find(name: &str) -> Result<&'static Template, ServiceError> {
    shipped().iter().find(|template| template.template == name).ok_or_else(|| {
        ServiceError::NoTemplate {
            name: name.to_owned(),
            known: shipped().iter().map(|template| template.template.clone()).collect(),
        }
    })
}

/// Reads a template file, checking that its name is its file's and that every connection its
/// flow names is one of its slots.
pub fn load(text: &str) -> Result<Template, String> {
    let template: Template = serde_norway::from_str(text).map_err(|err| err.to_string())?;
    let named = template.flow.steps.iter().filter_map(|step| step.connection.as_deref());
    let polled = template.flow.trigger.poll.iter().map(|poll| poll.connection.as_str());
    for connection in named.chain(polled) {
        if !template.connections.contains_key(connection) {
            return Err(format!(
                "the flow names the connection `{connection}`, which is not one of the \
                 template's `connections`"
            ));
        }
    }
    Ok(template)
}

impl Template {
    /// The flow with each slot replaced by the connection chosen for it, named `name`.
    pub fn flow_with(&self, connections: &BTreeMap<String, String>, name: &str) -> FlowSpec {
        let mut flow = self.flow.clone();
        flow.name = name.to_owned();
        let chosen = |slot: &mut String| {
            if let Some(connection) = connections.get(slot.as_str()) {
                slot.clone_from(connection);
            }
        };
        for step in &mut flow.steps {
            step.connection.as_mut().map(chosen);
        }
        if let Some(poll) = &mut flow.trigger.poll {
            chosen(&mut poll.connection);
        }
        flow
    }

    /// The template as its file says it.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// The template use cases (`Service::templates`).
pub struct Templates<'a> {
    pub(crate) store: &'a Store,
    pub(crate) engine: &'a Arc<Engine>,
}

impl Templates<'_> {
    pub fn list(&self) -> &'static [Template] {
        shipped()
    }

    pub fn show(&self, name: &str) -> Result<&'static Template, ServiceError> {
        find(name)
    }

    /// Installs template `name` as a flow (named `flow_name`, or as the template's flow),
    /// each slot filled by the connection `chosen` names for it, or else by the connection
    /// named as the slot, or else by the only connection of the slot's app.
    pub async fn install(
        &self,
        name: &str,
        chosen: &BTreeMap<String, String>,
        flow_name: Option<&str>,
    ) -> Result<Installed, ServiceError> {
        let template = self.show(name)?;
        if let Some(unknown) = chosen.keys().find(|slot| !template.connections.contains_key(*slot))
        {
            return Err(ServiceError::NoSlot {
                template: name.to_owned(),
                slot: unknown.clone(),
                slots: template.connections.keys().cloned().collect(),
            });
        }
        let existing = self.store.connections().await?;
        let mut connections = BTreeMap::new();
        for (slot, needs) in &template.connections {
            let connection = match chosen.get(slot) {
                Some(connection) => connection.clone(),
                None => fill(name, slot, needs, &existing)?,
            };
            connections.insert(slot.clone(), connection);
        }
        let flow_name = flow_name.unwrap_or(&template.flow.name);
        let flow = template.flow_with(&connections, flow_name);
        let text = serde_norway::to_string(&flow).map_err(|err| {
            ServiceError::InvalidFlow(ghl_engine::flow::FlowError {
                line: 0,
                reason: err.to_string(),
                place: None,
            })
        })?;
        let applied = self.engine.apply_flow(&text).await?;
        Ok(Installed { flow: flow_name.to_owned(), connections, applied })
    }
}

/// The connection that fills `slot` when none was chosen: the one named as the slot if it is
/// of the slot's app, else the only one of that app.
fn fill(
    template: &str,
    slot: &str,
    needs: &Slot,
    existing: &[ConnectionSummary],
) -> Result<String, ServiceError> {
    let of_app: Vec<&ConnectionSummary> =
        existing.iter().filter(|connection| connection.app == needs.app).collect();
    if of_app.iter().any(|connection| connection.name == slot) {
        return Ok(slot.to_owned());
    }
    match of_app.as_slice() {
        [only] => Ok(only.name.clone()),
        _ => Err(ServiceError::SlotUnfilled {
            template: template.to_owned(),
            slot: slot.to_owned(),
            app: needs.app.clone(),
            candidates: of_app.iter().map(|connection| connection.name.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use ghl_engine::flow::Flow;

    use super::*;

    #[test]
    fn every_template_loads_under_its_file_name_and_its_flow_parses_with_the_shipped_apps() {
        let apps = ghl_engine::Apps::builtin();
        for (name, text) in FILES {
            let template = load(text).unwrap_or_else(|err| panic!("templates/{name}.yaml: {err}"));
            assert_eq!(template.template, *name, "a template is named as its file");
            for (slot, needs) in &template.connections {
                assert!(apps.get(&needs.app).is_some(), "{name}: `{slot}` needs an unknown app");
            }
            let chosen: BTreeMap<String, String> = template
                .connections
                .keys()
                .map(|slot| (slot.clone(), format!("my-{slot}")))
                .collect();
            let flow = template.flow_with(&chosen, "installed");
            let text = serde_norway::to_string(&flow).expect("a flow as YAML");
            let parsed =
                Flow::parse_with(&text, &apps).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(parsed.spec.name, "installed");
            for step in &parsed.spec.steps {
                if let Some(connection) = &step.connection {
                    assert!(connection.starts_with("my-"), "{name}: {connection} was not filled");
                }
            }
        }
        assert_eq!(shipped().len(), FILES.len(), "a shipped template does not load");
    }

    #[test]
    fn a_template_whose_flow_names_a_connection_it_does_not_take_is_refused() {
        let text = "template: t\ntitle: T\ndescription: D\nconnections: {}\nflow:\n  name: t\n  trigger: {manual: true}\n  steps:\n    - {name: s, action: highlevel.get-contact, connection: crm, input: {contactId: '\"c\"'}}\n";
        let err = load(text).expect_err("refused");
        assert!(err.contains("`crm`"), "{err}");
    }
}
