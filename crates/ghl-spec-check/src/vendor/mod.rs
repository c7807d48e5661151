//! The partner apps' vendor API files (`specs/partners/*.json|yaml`, OpenAPI 3.0 or 3.1) as
//! test support: each loaded once per process; an operation found by method and path; its
//! parameters, request body fields and required ones (`$ref` and `allOf` resolved); answers
//! validated against its response schemas; and a whole manifest compared with the file
//! ([`assert_manifest_matches`]), every difference reported at once.

mod manifest;
mod schema;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

pub use manifest::{
    assert_manifest_matches, assert_manifest_matches_with, differences, Allowances,
};
pub use schema::{Flat, Property};

/// Where the vendor files are.
const PARTNERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/partners");

/// One vendor API file, loaded.
pub struct VendorSpec {
    /// The file's name (`nozbe-openapi.json`), for messages.
    pub file: String,
    document: Value,
    validators: Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>,
}

/// The vendor file `file` of `specs/partners` (`nozbe-openapi.json`, `qonto-openapi.yaml`),
/// read and parsed once per process. Panics naming the file when it cannot be read or is
/// not an OpenAPI 3 document: the tests that use it cannot run without it.
pub fn spec(file: &str) -> &'static VendorSpec {
    static SPECS: OnceLock<Mutex<HashMap<String, &'static VendorSpec>>> = OnceLock::new();
    let specs = SPECS.get_or_init(Default::default);
    let mut loaded = specs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = loaded.get(file) {
        return found;
    }
    let spec: &'static VendorSpec =
        Box::leak(Box::new(VendorSpec::parse(file).unwrap_or_else(|err| panic!("{err}"))));
    loaded.insert(file.to_owned(), spec);
    spec
}

impl VendorSpec {
    /// Reads and parses `specs/partners/<file>`.
    pub fn parse(file: &str) -> Result<Self, String> {
        let path = format!("{PARTNERS}/{file}");
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read the vendor file {path}: {err}"))?;
        Self::from_text(file, &text)
    }

    /// Parses an OpenAPI 3.0/3.1 document given as JSON or YAML text.
    pub fn from_text(file: &str, text: &str) -> Result<Self, String> {
        let mut document: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|err| format!("{file} is not JSON: {err}"))?
        } else {
            serde_norway::from_str(text).map_err(|err| format!("{file} is not YAML: {err}"))?
        };
        let version = document.get("openapi").and_then(Value::as_str).unwrap_or_default();
        if !version.starts_with("3.") {
            return Err(format!("{file} is not an OpenAPI 3 document (openapi: `{version}`)"));
        }
        if version.starts_with("3.0") {
            schema::openapi_30_to_json_schema(&mut document);
        }
        Ok(Self { file: file.to_owned(), document, validators: Mutex::new(HashMap::new()) })
    }

    /// The whole document (3.0 schemas already turned into JSON Schema).
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The operation answering `method` at `path`: a path template of the file (`/tasks/{id}`,
    /// any parameter name) or a concrete path (`/tasks/abc`). A static segment wins over a
    /// parameter (`/tasks/search` is the search, not a task).
    pub fn operation(&self, method: &str, path: &str) -> Option<VendorOperation<'_>> {
        let method = method.to_ascii_lowercase();
        let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let paths = self.document.get("paths")?.as_object()?;
        paths
            .iter()
            .filter_map(|(template, item)| {
                let operation = item.get(&method)?;
                let segments: Vec<&str> = template.trim_end_matches('/').split('/').collect();
                if segments.len() != wanted.len() {
                    return None;
                }
                // Static segments first, then parameters named as asked (a file may hold
                // `/feeds/{id}` and `/feeds/{feedPath}`).
                let mut statics = 0;
                for (expected, actual) in segments.iter().zip(&wanted) {
                    if is_param(expected) {
                        if actual.is_empty() {
                            return None;
                        }
                        if expected == actual {
                            statics += 1;
                        }
                    } else if expected == actual {
                        statics += 1 << 8;
                    } else {
                        return None;
                    }
                }
                let found = VendorOperation {
                    spec: self,
                    method: method.to_ascii_uppercase(),
                    path: template.clone(),
                    item,
                    operation,
                };
                Some((statics, found))
            })
            .max_by_key(|(statics, _)| *statics)
            .map(|(_, operation)| operation)
    }

    /// `value` with its `$ref`s followed (local references only), at most 32 deep.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else { break };
            match reference.strip_prefix('#').and_then(|pointer| self.document.pointer(pointer)) {
                Some(target) => value = target,
                None => break,
            }
        }
        value
    }

    /// The validator of the schema at `pointer` of the document, with the document's
    /// `components` beside it so that its references resolve; `None` where there is no
    /// schema (or an empty one).
    fn validator(&self, pointer: &str) -> Result<Option<Arc<jsonschema::Validator>>, String> {
        let mut cache = self.validators.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = cache.get(pointer) {
            return Ok(found.clone());
        }
        let built = match self.document.pointer(pointer) {
            Some(schema) if schema.as_object().is_some_and(|map| !map.is_empty()) => {
                let mut root = schema.clone();
                if let (Value::Object(map), Some(components)) =
                    (&mut root, self.document.get("components"))
                {
                    map.insert("components".into(), components.clone());
                }
                let validator = jsonschema::validator_for(&root).map_err(|err| {
                    format!("{}: the schema at {pointer} does not compile: {err}", self.file)
                })?;
                Some(Arc::new(validator))
            }
            _ => None,
        };
        cache.insert(pointer.to_owned(), built.clone());
        Ok(built)
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// A parameter of an operation: its name, where it goes (`query`, `path`, `header`,
/// `cookie`) and whether it must be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorParam {
    pub name: String,
    pub location: String,
    pub required: bool,
    /// Its schema (`$ref` followed).
    pub schema: Value,
}

/// One operation of a vendor file.
pub struct VendorOperation<'a> {
    spec: &'a VendorSpec,
    /// `GET`, `POST`...
    pub method: String,
    /// Its path template in the file (`/tasks/{id}`).
    pub path: String,
    item: &'a Value,
    operation: &'a Value,
}

impl VendorOperation<'_> {
    /// `GET /tasks/{id}` (and its operationId), for messages.
    pub fn describe(&self) -> String {
        match self.id() {
            Some(id) => format!("{} {} ({id})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.operation.get("operationId").and_then(Value::as_str)
    }

    /// Its parameters: the path item's and its own (its own win), references followed.
    pub fn parameters(&self) -> Vec<VendorParam> {
        let mut found: BTreeMap<(String, String), VendorParam> = BTreeMap::new();
        for list in [self.item.get("parameters"), self.operation.get("parameters")] {
            for parameter in list.and_then(Value::as_array).into_iter().flatten() {
                let parameter = self.spec.resolve(parameter);
                let (Some(name), Some(location)) = (
                    parameter.get("name").and_then(Value::as_str),
                    parameter.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let required = parameter.get("required").and_then(Value::as_bool).unwrap_or(false)
                    || location == "path";
                let schema = parameter
                    .get("schema")
                    .map(|s| self.spec.resolve(s).clone())
                    .unwrap_or_default();
                found.insert(
                    (location.to_owned(), name.to_owned()),
                    VendorParam {
                        name: name.to_owned(),
                        location: location.to_owned(),
                        required,
                        schema,
                    },
                );
            }
        }
        found.into_values().collect()
    }

    /// The parameters in `location` (`query`, `path`).
    pub fn parameters_in(&self, location: &str) -> Vec<VendorParam> {
        self.parameters().into_iter().filter(|param| param.location == location).collect()
    }

    /// The JSON request body's schema, flattened (`$ref`, `allOf`, `anyOf`/`oneOf`
    /// merged); `None` when the operation takes no JSON body.
    pub fn body(&self) -> Option<Flat> {
        let content = self.spec.resolve(self.operation.get("requestBody")?).get("content")?;
        let schema = json_content(content)?.get("schema")?;
        Some(schema::flatten(self.spec, schema))
    }

    /// Whether the file marks the request body required.
    pub fn body_required(&self) -> bool {
        self.operation
            .get("requestBody")
            .map(|body| self.spec.resolve(body))
            .and_then(|body| body.get("required"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether the file documents `status` for it (exactly, as `2XX`, or `default`).
    pub fn documents_status(&self, status: u16) -> bool {
        self.response_key(status).is_some()
    }

    /// The success statuses the file documents (2xx).
    pub fn success_statuses(&self) -> Vec<u16> {
        self.responses()
            .keys()
            .filter_map(|key| key.parse::<u16>().ok())
            .filter(|status| (200..300).contains(status))
            .collect()
    }

    fn responses(&self) -> serde_json::Map<String, Value> {
        self.operation.get("responses").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    fn response_key(&self, status: u16) -> Option<String> {
        let responses = self.responses();
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        [exact, range, "default".to_owned()].into_iter().find(|key| responses.contains_key(key))
    }

    /// The JSON schema of the answer with `status`, flattened; `None` when the file gives
    /// it no JSON schema.
    pub fn response(&self, status: u16) -> Option<Flat> {
        let key = self.response_key(status)?;
        let response = self.spec.resolve(self.operation.get("responses")?.get(&key)?);
        let schema = json_content(response.get("content")?)?.get("schema")?;
        Some(schema::flatten(self.spec, schema))
    }

    /// The record a list answers with: the items of its success answer's array (at
    /// `pointer`, a JSON pointer into the answer), flattened.
    pub fn listed_record(&self, pointer: &str) -> Option<Flat> {
        let status = self.success_statuses().into_iter().next().unwrap_or(200);
        let answer = self.response(status)?;
        let at = schema::at_pointer(self.spec, &answer, pointer)?;
        let items = at.items.as_ref()?;
        Some(schema::flatten(self.spec, items))
    }

    /// Every way `body`, answered with `status`, breaks the file: an undocumented status,
    /// or each violation of its response schema. A status the file documents without a
    /// schema accepts any body.
    pub fn validate(&self, status: u16, body: &Value) -> Result<(), Vec<String>> {
        let Some(key) = self.response_key(status) else {
            return Err(vec![format!(
                "{}: {} does not document the status {status}",
                self.spec.file,
                self.describe()
            )]);
        };
        let Some(pointer) = self.response_schema_pointer(&key) else { return Ok(()) };
        let validator = self.spec.validator(&pointer).map_err(|err| vec![err])?;
        let Some(validator) = validator else { return Ok(()) };
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Panics with every violation when `body` is not what the file says the operation
    /// answers with `status`.
    pub fn assert_answer(&self, status: u16, body: &Value) {
        if let Err(errors) = self.validate(status, body) {
            panic!(
                "{}: {} answered {status} against the vendor file:\n{}\nbody: {body}",
                self.spec.file,
                self.describe(),
                errors.join("\n")
            );
        }
    }

    /// The JSON pointer, in the document, of the JSON schema of response `key`.
    fn response_schema_pointer(&self, key: &str) -> Option<String> {
        let escape = |text: &str| text.replace('~', "~0").replace('/', "~1");
        let mut base = format!(
            "/paths/{}/{}/responses/{}",
            escape(&self.path),
            self.method.to_ascii_lowercase(),
            escape(key)
        );
        let mut response = self.spec.document.pointer(&base)?;
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            base = reference.strip_prefix('#')?.to_owned();
            response = self.spec.resolve(response);
        }
        let content = response.get("content")?.as_object()?;
        let (media, _) = content.iter().find(|(media, _)| is_json(media))?;
        Some(format!("{base}/content/{}/schema", escape(media)))
    }
}

fn is_json(media: &str) -> bool {
    media == "*/*" || media.split(';').next().is_some_and(|kind| kind.ends_with("json"))
}

/// The JSON media type's entry of a `content` map.
fn json_content(content: &Value) -> Option<&Value> {
    content.as_object()?.iter().find(|(media, _)| is_json(media)).map(|(_, value)| value)
}

/// The names of a set, for messages.
pub(crate) fn names(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
