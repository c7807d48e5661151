//! How a connection proves who it is to an app: the auth kinds a manifest can declare, and
//! the credentials each asks of the user at `connect`. Secrets themselves never appear in a
//! manifest; a manifest only names them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::place::UrlOrPath;

/// An app's auth kind (`kind:` in a manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// API key header(s) (and query parameters), each a template over credentials the user
    /// gives: `X-Api-Key: "{api_key}"`, `Authorization: "apikey {token}"`.
    ApiKey {
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        query: BTreeMap<String, String>,
    },
    /// `Authorization: Bearer {token}`.
    Bearer,
    /// HTTP basic: `{username}` and `{password}`.
    Basic,
    /// `Authorization: {login}:{secret_key}` (Qonto's API keys).
    LoginSecretKey {
        #[serde(default = "authorization")]
        header: String,
    },
    /// OAuth 2.0 authorization code with refresh.
    Oauth2AuthorizationCode(OAuthCode),
    /// OAuth 2.0 client credentials (no user in the loop).
    Oauth2ClientCredentials(OAuthClient),
    /// The connection's URL is itself the secret (Slack and Teams incoming webhooks): each
    /// connection gives its URL, which replaces the base URL, and is kept like a password.
    SecretUrl,
    /// Outgoing webhooks signed per the Standard Webhooks specification: each connection
    /// gives the receiver's URL (which replaces the base URL and is kept like a password)
    /// and its `whsec_` secret. Every request carries `webhook-id` (the write's idempotency
    /// key, stable across retries), `webhook-timestamp` and `webhook-signature: v1,...`.
    SignedWebhook,
}

fn authorization() -> String {
    "Authorization".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthCode {
    /// The page the user grants access on.
    pub authorize_url: UrlOrPath,
    pub token_url: UrlOrPath,
    /// Scopes every connection asks for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes a connection that writes adds.
    #[serde(default)]
    pub write_scopes: Vec<String>,
    /// How the app treats refresh tokens.
    #[serde(default)]
    pub refresh_tokens: RefreshTokens,
    /// How the client proves itself at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Whether the authorization request carries a PKCE challenge.
    #[serde(default)]
    pub pkce: bool,
    /// A field of the token answer holding this account's API base URL (BQE CORE's
    /// `endpoint`): it replaces the manifest's base URL for the connection.
    #[serde(default)]
    pub base_url_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    pub token_url: UrlOrPath,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// What a refresh does to the refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokens {
    /// Each refresh returns a new refresh token and voids the old one: refreshes are
    /// single-flight and the new token is stored before it is used (HighLevel's rule).
    #[default]
    Rotating,
    /// The refresh token stays valid across refreshes.
    Reused,
}

/// How the client id and secret reach the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Body,
    /// HTTP basic with the client id and secret.
    BasicHeader,
}

/// A credential the user gives at `connect` (prompted, never echoed when secret).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credential {
    pub name: String,
    pub secret: bool,
    /// Given only when the user wants what it is for (a webhook signing secret).
    pub optional: bool,
}

impl Auth {
    /// The credentials a connection of this kind holds, in the order `connect` asks for them.
    pub fn credentials(&self) -> Vec<Credential> {
        fn named(names: &[(&str, bool)]) -> Vec<Credential> {
            names
                .iter()
                .map(|(name, secret)| Credential {
                    name: (*name).into(),
                    secret: *secret,
                    optional: false,
                })
                .collect()
        }
        match self {
            Self::ApiKey { headers, query } => {
                let mut names: Vec<String> = Vec::new();
                for template in headers.values().chain(query.values()) {
                    for name in template_names(template) {
                        if !names.iter().any(|known| known == name) {
                            names.push(name.to_owned());
                        }
                    }
                }
                // Only the parts that look like ids are shown; anything else is a secret.
                names
                    .into_iter()
                    .map(|name| {
                        let secret = !(name.ends_with("user") || name.ends_with("_id"));
                        Credential { name, secret, optional: false }
                    })
                    .collect()
            }
            Self::Bearer => named(&[("token", true)]),
            Self::Basic => named(&[("username", false), ("password", true)]),
            Self::LoginSecretKey { .. } => named(&[("login", false), ("secret_key", true)]),
            Self::Oauth2AuthorizationCode(_) | Self::Oauth2ClientCredentials(_) => {
                named(&[("client_id", false), ("client_secret", true)])
            }
            Self::SecretUrl => named(&[("url", true)]),
            Self::SignedWebhook => named(&[("url", true), ("secret", true)]),
        }
    }

    /// Whether the connection's `url` credential replaces the manifest's base URL.
    pub fn url_is_credential(&self) -> bool {
        matches!(self, Self::SecretUrl | Self::SignedWebhook)
    }

    /// The kind as a manifest spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::LoginSecretKey { .. } => "login_secret_key",
            Self::Oauth2AuthorizationCode(_) => "oauth2_authorization_code",
            Self::Oauth2ClientCredentials(_) => "oauth2_client_credentials",
            Self::SecretUrl => "secret_url",
            Self::SignedWebhook => "signed_webhook",
        }
    }
}

/// The `{name}`s of a template, in order (`"apikey {token}"` -> `token`).
pub fn template_names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_credentials_come_from_the_templates() {
        let auth = Auth::ApiKey {
            headers: BTreeMap::from([
                ("X-Api-User".into(), "{api_user}".into()),
                ("X-Api-Key".into(), "{api_key}".into()),
            ]),
            query: BTreeMap::new(),
        };
        let credentials = auth.credentials();
        let names: Vec<(&str, bool)> =
            credentials.iter().map(|c| (c.name.as_str(), c.secret)).collect();
        assert_eq!(names, [("api_key", true), ("api_user", false)]);
        assert_eq!(template_names("apikey {token} and {x}"), ["token", "x"]);
        assert!(template_names("no {end").is_empty());
    }
}
