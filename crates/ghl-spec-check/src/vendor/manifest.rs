//! A manifest compared with its app's vendor file: every operation must be one of the file
//! (method and path under the prefix), with the file's path, query and body names, the same
//! required ones (read-only fields are never required of a request), compatible types, a
//! success status the file documents, a record pointer into the file's answer, and each
//! poll's time fields on the listed record. Every difference is reported at once.

use std::collections::BTreeSet;

use ghl_apps::manifest::{Body, FieldType, Fields, Method};
use ghl_apps::{Manifest, Operation};

use super::schema::flatten;
use super::{is_param, names, VendorOperation, VendorSpec};

/// What the vendor file cannot list but another vendor source documents: the checks accept
/// it. Say why beside each use.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// The app filters a list by any field of the listed record given as a query parameter,
    /// optionally with an operator suffix in brackets (Nozbe: `ended_at=null`,
    /// `last_modified[min]=...`): such a parameter is accepted where the listed record has
    /// the field.
    pub field_filters: bool,
    /// (operation, parameter or body field) accepted though the file lacks it.
    pub extra: Vec<(String, String)>,
    /// (operation, parameter or body field) the connector requires though the file makes
    /// it optional (a choice its docs explain: a create's parent, so that a lost answer is
    /// found among the parent's children).
    pub required_here: Vec<(String, String)>,
}

impl Allowances {
    fn allows(&self, operation: &str, name: &str) -> bool {
        self.extra.iter().any(|(op, field)| op == operation && field == name)
    }

    fn requires(&self, operation: &str, name: &str) -> bool {
        self.required_here.iter().any(|(op, field)| op == operation && field == name)
    }
}

/// Panics listing every difference between `manifest` and the vendor file; `prefix` is what
/// lies between the manifest's base URL path and the file's paths (`""`, or `/v2` when the
/// base URL ends before the file's `/v2/...` paths).
pub fn assert_manifest_matches(manifest: &Manifest, spec: &VendorSpec, prefix: &str) {
    assert_manifest_matches_with(manifest, spec, prefix, &Allowances::default());
}

/// [`assert_manifest_matches`], accepting what `allowances` names.
pub fn assert_manifest_matches_with(
    manifest: &Manifest,
    spec: &VendorSpec,
    prefix: &str,
    allowances: &Allowances,
) {
    let found = differences(manifest, spec, prefix, allowances);
    assert!(
        found.is_empty(),
        "the manifest of `{}` differs from {} in {} way(s):\n- {}",
        manifest.app,
        spec.file,
        found.len(),
        found.join("\n- ")
    );
}

/// Every difference between `manifest` and the vendor file, each naming the operation.
pub fn differences(
    manifest: &Manifest,
    spec: &VendorSpec,
    prefix: &str,
    allowances: &Allowances,
) -> Vec<String> {
    let mut found = Vec::new();
    for operation in &manifest.operations {
        let path = format!("{prefix}{}", operation.path);
        let Some(vendor) = spec.operation(&operation.method.to_string(), &path) else {
            found.push(format!(
                "{}: {} {path} is no operation of {}",
                operation.name, operation.method, spec.file
            ));
            continue;
        };
        let mut check =
            OperationCheck { operation, vendor: &vendor, spec, allowances, found: &mut found };
        check.path(&path);
        check.query();
        check.body();
        check.response();
    }
    for poll in &manifest.triggers.polls {
        let Some(operation) = manifest.operation(&poll.operation) else { continue };
        let path = format!("{prefix}{}", operation.path);
        let Some(vendor) = spec.operation(&operation.method.to_string(), &path) else { continue };
        let Some(record) = vendor.listed_record(operation.response.record.as_str()) else {
            found.push(format!(
                "poll {}: {} answers no list of records at `{}`",
                poll.name,
                vendor.describe(),
                operation.response.record.as_str()
            ));
            continue;
        };
        for field in std::iter::once(&poll.modified).chain(poll.created.as_ref()) {
            if !record.properties.contains_key(field) {
                found.push(format!(
                    "poll {}: the listed record has no field `{field}` in {}",
                    poll.name, spec.file
                ));
            }
        }
    }
    found
}

struct OperationCheck<'a> {
    operation: &'a Operation,
    vendor: &'a VendorOperation<'a>,
    spec: &'a VendorSpec,
    allowances: &'a Allowances,
    found: &'a mut Vec<String>,
}

impl OperationCheck<'_> {
    fn differ(&mut self, what: String) {
        self.found.push(format!("{} ({}): {what}", self.operation.name, self.vendor.describe()));
    }

    /// Path parameters named as the file names them.
    fn path(&mut self, path: &str) {
        let ours: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let theirs: Vec<String> =
            self.vendor.path.trim_end_matches('/').split('/').map(str::to_owned).collect();
        for (mine, vendor) in ours.iter().zip(&theirs) {
            if is_param(mine) && is_param(vendor) && mine != vendor {
                self.differ(format!("path parameter {mine} is {vendor} in the vendor file"));
            }
        }
    }

    fn query(&mut self) {
        let vendor = self.vendor.parameters_in("query");
        let record = (self.operation.method == Method::Get)
            .then(|| self.vendor.listed_record(self.operation.response.record.as_str()))
            .flatten();
        for (name, field) in &self.operation.query.0 {
            if let Some(param) = vendor.iter().find(|param| &param.name == name) {
                let types = flatten(self.spec, &param.schema).types;
                if !fits(field.kind, &types) {
                    self.differ(format!(
                        "query parameter {name} is {:?} here but {} in the vendor file",
                        field.kind,
                        names(&types)
                    ));
                }
                continue;
            }
            let filtered_field = name.split('[').next().unwrap_or(name);
            let is_field_filter = self.allowances.field_filters
                && record
                    .as_ref()
                    .is_some_and(|record| record.properties.contains_key(filtered_field))
                && (filtered_field == name || name.ends_with(']'));
            if !is_field_filter && !self.allowances.allows(&self.operation.name, name) {
                self.differ(format!("query parameter {name} is not in the vendor file"));
            }
        }
        for param in vendor.iter().filter(|param| param.required) {
            if !self.operation.query.get(&param.name).is_some_and(|field| field.required) {
                self.differ(format!("the vendor file requires the query parameter {}", param.name));
            }
        }
        for name in self.operation.query.required() {
            if self.allowances.requires(&self.operation.name, name) {
                continue;
            }
            if vendor.iter().any(|param| param.name == name && !param.required) {
                self.differ(format!(
                    "query parameter {name} is required here, optional in the vendor file"
                ));
            }
        }
    }

    fn body(&mut self) {
        let vendor = self.vendor.body();
        let Some(body) = &self.operation.body else {
            if vendor.is_some() && self.vendor.body_required() {
                self.differ("the vendor file requires a JSON body; none is declared".into());
            }
            return;
        };
        let Some(mut vendor) = vendor else {
            self.differ("a JSON body is declared; the vendor file takes none".into());
            return;
        };
        let mut required = vendor.required_in_requests();
        let mut against = "request body";
        if vendor.open {
            // A free-form body (`{type: object, additionalProperties: true}`, as generated
            // clients write updates) is checked against the record the operation answers
            // with; it requires nothing.
            required = BTreeSet::new();
            let status = self.vendor.success_statuses().into_iter().next().unwrap_or(200);
            match self.vendor.response(status) {
                Some(record) if !record.properties.is_empty() => {
                    vendor = record;
                    against = "answered record";
                }
                _ => return,
            }
        }
        let (declared, ours_required) = declared(body);
        for (name, kind) in &declared {
            match vendor.properties.get(name) {
                None if self.allowances.allows(&self.operation.name, name) => {}
                None => self.differ(format!("body field {name} is not in the vendor's {against}")),
                Some(property) if property.read_only => {
                    self.differ(format!("body field {name} is read-only in the vendor file"))
                }
                Some(property) => {
                    if let Some(kind) = kind {
                        if !fits(*kind, &property.types) {
                            self.differ(format!(
                                "body field {name} is {kind:?} here but {} in the vendor file",
                                names(&property.types)
                            ));
                        }
                    }
                }
            }
        }
        for name in required.difference(&ours_required) {
            self.differ(format!(
                "the vendor file requires the body field {name}; it is optional here"
            ));
        }
        for name in ours_required.difference(&required) {
            if self.allowances.requires(&self.operation.name, name) {
                continue;
            }
            self.differ(format!("body field {name} is required here, optional in the vendor file"));
        }
    }

    fn response(&mut self) {
        for status in &self.operation.response.status {
            if !self.vendor.success_statuses().contains(status) {
                self.differ(format!(
                    "success status {status} is not documented (the vendor file's: {:?})",
                    self.vendor.success_statuses()
                ));
            }
        }
        let status = self.vendor.success_statuses().into_iter().next().unwrap_or(200);
        let Some(answer) = self.vendor.response(status) else { return };
        if answer.open {
            return;
        }
        let pointer = self.operation.response.record.as_str();
        if super::schema::at_pointer(self.spec, &answer, pointer).is_none() {
            self.differ(format!("the record pointer `{pointer}` is not in the vendor's answer"));
        }
    }
}

/// The body's fields with their types (a schema body's types are not compared), and the
/// required ones.
fn declared(body: &Body) -> (Vec<(String, Option<FieldType>)>, BTreeSet<String>) {
    let Fields(fields) = &body.fields;
    let mut declared: Vec<(String, Option<FieldType>)> =
        fields.iter().map(|(name, field)| (name.clone(), Some(field.kind))).collect();
    if let Some(properties) = body.schema.as_ref().and_then(|schema| schema.get("properties")) {
        if let Some(properties) = properties.as_object() {
            declared.extend(properties.keys().map(|name| (name.clone(), None)));
        }
    }
    (declared, body.required().into_iter().collect())
}

/// Whether a value of the manifest's type is one the vendor's types accept (no types: any).
fn fits(kind: FieldType, types: &BTreeSet<String>) -> bool {
    if types.is_empty() {
        return true;
    }
    let accepted: &[&str] = match kind {
        FieldType::String | FieldType::DateTime => &["string"],
        FieldType::Integer => &["integer", "number"],
        FieldType::Number => &["number"],
        FieldType::Boolean => &["boolean"],
        FieldType::Object => &["object"],
        FieldType::Array => &["array"],
    };
    accepted.iter().any(|kind| types.contains(*kind))
}
