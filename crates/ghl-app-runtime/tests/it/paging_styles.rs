//! Every paging style of a manifest walked against a small server that holds seven records:
//! offsets, an answer cursor, a next link in the body and in the `Link` header, and a record
//! cursor (`search_after`) sent in a POST body in place of the page number, and the page and
//! its size in one parameter (`page=2,3`, bare lists, 204 past the end). The largest page
//! (3) is asked for, so each walk takes three requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::LINK;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use ghl_app_runtime::{Connection, Credentials, ManifestClient};
use serde_json::{json, Value};

use crate::support::{fast_retry, serve_api, unlimited};

const MANIFEST: &str = r#"
app: pager
title: Pager
base_url: https://pager.example/api
auth:
  kind: bearer
operations:
  - name: by-offset
    title: By offset
    method: GET
    path: /offset
    query: {offset: {type: integer}, limit: {type: integer}}
    response: {record: /items}
    paging: {style: offset, offset: query:offset, limit: query:limit, max_limit: 3}
  - name: by-cursor
    title: By cursor
    method: GET
    path: /cursor
    query: {cursor: {type: string}, limit: {type: integer}}
    response: {record: /items}
    paging:
      style: cursor
      next: [{from: /meta/next, to: query:cursor}]
      limit: query:limit
      max_limit: 3
  - name: by-body-link
    title: By a link in the body
    method: GET
    path: /link
    query: {page: {type: integer}, limit: {type: integer}}
    response: {record: /items}
    paging: {style: next_link, next: /links/next, limit: query:limit, max_limit: 3}
  - name: by-link-header
    title: By the Link header
    method: GET
    path: /header
    query: {page: {type: integer}}
    paging: {style: next_link, next: header:Link}
  - name: by-search-after
    title: By the last record's position
    method: POST
    path: /search
    body:
      fields:
        limit: {type: integer}
        page: {type: integer}
        searchAfter: {type: array}
    response: {record: /items}
    write: {kind: read}
    paging:
      style: search_after
      field: pos
      send: body:searchAfter
      replaces: [page]
      limit: body:limit
      max_limit: 3
  - name: by-page-and-size
    title: By the page and its size in one parameter
    method: GET
    path: /pair
    query: {page: {type: string}}
    response: {status: [200, 204]}
    paging: {style: page_and_size, param: query:page, max_limit: 3}
"#;

#[derive(Default)]
struct Server {
    requests: parking_lot::Mutex<HashMap<&'static str, u64>>,
    bearer_seen: AtomicU64,
}

fn items() -> Vec<Value> {
    (1..=7).map(|n| json!({"id": n, "pos": [n * 10, format!("r{n}")]})).collect()
}

fn window(skip: usize, limit: usize) -> Vec<Value> {
    items().into_iter().skip(skip).take(limit).collect()
}

fn number(query: &HashMap<String, String>, name: &str, default: usize) -> usize {
    query.get(name).and_then(|text| text.parse().ok()).unwrap_or(default)
}

impl Server {
    fn count(&self, path: &'static str, headers: &axum::http::HeaderMap) {
        *self.requests.lock().entry(path).or_default() += 1;
        if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer tok") {
            self.bearer_seen.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Server>>;

async fn offset(State(s): S, headers: axum::http::HeaderMap, Query(q): Q) -> Json<Value> {
    s.count("offset", &headers);
    Json(json!({"items": window(number(&q, "offset", 0), number(&q, "limit", 2))}))
}

async fn cursor(State(s): S, headers: axum::http::HeaderMap, Query(q): Q) -> Json<Value> {
    s.count("cursor", &headers);
    let start = number(&q, "cursor", 0);
    let limit = number(&q, "limit", 2);
    let next = (start + limit < 7).then(|| (start + limit).to_string());
    Json(json!({"items": window(start, limit), "meta": {"next": next}}))
}

async fn link(State(s): S, headers: axum::http::HeaderMap, Query(q): Q) -> Json<Value> {
    s.count("link", &headers);
    let (page, limit) = (number(&q, "page", 1), number(&q, "limit", 2));
    let next = (page * limit < 7).then(|| format!("/api/link?page={}&limit={limit}", page + 1));
    Json(json!({"items": window((page - 1) * limit, limit), "links": {"next": next}}))
}

async fn header(State(s): S, headers: axum::http::HeaderMap, Query(q): Q) -> Response {
    s.count("header", &headers);
    let page = number(&q, "page", 1);
    let mut answer = Json(json!(window((page - 1) * 3, 3))).into_response();
    if page * 3 < 7 {
        let value = format!(
            "</api/header?page=1>; rel=\"first\", </api/header?page={}>; rel=\"next\"",
            page + 1
        );
        answer.headers_mut().insert(LINK, value.parse().expect("a header value"));
    }
    answer
}

async fn search(
    State(s): S,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    s.count("search", &headers);
    let limit = body["limit"].as_u64().unwrap_or(2) as usize;
    let skip = match &body["searchAfter"] {
        Value::Array(position) => items()
            .iter()
            .position(|item| item["pos"] == Value::Array(position.clone()))
            .map_or(7, |at| at + 1),
        _ => (body["page"].as_u64().unwrap_or(1) as usize - 1) * limit,
    };
    assert!(
        body.get("page").is_none() || body.get("searchAfter").is_none(),
        "searchAfter replaces page: {body}"
    );
    Json(json!({"items": window(skip, limit)}))
}

/// `page=<n>,<size>`, pages from 1: a bare list, and 204 with no body past the end.
async fn pair(State(s): S, headers: axum::http::HeaderMap, Query(q): Q) -> Response {
    s.count("pair", &headers);
    let (page, size) = q
        .get("page")
        .and_then(|text| text.split_once(','))
        .and_then(|(page, size)| Some((page.parse::<usize>().ok()?, size.parse::<usize>().ok()?)))
        .expect("page=<n>,<size>");
    let records = window((page.max(1) - 1) * size, size);
    if records.is_empty() {
        return axum::http::StatusCode::NO_CONTENT.into_response();
    }
    Json(Value::Array(records)).into_response()
}

#[tokio::test]
async fn every_paging_style_walks_all_records_in_pages_of_the_largest_size() {
    let server = Arc::new(Server::default());
    let router = Router::new()
        .route("/api/offset", get(offset))
        .route("/api/cursor", get(cursor))
        .route("/api/link", get(link))
        .route("/api/header", get(header))
        .route("/api/search", post(search))
        .route("/api/pair", get(pair))
        .with_state(server.clone());
    let base = serve_api(router).await;

    let manifest = Arc::new(ghl_apps::load(MANIFEST).expect("the manifest loads"));
    let connection = Connection {
        base_url: Some(base),
        account: None,
        credentials: Credentials::values([("token", "tok")]),
    };
    let pager =
        ManifestClient::new(manifest, connection, unlimited(), fast_retry()).expect("a client");
    let all: Vec<Value> = (1..=7).map(Value::from).collect();
    for (operation, path, input) in [
        ("by-offset", "offset", json!({})),
        ("by-cursor", "cursor", json!({})),
        ("by-body-link", "link", json!({"page": 1})),
        ("by-link-header", "header", json!({})),
        ("by-search-after", "search", json!({"page": 1})),
        ("by-page-and-size", "pair", json!({})),
    ] {
        let records: Vec<Value> =
            pager.records(operation, input).try_collect().await.expect(operation);
        let ids: Vec<Value> = records.iter().map(|record| record["id"].clone()).collect();
        assert_eq!(ids, all, "{operation}");
        assert_eq!(
            server.requests.lock().get(path).copied(),
            Some(3),
            "{operation}: pages of 3, 3 and 1"
        );
    }
    assert_eq!(
        server.bearer_seen.load(Ordering::SeqCst),
        18,
        "every page carried the bearer token"
    );

    let two: Vec<Value> =
        pager.records("by-offset", json!({"limit": 2})).try_collect().await.expect("pages of 2");
    assert_eq!(two.len(), 7);
    assert_eq!(
        server.requests.lock().get("offset").copied(),
        Some(3 + 4),
        "the caller's limit is kept"
    );

    // A full last page is followed by one more request, answered 204: the walk ends there.
    let seven: Vec<Value> = pager
        .records("by-page-and-size", json!({"page": "1,7"}))
        .try_collect()
        .await
        .expect("one page of 7");
    assert_eq!(seven.len(), 7);
    assert_eq!(
        server.requests.lock().get("pair").copied(),
        Some(3 + 2),
        "the caller's size is kept, and the 204 after the full page ends the walk"
    );
}
