//! Reading a kind (an internally tagged enum: `kind: api_key`, `style: page`, `scheme: ...`)
//! so that a refusal inside it points at its own mapping. serde reads such an enum by
//! buffering the mapping and deserializing the buffer after the parser has moved on, so a
//! missing or unknown field would be reported at the enclosing mapping's line, under its
//! path. Here the mapping is read into a YAML value and the kind is made from that value
//! while the parser still stands on the mapping, so the refusal carries the mapping's line
//! and path (`operations[4].paging: missing field `max_limit``).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// For a field holding a kind.
pub fn kind<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(KindVisitor(PhantomData))
}

/// For an optional field holding a kind (use with `#[serde(default)]`).
pub fn optional_kind<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    kind(deserializer).map(Some)
}

struct KindVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for KindVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping that names its kind")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let value = serde_norway::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        T::deserialize(value).map_err(de::Error::custom)
    }
}
