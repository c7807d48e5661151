//! The flow registry: stored flows compiled once per definition (a refusal kept too, so a
//! broken flow is not parsed again on every event), broken flows marked so in the store,
//! and flow files checked against the connections before they are stored.

use std::collections::HashMap;
use std::sync::Arc;

use ghl_store::{AuthKind, FlowId, FlowRecord, FlowStatus, Store};
use parking_lot::Mutex;

use crate::apps::{Apps, HTTP};
use crate::catalog::Action;
use crate::flow::{Flow, FlowError};
use crate::runner::{Applied, EngineError};

/// A stored flow compiled, or why it cannot be (the line and the reason, which `flows show`
/// and the API show as the flow's `broken`).
pub(crate) type Compiled = Result<Arc<Flow>, FlowError>;

pub(crate) struct Registry {
    store: Store,
    apps: Apps,
    /// Flows compiled (or refused) by id and definition.
    flows: Mutex<HashMap<FlowId, (String, Compiled)>>,
}

impl Registry {
    pub fn new(store: Store, apps: Apps) -> Self {
        Self { store, apps, flows: Mutex::new(HashMap::new()) }
    }

    /// Checks a flow file (that its connections exist, are of the app its steps need and were
    /// granted the scopes they need) and stores it, enabled (lifting a runaway pause); warns
    /// when the flow can trigger itself more than `runaway_limit` times a minute. It is
    /// parsed off the async runtime.
    pub async fn apply(&self, text: &str, runaway_limit: u32) -> Result<Applied, EngineError> {
        let flow = Flow::parse_off_runtime_with(text.to_owned(), self.apps.clone()).await?;
        for step in &flow.steps {
            let Some(name) = step.spec.connection.as_deref() else { continue };
            let Some(connection) = self.store.connection_summary(name).await? else {
                return Err(EngineError::MissingConnection(name.to_owned()));
            };
            let wanted = match &step.action {
                Action::App(operation) => operation.app.clone(),
                _ => HTTP,
            };
            if connection.app != wanted.as_str() {
                return Err(EngineError::WrongConnection {
                    step: step.spec.name.clone(),
                    connection: name.to_owned(),
                    app: connection.app,
                    action: step.spec.action.clone(),
                    wanted,
                });
            }
        }
        let needed = flow.scopes();
        for name in flow.connections() {
            let Some(connection) = self.store.connection_summary(name).await? else {
                return Err(EngineError::MissingConnection(name.to_owned()));
            };
            // A private token's scopes are chosen in the app, out of sight.
            if connection.auth_kind != AuthKind::Oauth {
                continue;
            }
            let granted: Vec<&str> = connection.scopes.split_whitespace().collect();
            let missing: Vec<String> = needed
                .get(name)
                .into_iter()
                .flatten()
                .filter(|scope| !granted.contains(scope))
                .map(|scope| (*scope).to_owned())
                .collect();
            if !missing.is_empty() {
                return Err(EngineError::MissingScopes {
                    connection: name.into(),
                    app: connection.app,
                    scopes: missing,
                });
            }
        }
        let id = self.store.put_flow(&flow.spec.name, text, true).await?;
        Ok(Applied { id, warnings: flow.self_trigger_warnings(runaway_limit) })
    }

    /// The scopes the stored flows need from a connection.
    pub async fn scopes_needed(&self, connection: &str) -> Result<Vec<String>, EngineError> {
        let mut scopes = Vec::new();
        for record in self.store.flows().await? {
            let Ok(flow) = self.compiled(&record.id, &record.definition) else { continue };
            let needed = flow.scopes().remove(connection).into_iter().flatten();
            scopes.extend(needed.map(str::to_owned));
        }
        scopes.sort_unstable();
        scopes.dedup();
        Ok(scopes)
    }

    /// The enabled flows, compiled (a broken or paused flow is left out).
    pub async fn enabled_flows(&self) -> Result<Vec<(FlowRecord, Arc<Flow>)>, EngineError> {
        let mut flows = Vec::new();
        for record in self.store.flows().await? {
            if record.status != FlowStatus::Enabled {
                continue;
            }
            if let Some(flow) = self.load(&record).await {
                flows.push((record, flow));
            }
        }
        Ok(flows)
    }

    /// Loads every stored flow: a flow that cannot be loaded is marked broken, with the
    /// reason, and skipped. Answers how many are broken.
    pub async fn load_flows(&self) -> Result<usize, EngineError> {
        let mut broken = 0;
        for record in self.store.flows().await? {
            if self.load(&record).await.is_none() {
                broken += 1;
            }
        }
        Ok(broken)
    }

    /// A stored flow compiled, or `None` when it is broken: then it is marked so in the store
    /// (`flows list`, `flows show` and the API show why) and skipped.
    async fn load(&self, record: &FlowRecord) -> Option<Arc<Flow>> {
        let compiled = self.compiled(&record.id, &record.definition);
        let broken = compiled.as_ref().err().map(FlowError::to_string);
        if record.broken != broken {
            if let Some(reason) = &broken {
                tracing::warn!(flow = %record.name, reason = %reason, "flow cannot be loaded; skipped");
            }
            if let Err(err) = self.store.set_flow_broken(&record.id, broken.as_deref()).await {
                tracing::warn!(flow = %record.name, error = %err, "cannot mark the flow broken");
            }
        }
        compiled.ok()
    }

    /// A stored flow compiled once per definition; a refusal is kept too, so a broken flow is
    /// not parsed again on every event.
    pub fn compiled(&self, flow_id: &FlowId, definition: &str) -> Compiled {
        if let Some((text, flow)) = self.flows.lock().get(flow_id) {
            if text == definition {
                return flow.clone();
            }
        }
        let flow = Flow::parse_with(definition, &self.apps).map(Arc::new);
        self.flows.lock().insert(flow_id.clone(), (definition.to_owned(), flow.clone()));
        flow
    }
}
