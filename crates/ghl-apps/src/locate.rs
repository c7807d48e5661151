//! Finds the line and column of a part of a YAML document (`operations[2].path`), so that a
//! check made after parsing can point at the line at fault. It walks the document again
//! with serde_norway, following the path, and stops with an error at the node: the parser
//! marks that error with the node's position. Only used when a manifest is refused.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Self::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Self::Index(index)
    }
}

/// Builds a path: `path!["operations", 2, "path"]`.
macro_rules! at_path {
    ($($seg:expr),* $(,)?) => { vec![$($crate::locate::Seg::from($seg)),*] };
}
pub(crate) use at_path as path;

const FOUND: &str = "\u{0}found\u{0}";

/// The (line, column) of the node at `path` (of its key, when the path ends with a key), or
/// of the deepest part of the path the document has.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    for depth in (0..=path.len()).rev() {
        let seek = Seek { path: &path[..depth] };
        if let Err(err) = seek.deserialize(serde_norway::Deserializer::from_str(text)) {
            if err.to_string().contains(FOUND) {
                return err.location().map(|at| (at.line(), at.column()));
            }
        }
    }
    None
}

#[derive(Clone, Copy)]
struct Seek<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn found<E: de::Error>() -> Result<(), E> {
    Err(E::custom(FOUND))
}

macro_rules! found_at_scalar {
    ($($method:ident: $type:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $type) -> Result<(), E> {
            if self.path.is_empty() { found() } else { Ok(()) }
        })*
    };
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    found_at_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            found()
        } else {
            Ok(())
        }
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return found() };
        let mut index = 0;
        loop {
            let more = if *first == Seg::Index(index) {
                seq.next_element_seed(Seek { path: rest })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return found() };
        let Seg::Key(wanted) = first else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(matched) = map.next_key_seed(KeySeek { wanted, last: rest.is_empty() })? {
            if matched {
                map.next_value_seed(Seek { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads a key; stops there when it is the path's last step.
struct KeySeek<'w> {
    wanted: &'w str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeek<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeek<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        if key == self.wanted && self.last {
            return Err(E::custom(FOUND));
        }
        Ok(key == self.wanted)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, path: Vec<Seg>) -> Option<(usize, usize)> {
        locate(text, &path)
    }

    const DOC: &str = "app: x\noperations:\n  - name: a\n    path: /a\n  - name: b\n    paging:\n      style: page\n    path: /b/{id}\nlist: [1, 2, {k: v}]\n";

    #[test]
    fn finds_keys_items_and_values() {
        assert_eq!(find(DOC, path!["app"]), Some((1, 1)));
        assert_eq!(find(DOC, path!["operations", 1]), Some((5, 5)));
        assert_eq!(find(DOC, path!["operations", 1, "path"]), Some((8, 5)));
        assert_eq!(find(DOC, path!["operations", 1, "paging"]), Some((6, 5)));
        assert_eq!(find(DOC, path!["operations", 1, "paging", "style"]), Some((7, 7)));
        assert_eq!(find(DOC, path!["list", 2, "k"]), Some((9, 15)));
    }

    #[test]
    fn a_missing_part_points_at_the_deepest_part_there() {
        assert_eq!(find(DOC, path!["operations", 0, "paging"]), Some((3, 5)));
        assert_eq!(find(DOC, path!["nothing"]), Some((1, 1)));
    }
}
