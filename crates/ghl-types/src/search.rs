//! The body of `POST /contacts/search` (the spec leaves SearchBodyV2DTO empty; this is the
//! documented shape: filters, groups, sort, `page` or `searchAfter` paging).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most records one search page may hold.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// `page` x `pageLimit` may not reach past this; beyond it only `searchAfter` pages.
pub const MAX_PAGED_RECORDS: u64 = 10_000;
/// Longest `query` string accepted.
pub const MAX_QUERY_CHARS: usize = 75;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchBody {
    pub location_id: String,
    pub page_limit: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_after: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SearchFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SearchSort>,
}

/// One condition, or a group of conditions joined by AND or OR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SearchFilter {
    Group {
        group: GroupKind,
        filters: Vec<SearchFilter>,
    },
    Condition {
        field: String,
        operator: FilterOperator,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupKind {
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    Eq,
    NotEq,
    Contains,
    NotContains,
    Exists,
    NotExists,
    Range,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSort {
    pub field: String,
    pub direction: SortDirection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    Asc,
    Desc,
}
