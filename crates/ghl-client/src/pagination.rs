//! Every list as a stream of pages, one page in memory at a time however many there are,
//! walked the way the operation's `paging` says (`ghl_types::operations::NextPage`): by a
//! cursor the answer names (`GET /contacts/`: `meta.startAfter` + `startAfterId`), by the
//! position inside the last record (search: `searchAfter`), or by records skipped.

use futures_util::stream::{self, Stream, TryStreamExt};
use ghl_types::operations::{NextPage, Paging, Param, Place};
use ghl_types::{Operation, OPERATIONS};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::Client;

/// The operations `pages` can walk: those with `paging` in the table.
pub fn paged_operations() -> impl Iterator<Item = &'static Operation> {
    OPERATIONS.iter().filter(|operation| operation.paging.is_some())
}

/// Where the next page starts.
enum Cursor {
    First,
    /// The answer's cursor fields, as query parameters.
    Answer(Vec<(String, String)>),
    /// The last record's position.
    Record(Value),
    /// Records skipped so far.
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
        let Some((operation, paging)) =
            Operation::find(operation).and_then(|op| Some((op, op.paging?)))
        else {
            let paged: Vec<&str> = paged_operations().map(|operation| operation.id).collect();
            return Err(Error::InvalidCall(format!(
                "{operation} is not a paged operation ({})",
                paged.join(", ")
            )));
        };
        let Paging { records: field, limit, next, .. } = paging;
        match next {
            NextPage::AnswerCursor { object, fields } => {
                if let Cursor::Answer(start) = cursor {
                    params.retain(|(name, _)| !fields.contains(&name.as_str()));
                    params.extend(start);
                }
                let answer = self.call_owned(operation.id, &params, None).await?;
                let meta = &answer[object];
                let start: Option<Vec<(String, String)>> = fields
                    .iter()
                    .map(|name| {
                        let value = meta.get(*name).filter(|value| !value.is_null())?;
                        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                        Some(((*name).to_owned(), text))
                    })
                    .collect();
                let next = start.map_or(Cursor::Done, Cursor::Answer);
                Ok((records(&answer, field), next))
            }
            NextPage::RecordCursor { field: position, replaces } => {
                let mut body = body.unwrap_or_else(|| json!({}));
                if let Cursor::Record(after) = cursor {
                    body[position] = after;
                    if let Value::Object(fields) = &mut body {
                        fields.retain(|name, _| !replaces.contains(&name.as_str()));
                    }
                }
                let page_limit = limit_given(limit, &params, Some(&body)).unwrap_or(0);
                let answer = self.call_owned(operation.id, &params, Some(&body)).await?;
                let found = records(&answer, field);
                let next = match found.last().and_then(|last| last.get(position)) {
                    Some(after) if found.len() >= page_limit.max(1) => {
                        Cursor::Record(after.clone())
                    }
                    _ => Cursor::Done,
                };
                Ok((found, next))
            }
            NextPage::Offset { skip, default_limit } => {
                let skipped = match cursor {
                    Cursor::Skip(skipped) => skipped,
                    _ => 0,
                };
                params.retain(|(name, _)| name != skip.name);
                params.push((skip.name.into(), skipped.to_string()));
                let limit = limit_given(limit, &params, body.as_ref()).unwrap_or(default_limit);
                let answer = self.call_owned(operation.id, &params, body.as_ref()).await?;
                let found = records(&answer, field);
                let next = if found.len() < limit {
                    Cursor::Done
                } else {
                    Cursor::Skip(skipped + found.len())
                };
                Ok((found, next))
            }
        }
    }

    pub(crate) async fn call_owned(
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

/// The page size the caller gave, if any.
fn limit_given(limit: Param, params: &[(String, String)], body: Option<&Value>) -> Option<usize> {
    match limit.place {
        Place::Path | Place::Query => {
            params.iter().find(|(name, _)| name == limit.name).and_then(|(_, v)| v.parse().ok())
        }
        Place::Body => body?.get(limit.name)?.as_u64().map(|limit| limit as usize),
    }
}

fn records(answer: &Value, field: &str) -> Vec<Value> {
    answer.get(field).and_then(Value::as_array).cloned().unwrap_or_default()
}
