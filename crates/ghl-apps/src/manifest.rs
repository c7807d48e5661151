//! The manifest: one YAML file that says everything the connector must know of an app to
//! act on it and be triggered by it. Unknown keys are refused everywhere (a typo is an
//! error, not a silently ignored setting); what serde cannot check alone is checked by
//! `checks.rs` once the file has parsed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Auth;
use crate::error_rules::ErrorRules;
use crate::paging::Paging;
use crate::place::{HttpUrl, Param, Place, Pointer};
use crate::rate_limit::RateLimit;
use crate::triggers::Triggers;
use crate::writes::Write;

/// One app, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The app's id as flows and connections name it: lowercase letters, digits and `-`.
    pub app: String,
    /// Its name for people.
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Where its API is; a connection may give another (a sandbox's, or the secret URL of
    /// a `secret_url` app).
    pub base_url: HttpUrl,
    /// What the account a connection speaks for is called (`workspace`, `location`), when
    /// operations name it.
    #[serde(default)]
    pub account: Option<String>,
    /// Headers every request carries (`Api-Version: current`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(deserialize_with = "crate::tagged::kind")]
    pub auth: Auth,
    /// The cheap read `connections test` makes.
    #[serde(default)]
    pub check: Option<Check>,
    #[serde(default)]
    pub errors: ErrorRules,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub triggers: Triggers,
}

/// `check:` — a harmless call that tells whether a connection works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A read operation.
    pub operation: String,
    /// Its parameters.
    #[serde(default)]
    pub input: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        })
    }
}

/// One operation: an action flows can take, a read polls and lookups use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Flows name it `<app>.<name>`: lowercase letters, digits and `-`.
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub method: Method,
    /// The OAuth scope a token needs to call it (`contacts.write`), if the app has scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Under the base URL, with `{param}`s each declared in `path_params` (`""` for the base
    /// URL itself).
    pub path: String,
    #[serde(default)]
    pub path_params: Fields,
    #[serde(default)]
    pub query: Fields,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<Body>,
    /// Where the operation names the account the connection speaks for; the connection
    /// fills it in where a step does not.
    #[serde(default)]
    pub account: Option<Param>,
    #[serde(default)]
    pub response: Response,
    /// Required unless the method is `GET`.
    #[serde(default, deserialize_with = "crate::tagged::optional_kind")]
    pub write: Option<Write>,
    #[serde(default, deserialize_with = "crate::tagged::optional_kind")]
    pub paging: Option<Paging>,
    /// Webhook events a successful call causes (its echo is recognised as our own write).
    #[serde(default)]
    pub causes: Vec<String>,
}

impl Operation {
    /// Whether calling it changes anything.
    pub fn writes(&self) -> bool {
        match &self.write {
            Some(write) => write.writes(),
            None => self.method != Method::Get,
        }
    }

    /// The `{name}`s of the path template, in order.
    pub fn path_names(&self) -> Vec<&str> {
        crate::auth::template_names(&self.path)
    }

    /// Whether the operation declares the parameter.
    pub fn declares(&self, param: &Param) -> bool {
        match param.place {
            Place::Path => self.path_params.0.contains_key(&param.name),
            Place::Query => self.query.0.contains_key(&param.name),
            Place::Body => self.body.as_ref().is_some_and(|body| body.declares(&param.name)),
            Place::Header => true,
        }
    }
}

/// `response:` — what a successful answer holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    #[serde(default)]
    pub format: ResponseFormat,
    /// Where the record (or, for a list, the records) sits in the answer.
    #[serde(default)]
    pub record: Pointer,
    /// A record's id field.
    #[serde(default)]
    pub id: Option<String>,
    /// The success statuses (default: any 2xx).
    #[serde(default)]
    pub status: Vec<u16>,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            format: ResponseFormat::Json,
            record: Pointer::whole(),
            id: None,
            status: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Json,
    /// Plain text (Slack's `ok`, Teams' `1`).
    Text,
    /// Nothing worth reading (a 202 or 204).
    Empty,
}

/// `body:` — the request body: fields with types, or a JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    #[serde(default)]
    pub fields: Fields,
    #[serde(default)]
    pub schema: Option<Value>,
}

impl Body {
    /// Whether a top-level field of this name is part of the body.
    pub fn declares(&self, name: &str) -> bool {
        if self.fields.0.contains_key(name) {
            return true;
        }
        match &self.schema {
            Some(schema) => match schema.get("properties") {
                Some(Value::Object(properties)) => properties.contains_key(name),
                // A schema without properties lists none: any field may be meant.
                _ => true,
            },
            None => false,
        }
    }

    /// The body's required fields.
    pub fn required(&self) -> Vec<String> {
        let mut required: Vec<String> = self.fields.required().map(str::to_owned).collect();
        if let Some(Value::Array(names)) = self.schema.as_ref().and_then(|s| s.get("required")) {
            required.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        required
    }
}

/// Named fields with their types, in the order of their names. A name given twice is
/// refused (YAML would keep the last one silently).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fields(pub BTreeMap<String, Field>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn required(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|(_, field)| field.required).map(|(name, _)| name.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of field names to `{type: ..., required: ...}`")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(name) = map.next_key_seed(NewName(&fields))? {
            let field = map.next_value::<Field>()?;
            fields.insert(name, field);
        }
        Ok(Fields(fields))
    }
}

/// A field name not seen before in the same map: refused at the repeated key itself, so the
/// refusal points at its line.
struct NewName<'a>(&'a BTreeMap<String, Field>);

impl<'de> serde::de::DeserializeSeed<'de> for NewName<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for NewName<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<String, E> {
        if self.0.contains_key(name) {
            return Err(E::custom(format!("the field `{name}` is declared twice")));
        }
        Ok(name.to_owned())
    }
}

/// A parameter's or body field's type, and whether it must be given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// The values it may take.
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    /// An RFC 3339 time, sent as a string.
    DateTime,
}

impl Manifest {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|operation| operation.name == name)
    }
}
