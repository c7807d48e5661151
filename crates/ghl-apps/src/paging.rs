//! How a list operation is walked page by page: the six styles seen across the apps we
//! connect (page/limit, offset/limit, an answer cursor, a next link, a record cursor such as
//! HighLevel's `searchAfter`, one parameter carrying the page and its size as BQE CORE's
//! `page=2,100`), each with exactly the fields it needs, so a style missing one is refused
//! when the manifest loads, not when a sync runs.

use serde::{Deserialize, Serialize};

use crate::place::{Param, Pointer, ValueAt};

/// `paging:` of a list operation. Where the records are is the operation's
/// `response.record`. A page shorter than the limit asked for is the last, unless the style
/// says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paging {
    /// Numbered pages: `page` counts from `first_page`.
    Page {
        page: Param,
        limit: Param,
        max_limit: u32,
        #[serde(default = "one")]
        first_page: u32,
        /// A value of the answer that says whether another page follows: a boolean
        /// (Qobrix's `/pagination/has_next_page`), or any other value that is `null` on the
        /// last page (Qonto's `/meta/next_page`), read by [`says_more`]; without it a short
        /// page is the last.
        #[serde(default)]
        has_more: Option<Pointer>,
    },
    /// The number of records skipped so far goes in `offset`.
    Offset { offset: Param, limit: Param, max_limit: u32 },
    /// The answer names where the next page starts; each part is sent back as a parameter.
    /// No part in the answer: the list is done.
    Cursor {
        next: Vec<CursorPart>,
        #[serde(default)]
        limit: Option<Param>,
        #[serde(default)]
        max_limit: Option<u32>,
    },
    /// The answer holds the next page's whole URL: in the body (`/links/next`) or in the
    /// `Link` header's `rel="next"` (`header:Link`).
    NextLink {
        next: ValueAt,
        #[serde(default)]
        limit: Option<Param>,
        #[serde(default)]
        max_limit: Option<u32>,
    },
    /// Each record carries its position in `field` (HighLevel's `searchAfter`); the last
    /// record's goes in `send`, in place of the `replaces` parameters (a page number).
    SearchAfter {
        field: String,
        send: Param,
        #[serde(default)]
        replaces: Vec<String>,
        limit: Param,
        max_limit: u32,
    },
    /// One parameter carries the page number and the page size, `<page>,<size>` (BQE
    /// CORE's `page=1,1000`); the page counts from `first_page`. A short page is the last,
    /// and so is an answer with no records (an empty body: BQE's 204).
    PageAndSize {
        param: Param,
        max_limit: u32,
        #[serde(default = "one")]
        first_page: u32,
    },
}

fn one() -> u32 {
    1
}

/// Whether the value at a page style's `has_more` says another page follows: a boolean
/// says it; `null`, an empty string and an absent value say no; any other value (the next
/// page's number, a link) says yes.
pub fn says_more(value: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(more)) => *more,
        Some(Value::String(text)) => !text.is_empty(),
        Some(_) => true,
    }
}

/// One value of an answer cursor and the parameter it is sent back in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorPart {
    pub from: ValueAt,
    pub to: Param,
}

impl Paging {
    /// The style as a manifest spells it.
    pub fn style(&self) -> &'static str {
        match self {
            Self::Page { .. } => "page",
            Self::Offset { .. } => "offset",
            Self::Cursor { .. } => "cursor",
            Self::NextLink { .. } => "next_link",
            Self::SearchAfter { .. } => "search_after",
            Self::PageAndSize { .. } => "page_and_size",
        }
    }

    /// Every request parameter the style sets, with the manifest key naming it.
    pub fn params(&self) -> Vec<(&'static str, &Param)> {
        let mut params = Vec::new();
        match self {
            Self::Page { page, limit, .. } => {
                params.push(("page", page));
                params.push(("limit", limit));
            }
            Self::Offset { offset, limit, .. } => {
                params.push(("offset", offset));
                params.push(("limit", limit));
            }
            Self::Cursor { next, limit, .. } => {
                params.extend(next.iter().map(|part| ("next", &part.to)));
                params.extend(limit.iter().map(|limit| ("limit", limit)));
            }
            Self::NextLink { limit, .. } => params.extend(limit.iter().map(|l| ("limit", l))),
            Self::SearchAfter { send, limit, .. } => {
                params.push(("send", send));
                params.push(("limit", limit));
            }
            Self::PageAndSize { param, .. } => params.push(("param", param)),
        }
        params
    }

    /// The largest page the app allows, if the style asks for a size.
    pub fn max_limit(&self) -> Option<u32> {
        match self {
            Self::Page { max_limit, .. }
            | Self::Offset { max_limit, .. }
            | Self::SearchAfter { max_limit, .. }
            | Self::PageAndSize { max_limit, .. } => Some(*max_limit),
            Self::Cursor { max_limit, .. } | Self::NextLink { max_limit, .. } => *max_limit,
        }
    }
}

/// The value of a `page_and_size` parameter: `<page>,<size>` (`2,100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAndSize {
    pub page: u64,
    pub size: u64,
}

impl PageAndSize {
    /// `2,100` (spaces around either number allowed); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (page, size) = text.split_once(',')?;
        Some(Self { page: page.trim().parse().ok()?, size: size.trim().parse().ok()? })
    }
}

impl std::fmt::Display for PageAndSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.page, self.size)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{says_more, PageAndSize};

    #[test]
    fn has_more_is_a_boolean_or_a_value_that_is_null_on_the_last_page() {
        assert!(says_more(Some(&json!(true))));
        assert!(!says_more(Some(&json!(false))));
        // Qonto's `meta.next_page`: the next page's number, or null on the last.
        assert!(says_more(Some(&json!(3))));
        assert!(!says_more(Some(&json!(null))));
        assert!(says_more(Some(&json!("https://api.example/items?page=2"))));
        assert!(!says_more(Some(&json!(""))));
        assert!(!says_more(None), "an answer without it has no next page");
    }

    #[test]
    fn a_page_and_its_size_read_and_written_as_one_value() {
        assert_eq!(PageAndSize::parse("2,100"), Some(PageAndSize { page: 2, size: 100 }));
        assert_eq!(PageAndSize::parse(" 0, 1000"), Some(PageAndSize { page: 0, size: 1000 }));
        for wrong in ["2", "2,", ",100", "a,100", "2,100,3", "-1,10"] {
            assert_eq!(PageAndSize::parse(wrong), None, "{wrong}");
        }
        assert_eq!(PageAndSize { page: 3, size: 50 }.to_string(), "3,50");
    }
}
