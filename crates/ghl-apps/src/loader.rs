//! Loads a manifest from YAML text: bounded in size and nesting before the parser sees it,
//! parsed with unknown fields refused, then checked; any refusal names the line (and column
//! when known) and the reason.

use crate::checks::check;
use crate::error::{ManifestError, Problem};
use crate::locate::locate;
use crate::manifest::Manifest;

/// The largest manifest, in bytes (the largest shipped is a few kilobytes).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;
/// How deep flow-style collections (`[`, `{`) and `- - -` items may nest. Block nesting
/// costs indentation, so the size bound holds it; flow nesting costs one byte a level, and
/// libyaml's work grows with the square of the nesting.
pub const MAX_NESTING: usize = 32;

/// Parses and checks a manifest.
pub fn load(text: &str) -> Result<Manifest, ManifestError> {
    let refuse = |line, column, problem| ManifestError { line, column, problem };
    if text.len() > MAX_MANIFEST_BYTES {
        let problem = Problem::TooLarge { size: text.len(), max: MAX_MANIFEST_BYTES };
        return Err(refuse(1, None, problem));
    }
    if let Some(line) = too_deep(text) {
        return Err(refuse(line, None, Problem::TooDeep { max: MAX_NESTING }));
    }
    let manifest: Manifest = serde_norway::from_str(text).map_err(|err| {
        let location = err.location();
        let mut reason = err.to_string();
        if let Some(at) = &location {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            if let Some(stripped) = reason.strip_suffix(&suffix) {
                reason = stripped.to_owned();
            }
        }
        let (line, column) = location.map_or((1, None), |at| (at.line(), Some(at.column())));
        refuse(line, column, Problem::Shape(reason))
    })?;
    check(&manifest).map_err(|(path, problem)| {
        let (line, column) = locate(text, &path).map_or((1, None), |(l, c)| (l, Some(c)));
        refuse(line, column, problem)
    })?;
    Ok(manifest)
}

/// The first line where flow brackets (counted without regard to quotes, so a balanced pair
/// in a string costs nothing) plus `- ` items nest deeper than allowed.
fn too_deep(text: &str) -> Option<usize> {
    let mut brackets = 0usize;
    for (index, line) in text.lines().enumerate() {
        let content = line.trim_start();
        let mut items = 0;
        let mut rest = content;
        while let Some(after) =
            rest.strip_prefix("- ").or_else(|| rest.strip_prefix('-').filter(|r| r.is_empty()))
        {
            items += 1;
            rest = after.trim_start();
        }
        let mut deepest = brackets;
        if !rest.starts_with('#') {
            for c in rest.chars() {
                match c {
                    '[' | '{' => {
                        brackets += 1;
                        deepest = deepest.max(brackets);
                    }
                    ']' | '}' => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if items + deepest > MAX_NESTING {
            return Some(index + 1);
        }
    }
    None
}
