//! Where a value sits: in a request (`query:limit`, `body:pageLimit`, `path:id`,
//! `header:X-Cursor`), in an answer or a webhook (a JSON pointer `/meta/next`, or
//! `header:Link`), or where a URL points (absolute, or a path under the base URL). Each is
//! written as one string in a manifest and parsed once, here, into a type.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The part of a request a value goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// A `{name}` segment of the path template.
    Path,
    Query,
    /// A top-level field of the JSON body.
    Body,
    Header,
}

impl Place {
    fn prefix(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Body => "body",
            Self::Header => "header",
        }
    }
}

/// A named value of a request and where it goes: `query:limit`. A bare name is a query
/// parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Param {
    pub place: Place,
    pub name: String,
}

impl Param {
    pub fn query(name: &str) -> Self {
        Self { place: Place::Query, name: name.to_owned() }
    }
}

impl TryFrom<String> for Param {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let (place, name) = match text.split_once(':') {
            None => (Place::Query, text.as_str()),
            Some(("query", name)) => (Place::Query, name),
            Some(("body", name)) => (Place::Body, name),
            Some(("path", name)) => (Place::Path, name),
            Some(("header", name)) => (Place::Header, name),
            Some((other, _)) => {
                return Err(format!(
                    "`{text}`: `{other}:` is not a part of a request; write `query:NAME`, \
                     `body:NAME`, `path:NAME` or `header:NAME`"
                ))
            }
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("`{text}` names no parameter (a name without spaces is needed)"));
        }
        Ok(Self { place, name: name.to_owned() })
    }
}

impl From<Param> for String {
    fn from(param: Param) -> Self {
        param.to_string()
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.place.prefix(), self.name)
    }
}

/// A JSON pointer (RFC 6901) into a JSON document: `/data/0/id`; `""` is the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Pointer(String);

impl Pointer {
    /// The whole document.
    pub fn whole() -> Self {
        Self(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value it points at in `document`.
    pub fn find<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        document.pointer(&self.0)
    }
}

impl TryFrom<String> for Pointer {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.is_empty() || text.starts_with('/') {
            Ok(Self(text))
        } else {
            Err(format!(
                "`{text}` is not a JSON pointer; write `/{text}` (a pointer starts with `/`; \
                 `\"\"` is the whole body)"
            ))
        }
    }
}

impl From<Pointer> for String {
    fn from(pointer: Pointer) -> Self {
        pointer.0
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(the whole body)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Where a value is found in an answer or a webhook delivery: in the JSON body (`/type`), in
/// a header (`header:webhook-id`), or the whole body read as text (`text`, for APIs that
/// answer `invalid_payload` in plain text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum ValueAt {
    Body(Pointer),
    Header(String),
    Text,
}

impl TryFrom<String> for ValueAt {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text == "text" {
            return Ok(Self::Text);
        }
        if let Some(name) = text.strip_prefix("header:") {
            if name.is_empty() || !name.bytes().all(is_header_char) {
                return Err(format!("`{text}`: `{name}` is not a header name"));
            }
            return Ok(Self::Header(name.to_owned()));
        }
        Pointer::try_from(text.clone()).map(Self::Body).map_err(|_| {
            format!(
                "`{text}` is not a place in an answer; write a JSON pointer (`/{text}`), \
                 `header:NAME` or `text` (the whole body as text)"
            )
        })
    }
}

impl From<ValueAt> for String {
    fn from(at: ValueAt) -> Self {
        match at {
            ValueAt::Body(pointer) => pointer.0,
            ValueAt::Header(name) => format!("header:{name}"),
            ValueAt::Text => "text".into(),
        }
    }
}

/// A byte an HTTP header name may hold (RFC 9110 `token`).
pub fn is_header_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// An absolute `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let url = url::Url::parse(&text)
            .map_err(|err| format!("`{text}` is not a URL ({err}); write `https://host/path`"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("`{text}` is not an http(s) URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{text}` has a query or a fragment; a base URL is where paths start"
            ));
        }
        Ok(Self(url))
    }
}

impl From<HttpUrl> for String {
    fn from(url: HttpUrl) -> Self {
        url.0.into()
    }
}

/// An absolute URL, or a path under the connection's base URL (so that a connection whose
/// base URL points at a sandbox finds the sandbox's token endpoint too).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum UrlOrPath {
    Url(HttpUrl),
    Path(String),
}

impl TryFrom<String> for UrlOrPath {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.starts_with('/') {
            return Ok(Self::Path(text));
        }
        HttpUrl::try_from(text).map(Self::Url).map_err(|reason| {
            format!("{reason}; or write a path under the base URL, starting with `/`")
        })
    }
}

impl From<UrlOrPath> for String {
    fn from(at: UrlOrPath) -> Self {
        match at {
            UrlOrPath::Url(url) => url.into(),
            UrlOrPath::Path(path) => path,
        }
    }
}

/// Implements `Deserialize` from a string through `TryFrom<String>`, refusing inside the
/// parser's visit of the scalar so that the refusal carries the scalar's line and column
/// (serde's `try_from` attribute refuses after it, at the enclosing map's line).
macro_rules! deserialize_from_str {
    ($($type:ty: $expecting:literal),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StrVisitor;
                impl serde::de::Visitor<'_> for StrVisitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$type, E> {
                        <$type>::try_from(text.to_owned()).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(StrVisitor)
            }
        }
    )*};
}

deserialize_from_str! {
    Param: "a request parameter like `query:limit`",
    Pointer: "a JSON pointer like `/data`",
    ValueAt: "a place in an answer: a JSON pointer, `header:NAME` or `text`",
    HttpUrl: "an http(s) URL",
    UrlOrPath: "an http(s) URL or a path starting with `/`",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_say_where_they_go() {
        assert_eq!(Param::try_from("limit".to_owned()), Ok(Param::query("limit")));
        let body = Param::try_from("body:pageLimit".to_owned()).expect("body param");
        assert_eq!((body.place, body.name.as_str()), (Place::Body, "pageLimit"));
        let error = Param::try_from("form:x".to_owned()).expect_err("unknown place");
        assert!(error.contains("`form:` is not a part of a request"), "{error}");
        assert!(Param::try_from("query:".to_owned()).is_err());
    }

    #[test]
    fn places_in_an_answer() {
        let at = |text: &str| ValueAt::try_from(text.to_owned());
        assert_eq!(at("text"), Ok(ValueAt::Text));
        assert_eq!(at("header:webhook-id"), Ok(ValueAt::Header("webhook-id".into())));
        assert_eq!(at("/meta/next").map(String::from), Ok("/meta/next".to_owned()));
        let error = at("meta.next").expect_err("not a pointer");
        assert!(error.contains("`/meta.next`"), "{error}");
        assert!(at("header:bad name").is_err());
    }

    #[test]
    fn urls_are_absolute_http_or_paths() {
        assert!(HttpUrl::try_from("https://api.example.com/v1".to_owned()).is_ok());
        assert!(HttpUrl::try_from("api.example.com".to_owned()).is_err());
        assert!(HttpUrl::try_from("ftp://example.com".to_owned()).is_err());
        assert!(HttpUrl::try_from("https://example.com/?a=1".to_owned()).is_err());
        assert_eq!(
            UrlOrPath::try_from("/oauth/token".to_owned()),
            Ok(UrlOrPath::Path("/oauth/token".into()))
        );
        assert!(UrlOrPath::try_from("oauth/token".to_owned()).is_err());
    }
}
