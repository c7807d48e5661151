//! The rows of the catalog test ([`super`]): what each entry is given and what must show.
//! HighLevel's and the first manifest apps' rows are in `catalog.rs`; each partner app has
//! its own module here, listed in [`PARTNERS`].

pub mod qonto;

/// A partner app's rows: its actions (run in order, a row may use what an earlier one
/// kept), its deletes (run after the polls fired) and its triggers.
pub struct AppRows {
    /// The app's connection in the test: named as the app, made from its sandbox's
    /// credentials and address.
    pub app: &'static str,
    pub actions: &'static [ActionRow],
    pub deletes: &'static [ActionRow],
    pub triggers: &'static [TriggerRow],
}

pub mod bqe_core;
pub mod nozbe;
pub mod qobrix;

/// Every partner app's rows.
pub const PARTNERS: &[AppRows] = &[qonto::ROWS, bqe_core::ROWS, nozbe::ROWS, qobrix::ROWS];

/// One action of the catalog as a step: what it is given and what must show afterwards.
pub struct ActionRow {
    /// The catalog's name of it (`highlevel.create-task`).
    pub action: &'static str,
    /// The connection the step uses; `None` for a utility that needs none.
    pub connection: Option<&'static str>,
    /// The step's input: field and jq expression over `.trigger`, which holds the facts
    /// gathered so far ([`ActionRow::keep`]) and the sandboxes' ids.
    pub input: &'static [(&'static str, &'static str)],
    /// The sandbox (by app) and its operation that must have answered 2xx: an app's action
    /// is served by its own operation; `http.request` names the one it reached; `util.*`
    /// steps make no request (their output is checked).
    pub served_by: Option<(&'static str, &'static str)>,
    /// An effect the sandbox must have counted (`task.created`), for a write.
    pub effect: Option<&'static str>,
    /// A JSON pointer the step's output must hold a value at.
    pub output: Option<&'static str>,
    /// A fact for later rows: its name in `.trigger`, and its JSON pointer in the output.
    pub keep: Option<(&'static str, &'static str)>,
}

/// A row of `app.operation`, served by that operation of the app's sandbox.
pub const fn op(action: &'static str, connection: &'static str) -> ActionRow {
    ActionRow {
        action,
        connection: Some(connection),
        input: &[],
        served_by: None,
        effect: None,
        output: None,
        keep: None,
    }
}

/// A row of one of the engine's own steps: no connection, unless [`ActionRow::via`] gives one.
pub const fn utility(action: &'static str) -> ActionRow {
    ActionRow { connection: None, ..op(action, "") }
}

impl ActionRow {
    pub const fn via(self, connection: &'static str) -> Self {
        Self { connection: Some(connection), ..self }
    }
    pub const fn input(self, input: &'static [(&'static str, &'static str)]) -> Self {
        Self { input, ..self }
    }
    pub const fn effect(self, effect: &'static str) -> Self {
        Self { effect: Some(effect), ..self }
    }
    pub const fn output(self, pointer: &'static str) -> Self {
        Self { output: Some(pointer), ..self }
    }
    pub const fn keep(self, name: &'static str, pointer: &'static str) -> Self {
        Self { keep: Some((name, pointer)), ..self }
    }
    pub const fn served_by(self, app: &'static str, operation: &'static str) -> Self {
        Self { served_by: Some((app, operation)), ..self }
    }

    /// The sandbox and operation that must have answered: the row's own, or the app's.
    pub fn served(&self) -> Option<(&'static str, &'static str)> {
        self.served_by.or_else(|| match self.action.split_once('.') {
            Some(("util" | "http", _)) | None => None,
            app_operation => app_operation,
        })
    }
}

/// One trigger of the catalog: what makes it fire here, and a field its `.trigger` must have.
pub struct TriggerRow {
    pub trigger: &'static str,
    /// The action rows (or the test's own call) that make it fire; read, not run.
    pub fired_by: &'static str,
    /// A JSON pointer into `.trigger` that must hold a value.
    pub field: &'static str,
}

pub const fn fired(
    trigger: &'static str,
    fired_by: &'static str,
    field: &'static str,
) -> TriggerRow {
    TriggerRow { trigger, fired_by, field }
}
