//! A list operation's records as a stream, walked page by page in its manifest's style:
//! numbered pages (`has_more` when the answer says it, a boolean or a next page that is
//! null on the last; else a short page is the last),
//! offsets, answer cursors (no cursor in the answer: done), next links (in the body or the
//! `Link` header's `rel="next"`), record cursors (`search_after`) and one parameter
//! carrying the page and its size (`page_and_size`: `page=2,100`; a short or empty page,
//! such as a 204, is the last). Pages are as large as the app allows unless the caller set
//! the limit. A page that would be asked for again (the app answered the same cursor) ends
//! the walk.

use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use ghl_apps::paging::{says_more, PageAndSize, Paging};
use ghl_apps::place::{Param, ValueAt};
use serde_json::Value;

use crate::answer::Answer;
use crate::client::ManifestClient;
use crate::error::RuntimeError;
use crate::request::Request;

struct Walk {
    client: ManifestClient,
    next: Option<Request>,
}

impl ManifestClient {
    /// Every record of a list operation, page after page, as the app gives them.
    pub fn records(
        &self,
        operation: &str,
        input: Value,
    ) -> BoxStream<'static, Result<Value, RuntimeError>> {
        let first = self.first_page(operation, input);
        let client = self.clone();
        let pages = stream::once(async move { first })
            .map_ok(move |request| {
                stream::try_unfold(Walk { client: client.clone(), next: Some(request) }, page)
            })
            .try_flatten();
        pages.map_ok(|records| stream::iter(records.into_iter().map(Ok))).try_flatten().boxed()
    }

    /// The first page's request: the largest page unless the input sets the limit, from
    /// the first page or offset.
    fn first_page(&self, operation: &str, input: Value) -> Result<Request, RuntimeError> {
        let mut request = self.request(operation, input)?;
        let Some(paging) = &self.operation(operation)?.paging else { return Ok(request) };
        let mut set_default = |param: &Param, value: Value| {
            if request.get(&param.name).is_none() {
                request.set(param, &value);
            }
        };
        match paging {
            Paging::Page { page, limit, max_limit, first_page, .. } => {
                set_default(limit, Value::from(*max_limit));
                set_default(page, Value::from(*first_page));
            }
            Paging::Offset { offset, limit, max_limit } => {
                set_default(limit, Value::from(*max_limit));
                set_default(offset, Value::from(0));
            }
            Paging::SearchAfter { limit, max_limit, .. } => {
                set_default(limit, Value::from(*max_limit))
            }
            Paging::Cursor { limit: Some(limit), max_limit: Some(max), .. }
            | Paging::NextLink { limit: Some(limit), max_limit: Some(max), .. } => {
                set_default(limit, Value::from(*max));
            }
            Paging::Cursor { .. } | Paging::NextLink { .. } => {}
            Paging::PageAndSize { param, max_limit, first_page } => {
                let first = PageAndSize { page: u64::from(*first_page), size: (*max_limit).into() };
                set_default(param, Value::from(first.to_string()));
            }
        }
        Ok(request)
    }
}

/// One page: its records, and the request of the next one.
async fn page(mut walk: Walk) -> Result<Option<(Vec<Value>, Walk)>, RuntimeError> {
    let Some(request) = walk.next.take() else { return Ok(None) };
    let answer = walk.client.read(&request).await?;
    let records = match walk.client.record(&request.operation, &answer)? {
        Value::Array(records) => records,
        Value::Null => Vec::new(),
        record => vec![record],
    };
    let paging = walk.client.operation(&request.operation)?.paging.clone();
    walk.next = match paging {
        Some(paging) if !records.is_empty() => {
            next(&walk.client, &paging, request, &answer, &records)
        }
        _ => None,
    };
    Ok(Some((records, walk)))
}

fn number(request: &Request, param: &Param) -> Option<u64> {
    match request.get(&param.name)? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// Whether the page was as long as asked (the last page is shorter).
fn full(request: &Request, limit: Option<&Param>, records: &[Value]) -> bool {
    match limit.and_then(|limit| number(request, limit)) {
        Some(limit) => records.len() as u64 >= limit,
        None => true,
    }
}

/// The request of the page after `request`, if there is one.
fn next(
    client: &ManifestClient,
    paging: &Paging,
    request: Request,
    answer: &Answer,
    records: &[Value],
) -> Option<Request> {
    let mut next = request.clone();
    match paging {
        Paging::Page { page, limit, has_more, first_page, .. } => {
            let more = match has_more {
                Some(at) => says_more(answer.json.as_ref().and_then(|json| at.find(json))),
                None => full(&request, Some(limit), records),
            };
            if !more {
                return None;
            }
            let current = number(&request, page).unwrap_or(u64::from(*first_page));
            next.set(page, &Value::from(current + 1));
        }
        Paging::Offset { offset, limit, .. } => {
            if !full(&request, Some(limit), records) {
                return None;
            }
            let current = number(&request, offset).unwrap_or(0);
            next.set(offset, &Value::from(current + records.len() as u64));
        }
        Paging::Cursor { next: parts, .. } => {
            let mut any = false;
            for part in parts {
                match answer.at(&part.from) {
                    Some(Value::Null) | None => next.unset(&part.to.name),
                    Some(Value::String(text)) if text.is_empty() => next.unset(&part.to.name),
                    Some(value) => {
                        any = true;
                        next.set(&part.to, &value);
                    }
                }
            }
            if !any {
                return None;
            }
        }
        Paging::NextLink { next: at, .. } => {
            let link = match at {
                ValueAt::Header(name) => link_next(answer.header(name)?)?,
                ValueAt::Body(_) => match answer.at(at)? {
                    Value::String(link) if !link.is_empty() => link,
                    _ => return None,
                },
                ValueAt::Text => return None,
            };
            next.url = client.inner.base.join(&link).ok()?;
            next.query.clear();
        }
        Paging::SearchAfter { field, send, replaces, limit, .. } => {
            if !full(&request, Some(limit), records) {
                return None;
            }
            let position = records.last()?.get(field)?.clone();
            for name in replaces {
                next.unset(name);
            }
            next.set(send, &position);
        }
        Paging::PageAndSize { param, .. } => {
            let current = request.get(&param.name).and_then(Value::as_str)?;
            let current = PageAndSize::parse(current)?;
            if (records.len() as u64) < current.size {
                return None;
            }
            let following = PageAndSize { page: current.page + 1, ..current };
            next.set(param, &Value::from(following.to_string()));
        }
    }
    (next != request).then_some(next)
}

/// The `rel="next"` URL of a `Link` header (RFC 8288): `<https://...?page=2>; rel="next"`.
fn link_next(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.trim().split_once('=') else { return false };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::link_next;

    #[test]
    fn the_next_link_is_read_from_a_link_header() {
        let header = r#"<https://api.x.test/items?page=1>; rel="prev", <https://api.x.test/items?page=3>; rel="next""#;
        assert_eq!(link_next(header).as_deref(), Some("https://api.x.test/items?page=3"));
        assert_eq!(link_next(r#"<https://api.x.test/a>; rel="last""#), None);
        assert_eq!(link_next("<https://a.test/n>; rel=next").as_deref(), Some("https://a.test/n"));
    }
}
