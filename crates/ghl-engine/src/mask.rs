//! The one masking rule for everything the engine records or shows (a step's input, request,
//! response and error, a run's error, test reports, log lines): secret fields, `Bearer`/`Basic`
//! credentials and every secret value a connection holds are replaced by `***`.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

/// What a masked value reads.
pub const MASK: &str = "***";

/// Field and header names whose values are secrets (compared without case, `-` and `_`).
const SECRET_FIELDS: [&str; 13] = [
    "authorization",
    "proxyauthorization",
    "cookie",
    "setcookie",
    "xapikey",
    "apikey",
    "token",
    "accesstoken",
    "refreshtoken",
    "clientsecret",
    "password",
    "secret",
    "bearertoken",
];

/// Secret values shorter than this are not looked for inside texts (they would mask words).
const MIN_SECRET_LEN: usize = 6;

/// The most secret values remembered (a flow could pass a new token on every run).
const MAX_SECRETS: usize = 4096;

/// Masks secrets; shared by everything that records or shows. It learns the secret values of
/// connections as they are loaded, and those of the secret fields it masks, so a secret
/// repeated elsewhere (a log message) is masked there too.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Arc<RwLock<BTreeSet<String>>>,
}

impl Masker {
    /// Remembers a secret value, to be masked wherever it appears.
    pub fn learn(&self, secret: &str) {
        let secret = secret.trim();
        if secret.len() < MIN_SECRET_LEN || secret == MASK {
            return;
        }
        let mut secrets = self.secrets.write();
        if secrets.len() < MAX_SECRETS {
            secrets.insert(secret.to_owned());
        }
    }

    /// A value with its secrets masked.
    pub fn value(&self, value: &Value) -> Value {
        self.learn_fields(value);
        let mut masked = value.clone();
        self.value_in_place(&mut masked);
        masked
    }

    /// Learns the values of the secret fields in `value`, wherever they are.
    fn learn_fields(&self, value: &Value) {
        match value {
            Value::Array(items) => items.iter().for_each(|item| self.learn_fields(item)),
            Value::Object(fields) => {
                for (name, field) in fields {
                    match field {
                        Value::String(secret) if is_secret_field(name) => {
                            self.learn(secret);
                            if let Some((_, credential)) = secret.split_once(' ') {
                                self.learn(credential);
                            }
                        }
                        _ => self.learn_fields(field),
                    }
                }
            }
            _ => {}
        }
    }

    fn value_in_place(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.value_in_place(item)),
            Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    if is_secret_field(name) && !field.is_null() {
                        *field = Value::String(MASK.into());
                    } else {
                        self.value_in_place(field);
                    }
                }
            }
            _ => {}
        }
    }

    /// A text with its secrets masked.
    pub fn text(&self, text: &str) -> String {
        let mut masked = mask_schemes(text);
        for secret in self.secrets.read().iter() {
            if masked.contains(secret.as_str()) {
                masked = masked.replace(secret.as_str(), MASK);
            }
        }
        masked
    }
}

fn is_secret_field(name: &str) -> bool {
    let plain: String =
        name.chars().filter(|c| *c != '-' && *c != '_').map(|c| c.to_ascii_lowercase()).collect();
    SECRET_FIELDS.contains(&plain.as_str())
}

/// `Bearer abc…` and `Basic abc…` (any case) become `Bearer ***`.
fn mask_schemes(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, scheme_len)) = next_scheme(rest) {
        let credential_start = at + scheme_len;
        let credential_len = rest[credential_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '\\'))
            .unwrap_or(rest.len() - credential_start);
        masked.push_str(&rest[..credential_start]);
        if credential_len > 0 {
            masked.push_str(MASK);
        }
        rest = &rest[credential_start + credential_len..];
    }
    masked.push_str(rest);
    masked
}

/// Where the next `Bearer ` or `Basic ` starts (as a word), and its length.
fn next_scheme(text: &str) -> Option<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    ["bearer ", "basic "]
        .iter()
        .filter_map(|scheme| {
            lower
                .match_indices(scheme)
                .find(|(at, _)| *at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric())
                .map(|(at, _)| (at, scheme.len()))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_fields_credentials_and_known_values_are_masked() {
        let masker = Masker::default();
        masker.learn("s3cret-value");
        let recorded = json!({
            "headers": { "Authorization": "Bearer abc.def", "X-Api-Key": "k", "Accept": "json" },
            "url": "https://example.com/?key=s3cret-value",
            "note": "sent Basic dXNlcjpwdw== then bearer xyz",
            "access_token": null,
            "list": ["s3cret-value"],
        });
        let masked = masker.value(&recorded);
        assert_eq!(masked["headers"]["Authorization"], MASK);
        assert_eq!(masked["headers"]["X-Api-Key"], MASK);
        assert_eq!(masked["headers"]["Accept"], "json");
        assert_eq!(masked["url"], "https://example.com/?key=***");
        assert_eq!(masked["note"], "sent Basic *** then bearer ***");
        assert_eq!(masked["access_token"], Value::Null, "nothing to hide");
        assert_eq!(masked["list"][0], MASK);
        assert_eq!(masker.text("an unbearable wait"), "an unbearable wait");
        assert_eq!(masker.text("Authorization: Bearer t0k\"}"), "Authorization: Bearer ***\"}");
        let learned = masker.value(&json!({ "password": "hunter22", "later": "pw hunter22" }));
        assert_eq!(learned["later"], "pw ***", "a masked field's value is masked elsewhere");
    }
}
