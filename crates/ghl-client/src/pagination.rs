//! Every list as a stream of pages, one page in memory at a time however many there are:
//! `GET /contacts/` by `startAfter` + `startAfterId`, `POST /contacts/search` by the
//! `searchAfter` cursor HighLevel puts inside the last record, contacts of a business by `skip`.

use futures_util::stream::{self, Stream, TryStreamExt};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::Client;

/// The operations `pages` knows how to walk.
pub const PAGED_OPERATIONS: &[&str] =
    &["get-contacts", "search-contacts-advanced", "get-contacts-by-businessId"];

/// Where the next page starts.
enum Cursor {
    First,
    /// `GET /contacts/`: the `meta` of the previous page.
    StartAfter {
        start_after: String,
        start_after_id: String,
    },
    /// Search: the last record's `searchAfter`.
    SearchAfter(Value),
    /// By business: records skipped so far.
    Skip(usize),
    Done,
}

impl Client {
    /// The records of a paged operation, page by page (each page a `Vec` of JSON records).
    /// `params` and `body` are those of the first page; paging parameters are added.
    pub fn pages(
        &self,
        operation_id: &str,
        params: Vec<(String, String)>,
        body: Option<Value>,
    ) -> impl Stream<Item = Result<Vec<Value>>> + Send + 'static {
        let client = self.clone();
        let operation = operation_id.to_owned();
        stream::try_unfold(Cursor::First, move |cursor| {
            let (client, operation, params, body) =
                (client.clone(), operation.clone(), params.clone(), body.clone());
            async move {
                if matches!(cursor, Cursor::Done) {
                    return Ok(None);
                }
                let (records, next) = client.page(&operation, params, body, cursor).await?;
                if records.is_empty() {
                    return Ok(None);
                }
                Ok(Some((records, next)))
            }
        })
    }

    /// The records of a paged operation, one at a time.
    pub fn records(
        &self,
        operation_id: &str,
        params: Vec<(String, String)>,
        body: Option<Value>,
    ) -> impl Stream<Item = Result<Value>> + Send + 'static {
        self.pages(operation_id, params, body)
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
    }

    async fn page(
        &self,
        operation: &str,
        mut params: Vec<(String, String)>,
        body: Option<Value>,
        cursor: Cursor,
    ) -> Result<(Vec<Value>, Cursor)> {
        match operation {
            "get-contacts" => {
                if let Cursor::StartAfter { start_after, start_after_id } = cursor {
                    params.retain(|(name, _)| name != "startAfter" && name != "startAfterId");
                    params.push(("startAfter".into(), start_after));
                    params.push(("startAfterId".into(), start_after_id));
                }
                let answer = self.call_owned(operation, &params, None).await?;
                let meta = &answer["meta"];
                let next = match (
                    meta.get("startAfter"),
                    meta.get("startAfterId").and_then(Value::as_str),
                ) {
                    (Some(after), Some(id)) if !after.is_null() => Cursor::StartAfter {
                        start_after: after
                            .as_str()
                            .map_or_else(|| after.to_string(), str::to_owned),
                        start_after_id: id.to_owned(),
                    },
                    _ => Cursor::Done,
                };
                Ok((records(&answer, "contacts"), next))
            }
            "search-contacts-advanced" => {
                let mut body = body.unwrap_or_else(|| json!({}));
                if let Cursor::SearchAfter(after) = cursor {
                    body["searchAfter"] = after;
                    if let Value::Object(fields) = &mut body {
                        fields.remove("page");
                    }
                }
                let page_limit =
                    body.get("pageLimit").and_then(Value::as_u64).unwrap_or(0) as usize;
                let answer = self.call_owned(operation, &params, Some(&body)).await?;
                let contacts = records(&answer, "contacts");
                let next = match contacts.last().and_then(|last| last.get("searchAfter")) {
                    Some(after) if contacts.len() >= page_limit.max(1) => {
                        Cursor::SearchAfter(after.clone())
                    }
                    _ => Cursor::Done,
                };
                Ok((contacts, next))
            }
            "get-contacts-by-businessId" => {
                let skipped = match cursor {
                    Cursor::Skip(skipped) => skipped,
                    _ => 0,
                };
                params.retain(|(name, _)| name != "skip");
                params.push(("skip".into(), skipped.to_string()));
                let limit = params
                    .iter()
                    .find(|(name, _)| name == "limit")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(20);
                let answer = self.call_owned(operation, &params, None).await?;
                let contacts = records(&answer, "contacts");
                let next = if contacts.len() < limit {
                    Cursor::Done
                } else {
                    Cursor::Skip(skipped + contacts.len())
                };
                Ok((contacts, next))
            }
            other => Err(Error::InvalidCall(format!(
                "{other} is not a paged operation ({})",
                PAGED_OPERATIONS.join(", ")
            ))),
        }
    }

    async fn call_owned(
        &self,
        operation: &str,
        params: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let borrowed: Vec<(&str, &str)> =
            params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        self.call(operation, &borrowed, body).await
    }
}

fn records(answer: &Value, field: &str) -> Vec<Value> {
    answer.get(field).and_then(Value::as_array).cloned().unwrap_or_default()
}
